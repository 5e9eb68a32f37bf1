"""Messages that are not requests, and the commands of volunteers and staff."""

from __future__ import annotations

import pytest

from nlp import Command, TextAnalyser


@pytest.fixture(scope="module")
def router() -> TextAnalyser:
    return TextAnalyser()


@pytest.mark.parametrize(("text", "intent"), [
    ("你好", "greeting"),
    ("您好 请问有人在吗", "greeting"),
    ("在吗在吗", "greeting"),
    ("ｈｉ", "greeting"),
    ("书记好", "greeting"),
    ("谢谢你们", "thanks"),
    ("好的，辛苦了", "thanks"),
    ("修好了 谢谢哈", "thanks"),
    ("感谢社区", "thanks"),
    ("👍", "thanks"),
    ("帮助", "usage_help"),
    ("怎么用这个公众号", "usage_help"),
    ("怎么绑定地址", "usage_help"),
    ("怎么撤销工单", "usage_help"),
    ("能发语音吗", "usage_help"),
    ("查询", "status_query"),
    ("我的工单", "status_query"),
    ("进度", "status_query"),
    ("我报的事怎么样了", "status_query"),
    ("上次报的三幢楼道灯 有结果了吗", "status_query"),
    ("催一下", "urge"),
    ("上次报的路灯怎么还没修", "urge"),
    ("怎么还没人来 都三天了", "urge"),
    ("满意", "rate"),
    ("不满意 问题根本没解决", "rate"),
    ("撤回刚才报的", "cancel"),
    ("不用了 撤销吧", "cancel"),
])
def test_intents_are_recognised_before_any_ticket(router: TextAnalyser, text: str, intent: str) -> None:
    a = router.analyse(text)
    assert a.intent == intent, a
    assert (a.category, a.kind, a.urgent) == ("", "", False)


def test_plain_thanks_is_thanks_but_praise_for_a_deed_is_a_request(router: TextAnalyser) -> None:
    assert router.analyse("谢谢王书记").intent == "thanks"  # a thank-you, no deed to file
    a = router.analyse("谢谢王书记帮我家修好了水管")
    assert (a.intent, a.kind) == ("request", "praise")


def test_a_greeting_before_a_problem_is_the_problem(router: TextAnalyser) -> None:
    a = router.analyse("你好，楼道灯坏了")
    assert (a.intent, a.category) == ("request", "facilities")


@pytest.mark.parametrize(("text", "ticket"), [
    ("催办 123", 123),
    ("催办123", 123),
    ("催办#123", 123),
    ("催办 ＃１２３", 123),
    ("催一下123号", 123),
    ("工单123处理得怎么样了", 123),
    ("123号工单到哪一步了", 123),
    ("查询 #88", 88),
    ("进度 45", 45),
    ("看一下77的进度", 77),
    ("工单３１２谁在处理", 312),
    ("撤销 ＃１０２", 102),
    ("123不用来了 我自己修好了", 123),
    ("工单99 撤销", 99),
])
def test_ticket_numbers_in_every_form(router: TextAnalyser, text: str, ticket: int) -> None:
    a = router.analyse(text)
    assert a.ticket == ticket, a
    assert a.place.text == ""  # the number is the ticket's, not a room


@pytest.mark.parametrize(("text", "ticket", "rating"), [
    ("五星", None, 5),
    ("5星", None, 5),
    ("打个四分", None, 4),
    ("4分", None, 4),
    ("满意", None, 5),
    ("非常满意", None, 5),
    ("基本满意", None, 4),
    ("一般", None, 3),
    ("不满意", None, 1),
    ("两星", None, 2),
    ("评价 123 5", 123, 5),
    ("评价123 5", 123, 5),
    ("评价＃８８ ３", 88, 3),
    ("评价 #67 五星", 67, 5),
    ("123 满意", 123, 5),
])
def test_ratings(router: TextAnalyser, text: str, ticket: int | None, rating: int) -> None:
    a = router.analyse(text)
    assert (a.intent, a.ticket, a.rating) == ("rate", ticket, rating)


def test_a_complaint_that_mentions_satisfaction_is_still_a_request(router: TextAnalyser) -> None:
    a = router.analyse("对物业的服务很不满意，垃圾三天没人收")
    assert a.intent == "request"


@pytest.mark.parametrize(("text", "location", "building", "unit", "room"), [
    ("绑定 3栋2单元501", "3栋2单元501", 3, 2, "501"),
    ("绑定三栋二单元501室", "三栋二单元501室", 3, 2, "501"),
    ("绑定 3-2-501", "3-2-501", 3, 2, "501"),
    ("我住7栋1单元602 帮我绑定一下", "7栋1单元602", 7, 1, "602"),
    ("绑定：１２栋３单元４０１", "１２栋３单元４０１", 12, 3, "401"),
])
def test_binding_an_address(router: TextAnalyser, text: str, location: str, building: int, unit: int,
                           room: str) -> None:
    a = router.analyse(text)
    assert a.intent == "bind_address"
    assert (a.place.text, a.place.building, a.place.unit, a.place.room) == (location, building, unit, room)
    assert a.invite_code is None


@pytest.mark.parametrize("text", ["绑定 邀请码 482913", "绑定邀请码482913", "绑定 邀请码：482913"])
def test_binding_an_invite_code(router: TextAnalyser, text: str) -> None:
    a = router.analyse(text)
    assert (a.intent, a.invite_code) == ("bind_address", "482913")


# --------------------------------------------------------------- commands
@pytest.mark.parametrize(("text", "command"), [
    ("接单", Command("accept")),
    ("接单 123", Command("accept", 123)),
    ("接单123", Command("accept", 123)),
    ("接单 #123", Command("accept", 123)),
    ("接单 ＃１２３", Command("accept", 123)),
    ("接单 123号", Command("accept", 123)),
    ("接单 工单123", Command("accept", 123)),
    ("进展 123 已联系物业", Command("progress", 123, "已联系物业")),
    ("进展123已联系物业", Command("progress", 123, "已联系物业")),
    ("办结 123 已修好", Command("resolve", 123, "已修好")),
    ("办结 已修好", Command("resolve", None, "已修好")),
    ("办结 3栋路灯已修好", Command("resolve", None, "3栋路灯已修好")),
    ("退单 123 不在我片区", Command("hand_back", 123, "不在我片区")),
    ("待办", Command("todo")),
    ("请假", Command("leave")),
    ("请假 明天下午", Command("leave", None, "明天下午")),
    ("销假", Command("back")),
    ("关闭 123 重复工单", Command("close", 123, "重复工单")),
    ("改派 123 王建国", Command("reassign", 123, "王建国")),
    ("改派123王建国", Command("reassign", 123, "王建国")),
    ("分类 123 parking", Command("recategorise", 123, "parking")),
    ("分类 123 停车", Command("recategorise", 123, "parking")),
    ("分类 123 停车交通", Command("recategorise", 123, "parking")),
    ("分类123环境卫生", Command("recategorise", 123, "sanitation")),
    ("待分派", Command("triage_queue")),
    ("统计", Command("stats")),
    ("请假三天", Command("leave", None, "三天")),
    ("分类 123 xyz", Command("recategorise", 123, "")),  # unknown category: the handler asks again
])
def test_commands_with_or_without_spaces(router: TextAnalyser, text: str, command: Command) -> None:
    assert router.parse_command(text) == command


@pytest.mark.parametrize("text", [
    "楼道灯坏了",
    "统计一下我们小区有多少老人",
    "分类垃圾没人收",
    "进展如何",
    "请问待办的事情什么时候处理吗",
    "接单员态度很好",
    "关闭了吗",
    "统计局的电话多少",
    "",
])
def test_ordinary_messages_are_not_commands(router: TextAnalyser, text: str) -> None:
    assert router.parse_command(text) is None


def test_resident_commands_are_intents(router: TextAnalyser) -> None:
    assert router.analyse("查询").intent == "status_query"
    assert router.analyse("我的工单").intent == "status_query"
    assert (router.analyse("催办 123").intent, router.analyse("催办 123").ticket) == ("urge", 123)
    assert (router.analyse("评价 123 5").rating, router.analyse("评价 123 5").ticket) == (5, 123)
    assert (router.analyse("撤销 123").intent, router.analyse("撤销 123").ticket) == ("cancel", 123)
    assert router.analyse("帮助").intent == "usage_help"
