"""Whole flows through the webhook, with requests signed and encrypted as
WeChat does: residents report, party members act by reply, staff close; each
reply, the timeline and the outbox are checked."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.db import Database
from bot.domain.identity import create_invite
from bot.models import OutboxMessage, Person, Resident, Ticket, TicketEvent, TicketFollower
from bot.texts import texts
from tests.conftest import WeChat
from tests.roster import Roster, make_roster

RESIDENT = "o_resident_zhou"


def ticket_no(reply: str) -> int:
    match = re.search(r"#(\d+)", reply)
    assert match, reply
    return int(match.group(1))


async def timeline(db: Database, no: int) -> list[str]:
    async with db.reading() as s:
        return list((await s.scalars(
            select(TicketEvent.action).where(TicketEvent.ticket_id == no).order_by(TicketEvent.id))).all())


async def ticket(db: Database, no: int) -> Ticket:
    async with db.reading() as s:
        found = await s.get(Ticket, no)
        assert found is not None
        return found


async def outbox(db: Database, **where: object) -> list[OutboxMessage]:
    async with db.reading() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list((await s.scalars(query)).all())


async def bound_resident(wechat: WeChat, openid: str = RESIDENT, address: str = "3栋2单元501") -> str:
    return await wechat.send(openid, f"绑定 {address}")


async def test_the_whole_life_of_a_ticket(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    # a new party member binds with the invite staff made for their phone
    async with db.transaction() as s:
        newcomer = await s.scalar(select(Person).where(Person.phone == "13800000007"))
        assert newcomer is not None
        invite = await create_invite(s, newcomer, wechat_now())
    reply = await wechat.send("o_new_member_wu", f"绑定 邀请码 {invite.code}")
    assert "吴海" in reply and "绑定成功" in reply
    again = await wechat.send("o_someone_else", f"绑定 邀请码 {invite.code}")
    assert "用过" in again

    # the resident binds their home
    reply = await bound_resident(wechat)
    assert "绑定成功" in reply and "王同志" in reply
    # ... and reports
    reply = await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了")
    no = ticket_no(reply)
    assert "公共设施" in reply and "联户党员王同志" in reply and "13800000001" not in reply
    t = await ticket(db, no)
    assert (t.state, t.assignee_id, t.level, t.category) == ("assigned", roster.member.id, "member", "facilities")
    told = await outbox(db, person_id=roster.member.id, kind="new_ticket")
    assert len(told) == 1 and f"接单 {no}" in told[0].text and "楼道灯" in told[0].text

    # the member accepts, reports progress and resolves, all by reply
    reply = await wechat.send("o_member_wang", f"接单 {no}")
    assert f"#{no}" in reply and "办结" in reply
    reply = await wechat.send("o_member_wang", f"进展{no} 已联系物业电工")
    assert "已联系物业电工" in reply
    reply = await wechat.send("o_member_wang", f"办结 {no} 灯已换好")
    assert f"#{no}" in reply and "办结" in reply
    to_resident = [m.text for m in await outbox(db, openid=RESIDENT)]
    assert any("接单" in m for m in to_resident)
    assert any("已联系物业电工" in m for m in to_resident)
    assert any("灯已换好" in m and "满意" in m for m in to_resident)

    # the resident rates; staff close
    reply = await wechat.send(RESIDENT, "满意")
    assert f"#{no}" in reply and "5分" in reply
    reply = await wechat.send("o_staff_liu", f"关闭 {no} 已回访")
    assert f"#{no}" in reply and "关闭" in reply

    t = await ticket(db, no)
    assert (t.state, t.rating) == ("closed", 5)
    assert await timeline(db, no) == ["created", "assigned", "accepted", "progress", "resolved", "rated", "closed"]


def wechat_now():  # type: ignore[no-untyped-def]
    from bot.models import utcnow

    return utcnow()


async def test_an_unbound_residents_request_goes_to_staff_triage_and_asks_them_to_bind(
        wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    reply = await wechat.send("o_stranger", "小区门口垃圾堆了好几天没人收")
    no = ticket_no(reply)
    assert "绑定" in reply and "社区工作人员" in reply
    t = await ticket(db, no)
    assert (t.state, t.assignee_id, t.level) == ("open", None, "staff")
    assert await timeline(db, no) == ["created", "triaged"]
    staff_told = await outbox(db, person_id=roster.staff.id, kind="triage")
    assert len(staff_told) == 1
    queue = await wechat.send("o_staff_liu", "待分派")
    assert f"#{no}" in queue
    reply = await wechat.send("o_staff_liu", f"改派 {no} 张秀英")
    assert "张秀英" in reply
    t = await ticket(db, no)
    assert (t.state, t.assignee_id) == ("assigned", roster.member2.id)
    told = [(m.person_id, m.kind, m.text) for m in await outbox(db, person_id=roster.member2.id)]
    assert told == [(roster.member2.id, "new_ticket",
                     f"新工单#{no}【环境卫生】小区门口：“小区门口垃圾堆了好几天没人收”\n"
                     f"回复“接单 {no}”接单，“退单 {no} 原因”退回。")]


async def test_an_unbound_resident_who_names_a_unique_address_is_routed_there(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    reply = await wechat.send("o_stranger", "幸福小区3栋2单元501楼道灯坏了")
    t = await ticket(db, ticket_no(reply))
    assert (t.state, t.assignee_id) == ("assigned", roster.member.id)


async def test_a_member_on_leave_is_skipped_for_the_building_head(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send("o_member_wang", "请假")
    assert "请假" in reply
    reply = await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了")
    assert "楼栋长李同志" in reply
    t = await ticket(db, ticket_no(reply))
    assert (t.assignee_id, t.level) == (roster.head.id, "building_head")
    await wechat.send("o_member_wang", "销假")
    reply = await wechat.send(RESIDENT, "2单元门口的垃圾桶满了没人倒")
    t = await ticket(db, ticket_no(reply))
    assert t.assignee_id == roster.member.id


async def test_an_urgent_report_tells_member_head_and_staff_at_once(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, "楼道里好大的煤气味，快来人")
    no = ticket_no(reply)
    assert "紧急" in reply
    t = await ticket(db, no)
    assert t.urgent and t.assignee_id == roster.member.id
    told = {m.person_id for m in await outbox(db, ticket_id=no) if m.person_id}
    assert {roster.member.id, roster.head.id, roster.staff.id} <= told
    assert roster.other_staff.id not in told
    # the building head, told at once, may take it
    reply = await wechat.send("o_head_li", f"接单 {no}")
    assert "已接单" in reply
    reply = await wechat.send("o_member_wang", f"接单 {no}")
    assert "李卫东" in reply  # told who has it


async def test_handing_back_climbs_one_level(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    reply = await wechat.send("o_member_wang", f"退单 {no} 不在我片区")
    assert "楼栋长李同志" in reply
    t = await ticket(db, no)
    assert (t.assignee_id, t.level, t.handbacks) == (roster.head.id, "building_head", 1)
    notice = await outbox(db, person_id=roster.head.id)
    assert notice and "不在我片区" in notice[-1].text
    # and again: the branch secretary, then the triage queue
    await wechat.send("o_head_li", f"退单 {no} 请支部协调")
    t = await ticket(db, no)
    assert (t.assignee_id, t.level) == (roster.secretary.id, "branch_secretary")
    await wechat.send("o_secretary_chen", f"退单 {no} 需要社区出面")
    t = await ticket(db, no)
    assert (t.state, t.assignee_id, t.level) == ("open", None, "staff")
    assert (await timeline(db, no))[-3:] == ["handed_back", "handed_back", "handed_back"]


async def test_unsatisfied_reopens_to_the_same_member_with_the_residents_words(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    await wechat.send("o_member_wang", f"接单 {no}")
    await wechat.send("o_member_wang", f"办结 {no} 已修好")
    reply = await wechat.send(RESIDENT, "不满意")
    assert f"#{no}" in reply and "重新" in reply
    t = await ticket(db, no)
    assert (t.state, t.assignee_id, t.reopens, t.rating) == ("assigned", roster.member.id, 1, 1)
    notice = await outbox(db, person_id=roster.member.id, kind="reopened")
    assert len(notice) == 1 and "不满意" in notice[0].text
    assert (await timeline(db, no))[-1] == "reopened"


async def test_the_number_may_be_left_out_when_one_ticket_waits(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    reply = await wechat.send("o_member_wang", "接单")
    assert f"#{no}" in reply and "已接单" in reply
    second = ticket_no(await wechat.send(RESIDENT, "2单元门口的垃圾桶满了没人倒"))
    reply = await wechat.send("o_member_wang", "接单")
    assert f"#{second}" in reply  # the only one still waiting to be accepted
    reply = await wechat.send("o_member_wang", "办结 修好了")
    assert f"#{no}" in reply and f"#{second}" in reply  # two in progress: asks which


# ---------------------------------------------------------------- refusals

async def test_every_permission_refusal_says_why_and_changes_nothing(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    events = await timeline(db, no)

    # a volunteer acts only on tickets assigned to them
    assert "不是派给您的" in await wechat.send("o_member_zhang", f"接单 {no}")
    assert "不是派给您的" in await wechat.send("o_member_zhang", f"办结 {no} 好了")
    assert "不是派给您的" in await wechat.send("o_head_li", f"进展 {no} 在看")
    # staff act only on tickets of their own community
    assert "不属于您的社区" in await wechat.send("o_staff_huang", f"关闭 {no} 结案")
    # a volunteer is not staff
    assert "社区工作人员" in await wechat.send("o_member_wang", f"关闭 {no} 结案")
    # a resident only on their own tickets, and has no volunteer commands
    assert "不是您的" in await wechat.send("o_neighbour", f"撤销 {no}")
    assert "不是您的" in await wechat.send("o_neighbour", f"催办 {no}")
    assert "党员志愿者" in await wechat.send("o_neighbour", f"接单 {no}")
    assert "社区工作人员" in await wechat.send("o_neighbour", f"关闭 {no} 好了")
    # nothing changed
    assert await timeline(db, no) == events
    t = await ticket(db, no)
    assert t.state == "assigned"


async def test_an_address_not_in_the_roster_binds_nothing(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    reply = await wechat.send(RESIDENT, "绑定 9栋1单元909")
    assert "没找到" in reply
    async with db.reading() as s:
        resident = await s.get(Resident, RESIDENT)
        assert resident is not None and resident.household_id is None
    reply = await wechat.send(RESIDENT, "绑定 3栋3单元501")  # no unit 3 anywhere
    assert "没找到" in reply


async def test_a_resident_can_check_urge_and_cancel(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    listing = await wechat.send(RESIDENT, "查询")
    assert f"#{no}" in listing and "已派单" in listing
    detail = await wechat.send(RESIDENT, f"查询 {no}")
    assert "王同志" in detail
    reply = await wechat.send(RESIDENT, f"催办 {no}")
    assert f"#{no}" in reply
    reminders = [(m.person_id, m.text) for m in await outbox(db, kind="reminder")]
    assert reminders == [(roster.member.id, f"居民催办工单#{no}（第1次）：“3栋楼道灯坏了好几天了”，请尽快处理。"
                                            f"回复“进展 {no} 说明”告诉居民进度。")]
    reply = await wechat.send(RESIDENT, f"撤销 {no}")
    assert "已撤销" in reply
    assert (await ticket(db, no)).state == "cancelled"
    assert "不能撤销" in await wechat.send(RESIDENT, f"撤销 {no}")


async def test_repeated_urging_climbs_the_chain(wechat: WeChat, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
    roster = await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    await wechat.send(RESIDENT, f"催办 {no}")
    clock.advance(days=10)  # past the cooldown and the member's own reminder period
    reply = await wechat.send(RESIDENT, f"催办{no}")
    assert "上报" in reply
    t = await ticket(db, no)
    assert (t.assignee_id, t.level, t.escalations) == (roster.head.id, "building_head", 1)


async def test_a_photo_after_a_report_is_attached_to_it(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    reply = await wechat.deliver(wechat.sim.image(RESIDENT), RESIDENT)
    assert f"#{no}" in reply
    assert "attached" in await timeline(db, no)


async def test_a_photo_before_the_words_waits_for_the_request(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.deliver(wechat.sim.location(RESIDENT, label="幸福小区东门"), RESIDENT)
    assert "文字" in reply
    no = ticket_no(await wechat.send(RESIDENT, "这里的井盖丢了很危险"))
    assert "attached" in await timeline(db, no)


async def test_voice_is_read_from_its_recognition_or_asked_to_be_typed(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.deliver(wechat.sim.voice(RESIDENT, "喂你好三栋楼道的灯坏了好几天了没人修"), RESIDENT)
    t = await ticket(db, ticket_no(reply))
    assert (t.category, t.assignee_id) == ("facilities", roster.member.id)
    reply = await wechat.deliver(wechat.sim.voice(RESIDENT, ""), RESIDENT)
    assert "打字" in reply


async def test_staff_recategorise_and_the_correction_is_kept(wechat: WeChat, db: Database) -> None:
    from bot.models import CategoryCorrection

    await make_roster(db)
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    reply = await wechat.send("o_staff_liu", f"分类 {no} parking")
    assert "停车交通" in reply
    assert "没有" in await wechat.send("o_staff_liu", f"分类 {no} weather")
    async with db.reading() as s:
        corrections = (await s.scalars(select(CategoryCorrection))).all()
    assert [(c.old_category, c.new_category) for c in corrections] == [("facilities", "parking")]


async def test_subscribe_welcomes_and_menu_clicks_answer(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    welcome = await wechat.deliver(wechat.sim.event("o_fan", "subscribe"), "o_fan")
    assert "绑定" in welcome
    help_text = await wechat.deliver(wechat.sim.event("o_fan", "CLICK", "HELP"), "o_fan")
    assert "查询" in help_text
    mine = await wechat.deliver(wechat.sim.event("o_fan", "CLICK", "MY_TICKETS"), "o_fan")
    assert "还没有工单" in mine
    assert await wechat.deliver(wechat.sim.event("o_fan", "VIEW", "http://x"), "o_fan") == ""
    assert await wechat.deliver(wechat.sim.event("o_fan", "unsubscribe"), "o_fan") == ""
    async with db.reading() as s:
        fan = await s.get(Resident, "o_fan")
        assert fan is not None and fan.subscribed is False


async def test_two_requests_about_one_thing_in_one_building_merge(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    await bound_resident(wechat, "o_neighbour_sun", "3栋2单元502")
    first = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    reply = await wechat.send("o_neighbour_sun", "3栋的楼道灯坏了，晚上黑漆漆的")
    assert ticket_no(reply) == first and "合并" in reply
    async with db.reading() as s:
        assert len((await s.scalars(select(Ticket))).all()) == 1
    # the follower hears of progress too: the ticket's state, not the member's notes (issue 12)
    await wechat.send("o_member_wang", f"进展 {first} 电工明天来")
    to_follower = [m.text for m in await outbox(db, openid="o_neighbour_sun")]
    assert any(f"#{first}" in t for t in to_follower)
    assert not any("电工明天来" in t for t in to_follower)
    assert any("电工明天来" in m.text for m in await outbox(db, openid=RESIDENT))


__all__ = ["Roster"]


async def test_merging_has_limits(wechat: WeChat, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
    await make_roster(db)
    await bound_resident(wechat)  # 3栋2单元501
    await bound_resident(wechat, "o_neighbour_sun", "3栋2单元502")
    await bound_resident(wechat, "o_other_building", "5栋1单元101")
    first = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    # another building: its own ticket
    other_building = ticket_no(await wechat.send("o_other_building", "楼道灯坏了好几天了"))
    assert other_building != first
    # same building, another category: its own ticket
    other_category = ticket_no(await wechat.send("o_neighbour_sun", "3栋门口的垃圾好几天没人收了"))
    assert other_category != first
    # same building and category but outside the window (48 h): its own ticket
    clock.advance(hours=49)
    late = ticket_no(await wechat.send("o_neighbour_sun", "3栋的楼道灯坏了，晚上黑漆漆的"))
    assert late != first
    async with db.reading() as s:
        assert len((await s.scalars(select(Ticket))).all()) == 4


async def test_a_request_the_router_cannot_place_goes_to_staff_triage(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, "那个事情你们看着办吧")
    no = ticket_no(reply)
    t = await ticket(db, no)
    assert (t.category, t.state, t.level) == ("other", "open", "staff")
    told = [(m.person_id, m.kind, m.text) for m in await outbox(db, ticket_id=no)]
    assert told == [(roster.staff.id, "triage", f"待分派工单#{no}【其他】幸福小区3栋2单元501：“那个事情你们看着办吧”\n"
                                                f"回复“改派 {no} 姓名”分派，“关闭 {no} 说明”结案。")]


async def test_policy_questions_go_straight_to_staff(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, "请问低保怎么申请，需要带什么材料")
    no = ticket_no(reply)
    t = await ticket(db, no)
    assert (t.category, t.level, t.assignee_id) == ("policy", "staff", None)
    told = [(m.person_id, m.kind, m.text) for m in await outbox(db, ticket_id=no)]
    assert told == [(roster.staff.id, "triage",
                     f"待分派工单#{no}【政策咨询】幸福小区3栋2单元501：“请问低保怎么申请，需要带什么材料”\n"
                     f"回复“改派 {no} 姓名”分派，“关闭 {no} 说明”结案。")]


async def resolved_ticket(wechat: WeChat) -> int:
    await bound_resident(wechat)
    no = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    await wechat.send("o_member_wang", f"办结 {no} 已修好")
    return no


async def test_a_bare_digit_after_resolution_is_a_rating(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    no = await resolved_ticket(wechat)
    reply = await wechat.send(RESIDENT, "４")
    assert f"#{no}" in reply and "4分" in reply
    assert (await ticket(db, no)).rating == 4


async def test_not_solved_after_resolution_reopens(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    no = await resolved_ticket(wechat)
    reply = await wechat.send(RESIDENT, "还是没修好啊")
    assert f"#{no}" in reply and "重新" in reply
    t = await ticket(db, no)
    assert (t.state, t.assignee_id, t.solved) == ("assigned", roster.member.id, False)
    notice = await outbox(db, person_id=roster.member.id, kind="reopened")
    assert "还是没修好啊" in notice[-1].text


async def test_a_bare_digit_with_nothing_to_rate_is_not_a_rating(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    await bound_resident(wechat)
    reply = await wechat.send(RESIDENT, "5")
    assert reply == texts("ask.what")  # asked what they mean; no rating, no ticket
    async with db.reading() as s:
        assert (await s.scalars(select(Ticket))).all() == []


async def test_unplaced_requests_go_to_the_configured_dispatchers_only(db: Database, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    from bot.services import build
    from bot.web.webhook import create_app
    from tests.conftest import make_config

    roster = await make_roster(db)
    config = make_config(db.url, tickets={"unplaced_staff_phones": [roster.other_staff.phone]})
    wechat = WeChat(await aiohttp_client(create_app(build(config, db))), "aes")
    no = ticket_no(await wechat.send("o_stranger", "门口垃圾堆了好几天没人收"))
    told = {m.person_id for m in await outbox(db, ticket_id=no)}
    assert told == {roster.other_staff.id}


async def test_a_neighbour_merging_twice_is_one_follower_and_hears_who_handles_it(wechat: WeChat, db: Database
                                                                                  ) -> None:
    """The merge reply names the handler (role and surname; staff when the ticket waits in triage),
    and a second merge of the same neighbour records the event but no second follower."""
    roster = await make_roster(db)
    await bound_resident(wechat)
    await bound_resident(wechat, "o_neighbour_sun", "3栋2单元502")
    first = ticket_no(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    handler = texts("role.person", title=texts("role.member"), surname="王")
    for _ in range(2):
        reply = await wechat.send("o_neighbour_sun", "3栋的楼道灯坏了，晚上黑漆漆的")
        assert ticket_no(reply) == first and "合并" in reply and f"由{handler}在处理" in reply
    async with db.reading() as s:
        followers = (await s.scalars(select(TicketFollower.openid).where(TicketFollower.ticket_id == first))).all()
    assert followers == ["o_neighbour_sun"]
    assert (await timeline(db, first)).count("merged") == 2
    async with db.transaction() as s:  # back to the triage queue: staff handle it
        found = await s.get(Ticket, first)
        assert found is not None and found.assignee_id == roster.member.id
        found.assignee_id, found.level, found.state = None, "staff", "open"
    reply = await wechat.send("o_neighbour_sun", "3栋的楼道灯坏了，晚上黑漆漆的")
    assert ticket_no(reply) == first and f"由{texts('role.staff')}在处理" in reply
