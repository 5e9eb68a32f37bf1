"""Issue 9: every slip gets a helpful answer, never a wrong action. Each
finding, through the webhook, with the message as people sent it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.models import Building, Household, Person, Ticket
from bot.texts import texts
from tests.conftest import WeChat, make_config
from tests.roster import make_roster
from tests.test_ticket_flows import RESIDENT, bound_resident, outbox, ticket, ticket_no, timeline


async def tickets(db: Database) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)


async def report(wechat: WeChat, text: str = "3栋楼道灯坏了好几天了") -> int:
    await bound_resident(wechat)
    return ticket_no(await wechat.send(RESIDENT, text))


# ------------------------------------------------------------ near misses

@pytest.mark.parametrize(("who", "slip", "meant"), [
    ("o_member_wang", "接但 {no}", "接单 {no}"),
    ("o_member_wang", "详情 {no}", "查询 {no}"),
    ("o_member_wang", "I accept ticket {no}", "接单 {no}"),
    ("o_staff_liu", "改排 {no} 赵玉兰", "改派 {no} 赵玉兰"),
    ("o_staff_liu", "统记", "统计"),
])
async def test_a_near_miss_command_is_asked_about_and_never_becomes_a_ticket(
        wechat: WeChat, db: Database, who: str, slip: str, meant: str) -> None:
    await make_roster(db)
    no = await report(wechat)
    before = len(await outbox(db))
    reply = await wechat.send(who, slip.format(no=no))
    assert reply == f"您是想发“{meant.format(no=no)}”吗？回复“是”确认，“不是”取消。"
    assert await tickets(db) == 1
    assert len(await outbox(db)) == before  # no triage notices, nothing else happened


async def test_yes_runs_the_command_meant(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = await report(wechat)
    await wechat.send("o_member_wang", f"接但 {no}")
    reply = await wechat.send("o_member_wang", "是")
    assert f"已接单#{no}" in reply
    t = await ticket(db, no)
    assert (t.state, t.assignee_id) == ("accepted", roster.member.id)


async def test_a_volunteers_real_request_still_opens_a_ticket(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    reply = await wechat.send("o_member_wang", "5栋门口的路灯坏了好几天了")
    assert "工单#" in reply and await tickets(db) == 1


# ------------------------------------------------------------ the place named

async def test_the_place_named_wins_over_the_home_address(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    async with db.transaction() as s:
        b3 = await s.scalar(select(Building).where(Building.label == "3栋", Building.head_id == roster.head.id))
        assert b3 is not None
        s.add(Household(building_id=b3.id, unit=1, room="502", head_name="吴阿姨", member_id=roster.member2.id))
    await wechat.send(RESIDENT, "绑定 3栋1单元502")
    t = await ticket(db, ticket_no(await wechat.send(RESIDENT, "3栋2单元门口的下水道堵了")))
    assert "3栋2单元" in t.location and "502" not in t.location
    assert t.building_id == b3.id


async def test_another_buildings_problem_goes_to_that_buildings_chain(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = await report(wechat, "5栋门口的路灯坏了好几天了")
    t = await ticket(db, no)
    async with db.reading() as s:
        b5 = await s.scalar(select(Building.id).where(Building.label == "5栋"))
    assert (t.building_id, t.household_id) == (b5, None)
    assert t.assignee_id == roster.secretary.id  # 5栋 has no head: the branch secretary, not 3栋's member


# ------------------------------------------------------------ urging

async def test_urging_four_times_in_seconds_counts_once_and_tells_the_handler(
        wechat: WeChat, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
    roster = await make_roster(db)
    no = await report(wechat)
    replies = [await wechat.send(RESIDENT, f"催办 {no}") for _ in range(4)]
    assert "已催办" in replies[0] and all("刚催过" in r for r in replies[1:])
    t = await ticket(db, no)
    assert (t.assignee_id, t.level, t.urge_count, t.escalations) == (roster.member.id, "member", 1, 0)
    assert len(await outbox(db, person_id=roster.member.id, kind="reminder")) == 1
    clock.advance(minutes=31)  # past the cooldown, not past the member's own reminder period
    assert "已催办" in await wechat.send(RESIDENT, f"催办 {no}")
    t = await ticket(db, no)
    assert (t.assignee_id, t.urge_count) == (roster.member.id, 2)
    assert len(await outbox(db, person_id=roster.member.id, kind="reminder")) == 2
    clock.advance(days=10)
    assert "上报" in await wechat.send(RESIDENT, f"催办 {no}")
    t = await ticket(db, no)
    assert (t.assignee_id, t.level) == (roster.head.id, "building_head")
    assert len(await outbox(db, person_id=roster.member.id, kind="reminder")) == 3


# ------------------------------------------------------------ ratings and cancelling

async def test_a_bare_rating_never_reopens_another_already_rated_ticket(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    six = await report(wechat)
    eight = ticket_no(await wechat.send(RESIDENT, "2单元门口的垃圾桶满了没人倒"))
    await wechat.send("o_member_wang", f"办结 {six} 已处理")
    await wechat.send("o_member_wang", f"办结 {eight} 已清理")  # the follow-up just asked is #8's
    assert f"#{eight}" in await wechat.send(RESIDENT, "还行吧")
    assert (await ticket(db, eight)).rating == 3
    reply = await wechat.send(RESIDENT, "1分")
    assert f"工单#{six}" in reply and "是" in reply
    t8 = await ticket(db, eight)
    assert (t8.state, t8.rating, t8.reopens) == ("resolved", 3, 0)
    assert (await ticket(db, six)).state == "resolved"  # nothing until they say which
    assert "重新交给" in await wechat.send(RESIDENT, "是")
    assert (await ticket(db, six)).reopens == 1


async def test_cancel_without_a_number_names_the_ticket_and_tells_everyone_notified(
        wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = ticket_no(await wechat.send("o_stranger", "小区门口垃圾堆了好几天没人收"))
    reply = await wechat.send("o_stranger", "撤销")
    assert f"工单#{no}" in reply and "是" in reply
    assert (await ticket(db, no)).state == "open"
    assert "已撤销" in await wechat.send("o_stranger", "是")
    assert (await ticket(db, no)).state == "cancelled"
    for person in (roster.staff, roster.other_staff):  # both were told at triage
        assert [m.text for m in await outbox(db, person_id=person.id, kind="notice") if "撤销" in m.text]


async def test_cancelling_an_urgent_ticket_tells_the_whole_fan_out(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = await report(wechat, "楼道里好大的煤气味，快来人")
    assert "已撤销" in await wechat.send(RESIDENT, f"撤销 {no}")
    told = {m.person_id for m in await outbox(db, kind="notice") if "撤销" in m.text}
    assert {roster.member.id, roster.head.id, roster.staff.id} <= told


# ------------------------------------------------------------ vague and double requests

@pytest.mark.parametrize("vague", ["有问题", "帮帮忙", "你们管不管"])
async def test_a_vague_request_gets_one_question_and_the_answer_opens_the_ticket(
        wechat: WeChat, db: Database, vague: str) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, vague)
    assert "什么事" in reply and await tickets(db) == 0
    assert await outbox(db) == []
    t = await ticket(db, ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了")))
    assert t.text == f"{vague}，3栋楼道灯坏了好几天了" and t.category == "facilities"


async def test_two_asks_open_two_tickets_and_the_reply_names_both(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, "3栋门口垃圾没人收，另外楼道灯坏了")
    assert "#1" in reply and "#2" in reply
    assert {(await ticket(db, 1)).category, (await ticket(db, 2)).category} == {"sanitation", "facilities"}


async def test_two_asks_one_urgent_is_urgent(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, "楼道灯坏了，还有3栋门口有人晕倒了")
    assert "紧急" in reply
    assert any(t.urgent for t in [await ticket(db, n) for n in range(1, await tickets(db) + 1)])


# ------------------------------------------------------------ the replies

async def test_resolve_without_a_number_gives_a_resolve_example(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await report(wechat)
    await wechat.send(RESIDENT, "2单元门口的垃圾桶满了没人倒")
    reply = await wechat.send("o_member_wang", "办结")
    assert "“办结 1”" in reply and "接单" not in reply


async def test_the_binding_reply_names_the_member_once(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    reply = await bound_resident(wechat)
    assert "联户党员是联户党员" not in reply and "联户党员是王同志" in reply


async def test_after_reassigning_the_resident_reads_the_new_handlers_role(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await wechat.send("o_member_wang", "请假")
    no = await report(wechat)
    assert "楼栋长" in await wechat.send(RESIDENT, f"查询 {no}")
    await wechat.send("o_staff_liu", f"改派 {no} 张秀英")
    reply = await wechat.send(RESIDENT, f"查询 {no}")
    assert "联户党员张同志" in reply and "楼栋长" not in reply


async def test_a_volunteer_may_look_at_her_own_ticket(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    no = await report(wechat)
    reply = await wechat.send("o_member_wang", f"查询 {no}")
    assert "不是您的" not in reply and f"工单#{no}" in reply and "楼道灯" in reply
    assert "不是您的" in await wechat.send("o_member_zhang", f"查询 {no}")


async def test_the_new_ticket_notice_keeps_the_dangerous_part(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    text = ("3栋2单元楼道里的灯坏了好几天了，晚上黑乎乎的老人上下楼很不方便，物业说要等配件，"
            "现在开关那里还有电线露在外面")
    await report(wechat, text)
    notices = await outbox(db, person_id=roster.member.id)  # a new-ticket notice, or an urgent one
    assert len(notices) == 1 and "电线露在外面" in notices[0].text


async def test_handing_back_without_a_reason_asks_for_one(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = await report(wechat)
    reply = await wechat.send("o_member_wang", f"退单 {no}")
    assert "原因" in reply and (await ticket(db, no)).assignee_id == roster.member.id
    assert "handed_back" not in await timeline(db, no)
    assert "已退回" in await wechat.send("o_member_wang", "不在我联系的楼栋")
    notice = (await outbox(db, person_id=roster.head.id))[0].text
    assert "原因：不在我联系的楼栋" in notice and "原因：。" not in notice


async def test_reassigning_twice_sends_the_notice_once(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = await report(wechat)
    assert "改派给张秀英" in await wechat.send("o_staff_liu", f"改派 {no} 张秀英")
    assert "已经由张秀英负责" in await wechat.send("o_staff_liu", f"改派 {no} 张秀英")
    assert len(await outbox(db, person_id=roster.member2.id, kind="new_ticket")) == 1


async def test_recategorising_lists_chinese_names_and_refuses_the_same_category(
        wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    no = await report(wechat)
    reply = await wechat.send("o_staff_liu", f"分类 {no}")
    assert "停车交通" in reply and "parking" not in reply and "sanitation" not in reply
    reply = await wechat.send("o_staff_liu", f"分类 {no} 公共设施")
    assert "本来就是" in reply and "从公共设施改为公共设施" not in reply
    assert "recategorised" not in await timeline(db, no)


async def test_back_from_leave_when_not_on_leave(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    reply = await wechat.send("o_member_wang", "销假")
    assert "没有在请假" in reply and "已销假" not in reply


async def test_leave_until_a_date_ends_by_itself(wechat: WeChat, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.domain.clock import tick

    roster = await make_roster(db)
    reply = await wechat.send("o_member_wang", "请假 到12月5日")
    assert "12月5日" in reply
    async with db.reading() as s:
        person = await s.get(Person, roster.member.id)
        assert person is not None and person.on_leave and person.leave_until is not None
        until = person.leave_until
    await tick(db, make_config(db.url), texts, until - timedelta(hours=1))
    async with db.reading() as s:
        assert (await s.get(Person, roster.member.id)).on_leave  # type: ignore[union-attr]
    await tick(db, make_config(db.url), texts, until)
    async with db.reading() as s:
        person = await s.get(Person, roster.member.id)
        assert person is not None and not person.on_leave and person.leave_until is None


async def test_invite_accepts_a_phone_in_full_width_digits(db: Database) -> None:
    from bot.domain.identity import person_by_phone

    roster = await make_roster(db)
    async with db.reading() as s:
        found = await person_by_phone(s, "１３８０００００００７")
        assert found is not None and found.id == roster.unbound_member.id
        assert await person_by_phone(s, "138-0000-0007") is not None
        assert await person_by_phone(s, "13800000099") is None
