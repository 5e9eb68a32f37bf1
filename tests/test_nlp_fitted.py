"""The fitted weights: served without scikit-learn, fitted on the development
writers only, taught by staff's corrections; and places as people name them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nlp import TextAnalyser, features, training
from nlp.model import DEFAULT_WEIGHTS, Model


@pytest.fixture(scope="module")
def analyser() -> TextAnalyser:
    return TextAnalyser()


def test_serving_never_imports_scikit_learn() -> None:
    for module in ("analyser", "model", "features", "places", "intents"):
        tree = ast.parse((Path(training.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(name.startswith("sklearn") for name in imported), module


def test_the_shipped_weights_were_fitted_without_the_held_out_writer() -> None:
    model = Model.load(DEFAULT_WEIGHTS)
    assert model is not None
    assert set(model.meta["held_out"]) == set(training.HELD_OUT)
    assert not set(model.meta["writers"]) & set(training.HELD_OUT)
    assert {row["writer"] for row in training.load_corpus()}.isdisjoint(training.HELD_OUT)
    assert {row["writer"] for row in training.load_corpus(held_out=True)} == set(training.HELD_OUT)


def test_every_head_answers_a_probability_for_every_class(analyser: TextAnalyser) -> None:
    assert analyser.model is not None
    predicted = analyser.model.predict(analyser.features("3栋楼道的灯坏了一个礼拜了"))
    for name, head in analyser.model.heads.items():
        assert set(predicted[name]) == set(head.classes)
        assert sum(predicted[name].values()) == pytest.approx(1.0)


def test_matched_names_the_words_that_decided(analyser: TextAnalyser) -> None:
    a = analyser.analyse("小区门口天天有人乱停车，消防车都进不来")
    assert a.category == "parking"
    assert "乱停车" in a.matched
    assert all(not word.startswith(("r:", "t:", "b:", "c:")) for word in a.matched)


def test_a_long_message_marks_its_title_and_its_ask() -> None:
    text = ("关于小区路灯长期不亮的问题。" + "我们小区住了很多老人，" * 5
            + "另外楼下的垃圾也有点多。希望尽快维修路灯。")
    f = features.extract(text, list(text), {}, [], None, False, False, 0)
    assert "m:路" in f and "m:希" in f  # the title and the 希望 clause
    assert "m:垃" not in f  # a passing mention is not the ask


@pytest.mark.parametrize(("text", "span"), [
    ("粮站宿舍的水管爆了", "粮站宿舍"),
    ("西街62号门口的垃圾三天没人收了", "西街62号门口"),
    ("实验小学旁边的井盖没了", "实验小学旁边"),
    ("菜市场门口有人摆摊把路堵了", "菜市场门口"),
    ("后面那条小巷子的路灯坏了", "后面那条小巷子"),
    ("朋口镇朋来社区有人乱倒垃圾", "朋口镇朋来社区"),
    ("文川花园东门的道闸坏了", "文川花园东门"),
    ("新泉镇那边的自来水又黄又浑", "新泉镇那边"),
    ("施工的渣土车把东街社区门口那段路压坏了", "东街社区门口"),
    ("表扬一下我们西街的环卫工钟阿姨", "西街"),
    ("对门天天往我家门口扫垃圾", "我家门口"),
    ("楼下那家在公共的走廊上砌了个墙", "走廊"),
    ("保安半夜放抖音，我家就在岗亭边上，睡不着", "岗亭边上"),
    ("楼到里面有人贴小广告", "楼到里"),
    ("我们华庭苑门口有垃圾", "华庭苑门口"),
    ("锦绣华庭小区的路灯坏了", "锦绣华庭小区"),
    ("时代广场门口有人摆摊", "时代广场门口"),
    ("种子公司宿舍停水了", "种子公司宿舍"),
    ("回龙村的路坏了", "回龙村"),
    ("每天路过菜市场门口都是垃圾", "菜市场门口"),
])
def test_places_are_found_as_people_name_them(analyser: TextAnalyser, text: str, span: str) -> None:
    assert analyser.parse_place(text).text == span


def test_a_generic_word_is_not_a_place(analyser: TextAnalyser) -> None:
    assert analyser.parse_place("建议社区多组织点活动").text == ""
    assert analyser.parse_place("我们小区的路灯坏了").text == ""
    assert analyser.parse_place("路灯不亮，晚上走路看不见").text == ""
    assert analyser.parse_place("门口那堆垃圾你们来收一下").text == ""  # whose door? not a place
    assert analyser.parse_place("想问社区能不能上门").text == ""
    assert analyser.parse_place("想表扬一下社区的电工吴师傅").text == ""
    assert analyser.parse_place("那个我孙子要上小学了，学校说要户口本").text == ""
    assert analyser.parse_place("今年重阳节社区有没有什么活动").text == ""
    assert analyser.parse_place("前天救护车进小区接人").text == ""


@pytest.mark.parametrize("text", ["没有闻到煤气味了，应该是搞错了", "上个月着过火，现在没事了", "怕以后电线老化着火"])
def test_denied_past_and_hedged_danger_is_not_urgent(analyser: TextAnalyser, text: str) -> None:
    assert not analyser.analyse(text).urgent


@pytest.mark.parametrize("text", ["厨房好大的煤气味，我不敢开灯", "楼下电动车着火了，烟往楼上冒",
                                  "我妈摔倒在卫生间起不来了"])
def test_danger_now_is_urgent(analyser: TextAnalyser, text: str) -> None:
    assert analyser.analyse(text).urgent


def _fold(*rows: tuple[float, bool, bool]) -> training.Fold:
    """A left-out writer's requests as (urgent probability, rules' live cue, really urgent)."""
    examples = [training.Example(f"m{i}", "w", "request", "safety", urgent=urgent,
                                 features={"ru:live": 2.0} if live else {}) for i, (_, live, urgent) in enumerate(rows)]
    return training.Fold("w", examples, [{"urgent": {"1": p, "0": 1 - p}} for p, _, _ in rows])


def test_the_rules_danger_cue_counts_down_to_the_lowest_probability_it_was_needed_at() -> None:
    urgent = [(0.9, False, True)] * 19 + [(0.45, True, True)]
    # out of fold the cue caught an urgent request the detector put at 0.2: it counts from 0.2 up
    needed = training.tune_thresholds([_fold(*urgent, (0.2, True, True), (0.1, True, False))])
    assert needed["urgent_cue"] == 0.2
    # never needed: a cue word counts only where the detector itself would say urgent
    never = training.tune_thresholds([_fold(*[(0.9, False, True)] * 20, (0.1, True, False), (0.3, True, False))])
    assert never == {"urgent": 0.5, "urgent_cue": 0.5}


def test_a_danger_word_told_in_a_pension_question_is_not_urgent(analyser: TextAnalyser) -> None:
    text = ("关于职工养老保险转移的咨询：我父亲突发昏迷住院，出院后单位说他的养老保险要转回老家，"
            "请问转移手续怎么办理，需要哪些材料")
    assert analyser._read(text).urgent  # the rules alone read 昏迷 as danger now
    assert not analyser.analyse(text).urgent


def test_a_request_to_the_province_is_not_read_as_suicide(analyser: TextAnalyser) -> None:
    # 请省 sounds like 轻生; 请 is never part of a misspelt keyword
    rules_only = TextAnalyser()
    rules_only.use_model(None)
    analysis = rules_only.analyse("请省领导管一管")
    assert not any("轻生" in word for word in analysis.matched)
    assert not analysis.urgent


FAMILY = ["小区的充电桩坏了，电动车充不进电", "充电桩扫码没反应，是不是断电了", "北门那排充电桩全部不通电",
          "充电桩插上去灯不亮", "楼下充电桩跳闸了，充不了", "充电桩一直显示故障", "电动车充电桩不能用了",
          "充电桩的插座烧坏了一个", "那几个充电桩都没电", "充电桩投币了也不通电"]


def test_twenty_staff_corrections_teach_the_router_a_family_of_messages() -> None:
    """The community files broken e-bike charging posts under 水电燃气 (utilities); the corpus
    writers never did. Twenty 分类 corrections and one retrain later, new messages follow."""
    pytest.importorskip("sklearn")
    analyser = TextAnalyser(weights=None)
    unseen = ["3栋旁边的充电桩又不能用了", "充电桩坏了好几天了没人管"]
    before = TextAnalyser()
    assert [before.analyse(t).category for t in unseen] != ["utilities", "utilities"]
    corrections = [{"text": t + suffix, "intent": "request", "category": "utilities", "writer": "staff_corrections"}
                   for t in FAMILY for suffix in ("", "，麻烦看一下")]
    assert len(corrections) == 20
    model = training.train(analyser, training.load_corpus(), corrections, thresholds={"urgent": 0.4})
    analyser.use_model(model)
    assert [analyser.analyse(t).category for t in unseen] == ["utilities", "utilities"]
    assert analyser.analyse("楼道灯坏了").category == "facilities"  # the rest is untouched


def test_a_place_found_in_the_title_overlaps_the_same_place_labelled_in_the_body() -> None:
    from nlp.evaluation import spans_overlap

    text = "北大路灯坏了。北大路从农业银行往北那段全不亮"
    assert spans_overlap(text, "路从农业银行", "北大路")  # the second 北大路, not the first
    assert not spans_overlap("东街社区门口有垃圾，我家门口也有", "我家门口", "东街社区")
    assert spans_overlap(text, "", "")
    assert not spans_overlap(text, "农业银行", "")
    assert not spans_overlap("西街62号门口有垃圾，东街也有", "西街62号门口", "东街")
