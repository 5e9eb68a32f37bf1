"""A community's own rules file, merged over the default taxonomy and cues."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import RulesError, TextAnalyser
from nlp.rules import load, merge


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_an_override_the_default_taxonomy_is_used() -> None:
    rules = load(None)
    assert rules.categories["parking"].name == "停车交通"
    assert rules.categories["parking"].keywords["乱停车"] > 0
    assert rules.threshold == pytest.approx(0.35)


def test_keywords_can_be_added_to_a_category(tmp_path: Path) -> None:
    text = "共享电单车横七竖八"
    assert TextAnalyser().analyse(text).category != "sanitation"
    path = write(tmp_path, """
[categories.sanitation.keywords]
"横七竖八" = 5
""")
    router = TextAnalyser(path)
    assert router.analyse(text).category == "sanitation"
    assert router.analyse("垃圾没人收").category == "sanitation"  # the defaults are still there


def test_a_category_can_be_replaced(tmp_path: Path) -> None:
    path = write(tmp_path, """
[categories.parking]
replace = true
name = "车辆管理"

[categories.parking.keywords]
"车辆管理" = 4
""")
    router = TextAnalyser(path)
    assert router.category_name("parking") == "车辆管理"
    assert router.analyse("小区门口乱停车").category != "parking"  # the default keywords are gone
    assert router.analyse("车辆管理太乱").category == "parking"


def test_keywords_can_be_removed(tmp_path: Path) -> None:
    path = write(tmp_path, """
[categories.dispute]
remove_keywords = ["狗", "养狗", "遛狗", "狗叫", "大狗"]
""")
    router = TextAnalyser(path)
    assert TextAnalyser().analyse("那条狗天天叫").category == "dispute"
    assert router.analyse("那条狗天天叫").category == "other"


def test_a_category_can_be_added(tmp_path: Path) -> None:
    path = write(tmp_path, """
[categories.pets]
name = "宠物管理"

[categories.pets.keywords]
"狗" = 5
"遛狗" = 5
"犬只" = 5
""")
    router = TextAnalyser(path)
    assert "pets" in router.categories()
    assert router.categories()[-1] == "other"
    assert router.category_name("pets") == "宠物管理"
    assert router.analyse("小区里的犬只太多了").category == "pets"
    assert router.parse_command("分类 12 宠物管理").arg == "pets"  # staff can use the new name


def test_categories_can_be_dropped_but_other_stays(tmp_path: Path) -> None:
    path = write(tmp_path, 'drop_categories = ["children", "other"]\n')
    router = TextAnalyser(path)
    assert "children" not in router.categories()
    assert "other" in router.categories()
    assert router.analyse("四点半课堂还能报名吗").category != "children"


def test_the_threshold_and_cue_lists_can_be_changed(tmp_path: Path) -> None:
    path = write(tmp_path, """
[settings]
threshold = 0.9999

[urgency]
cues = ["鬼打墙"]
""")
    router = TextAnalyser(path)
    assert router.threshold == pytest.approx(0.9999)
    assert TextAnalyser().analyse("楼道灯坏了").category == "facilities"
    assert router.analyse("楼道灯坏了").category == "other"
    assert router.analyse("楼道里鬼打墙").urgent
    assert router.analyse("楼下着火了").urgent  # lists are extended, not replaced


def test_a_threshold_given_in_code_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[settings]\nthreshold = 0.9\n")
    assert TextAnalyser(path, threshold=0.2).threshold == pytest.approx(0.2)


def test_typos_can_be_added(tmp_path: Path) -> None:
    path = write(tmp_path, '[typos]\n"陆灯" = "路灯"\n')
    a = TextAnalyser(path).analyse("陆灯坏了")
    assert a.category == "facilities"
    assert "陆灯→路灯" in a.matched


def test_load_swaps_the_rules_of_a_running_router(tmp_path: Path) -> None:
    router = TextAnalyser()
    assert router.analyse("横七竖八").category == "other"
    router.load(write(tmp_path, '[categories.sanitation.keywords]\n"横七竖八" = 5\n'))
    assert router.analyse("横七竖八").category == "sanitation"
    router.load(None)
    assert router.analyse("横七竖八").category == "other"


@pytest.mark.parametrize(("text", "message"), [
    ("this is = not [toml", "not valid TOML"),
    ('[categories.parking.keywords]\n"停车" = "high"\n', "must be a number"),
    ('[typos]\n"路登" = "路灯灯"\n', "same length"),
    ('[kind.cues.anger]\n"气死" = 2\n', "unknown kind"),
])
def test_a_bad_rules_file_is_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        TextAnalyser(write(tmp_path, text))


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        TextAnalyser(tmp_path / "missing.toml")


def test_merge_rules() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": {"k": 1}}
    assert merge(base, {"a": {"x": 2, "y": [3]}}) == {"a": {"x": 2, "y": [1, 2, 3]}, "b": {"k": 1}}
    assert merge(base, {"a": {"replace": True, "z": 1}}) == {"a": {"z": 1}, "b": {"k": 1}}
    assert merge(base, {"a": {"remove_y": [1]}}) == {"a": {"x": 1, "y": [2]}, "b": {"k": 1}}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": {"k": 1}}  # unchanged
