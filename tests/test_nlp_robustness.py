"""Any string at all gives an Analysis, never an exception; parse_command never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp import Analysis, Command, Place, TextAnalyser, parse_place

# every code point, lone surrogates and control characters included
anything = st.text(alphabet=st.characters(exclude_categories=()), max_size=300)

# pieces of real messages shuffled together with noise, to reach the deeper paths
pieces = st.sampled_from([
    "不是", "停车", "的事", "是", "垃圾", "没人收", "催办", "123", "#", "＃１２", "评价", "五星", "满意", "不", "绑定",
    "邀请码", "3栋", "2单元", "501", "六零三", "幸福小区", "和平街", "着火", "上周", "过", "万一", "煤汽味", "路登",
    "，", "。", "！", "？", " ", "\n", "\x00", "\ud800", "🙏", "接单", "办结", "分类", "改派", "王建国", "待办",
    "楼上", "漏水", "独居老人", "摔倒", "撤销", "工单", "号", "-", "单元", "室", "谢谢", "你好", "帮助",
])
messages = st.lists(st.one_of(pieces, anything), max_size=30).map("".join)


@pytest.fixture(scope="module")
def router() -> TextAnalyser:
    return TextAnalyser()


def check(a: Analysis, text: str) -> None:
    assert isinstance(a, Analysis)
    assert a.text == text
    assert a.intent in ("request", "greeting", "thanks", "usage_help", "bind_address", "status_query", "rate",
                        "urge", "cancel")
    assert 0.0 <= a.confidence <= 1.0
    assert isinstance(a.place, Place)
    assert a.place.text in text
    if a.intent == "request":
        assert a.category and a.kind
    else:
        assert (a.category, a.kind, a.urgent) == ("", "", False)
    assert a.rating is None or 1 <= a.rating <= 5
    assert all(isinstance(w, str) for w in a.matched)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=anything)
def test_any_string_gives_an_analysis(router: TextAnalyser, text: str) -> None:
    check(router.analyse(text), text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=messages)
def test_messy_messages_give_an_analysis(router: TextAnalyser, text: str) -> None:
    check(router.analyse(text), text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(anything, messages))
def test_parse_command_never_raises(router: TextAnalyser, text: str) -> None:
    command = router.parse_command(text)
    assert command is None or isinstance(command, Command)


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(anything, messages))
def test_parse_place_never_raises(text: str) -> None:
    assert isinstance(parse_place(text), Place)


@pytest.mark.parametrize("text", [
    "",
    " ",
    "\x00\x01\x02",
    "\ud800\udfff",
    "楼道\ud83d灯坏了",
    "\u200b\ufeff",
    "？？？",
    "🤮🤮🤮",
    "a" * 100_000,
    "楼道灯坏了，" * 20_000,
    "1" * 5000,
    "栋" * 3000 + "单元" * 3000,
])
def test_odd_and_huge_strings(router: TextAnalyser, text: str) -> None:
    check(router.analyse(text), text)
    assert router.parse_command(text) is None or isinstance(router.parse_command(text), Command)


def test_not_even_a_string(router: TextAnalyser) -> None:
    assert router.analyse(None).intent  # type: ignore[arg-type]
    assert router.analyse(b"\xe8\xb7\xaf\xe7\x81\xaf\xe5\x9d\x8f\xe4\xba\x86").category == "facilities"  # type: ignore[arg-type]
    assert router.parse_command(None) is None  # type: ignore[arg-type]


async def test_analyse_async_never_raises(router: TextAnalyser) -> None:
    for text in ("", "\ud800" * 300, "催办" * 200):
        assert isinstance(await router.analyse_async(text), Analysis)


def test_a_long_running_router_remembers_a_bounded_number_of_tokens_and_reads_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nlp import matcher

    texts = ["3栋楼道灯坏了好几天", "楼上天天漏水到我家", "小区门口垃圾没人收", "我妈一个人在家发烧了没人管",
             "地下车库有人乱停车堵住消防通道", "幸福小区5栋电梯又停了", "隔壁装修太吵了晚上十点还在敲"]
    expected = [TextAnalyser().analyse(t) for t in texts]
    monkeypatch.setattr(matcher, "TOKEN_MEMO_MAX", 10)
    router = TextAnalyser()
    for _ in range(3):
        assert [router.analyse(t) for t in texts] == expected
        assert len(router._c.matcher._token_info) <= 11
