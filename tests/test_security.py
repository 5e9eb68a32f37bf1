"""Nobody takes a role they were not given; a merged neighbour never reads
the owner's ticket; floods get a polite reply; staff of one community keep out
of the dispatchers' unplaced tickets; no input gets a 500 (issue 12)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.domain.identity import create_invite
from bot.domain.security import INVITE_ALPHABET, new_invite_code
from bot.models import InboundMessage, InviteFailure, OutboxMessage, Person, RoleAudit, Ticket, TicketEvent
from tests.conftest import Clock, WeChat, make_config
from tests.roster import make_roster

MakeWeChat = Callable[..., Awaitable[WeChat]]


@pytest.fixture
def make_wechat(db: Database, clock: Clock, aiohttp_client: Any) -> MakeWeChat:
    async def make(mode: str = "aes", **sections: dict[str, Any]) -> WeChat:
        from bot.services import build
        from bot.web.webhook import create_app

        services = build(make_config(db.url, **sections), db, now=clock)
        return WeChat(await aiohttp_client(create_app(services)), mode)

    return make


def ticket_no(reply: str) -> int:
    match = re.search(r"#(\d+)", reply)
    assert match, reply
    return int(match.group(1))


async def outbox(db: Database, **where: object) -> list[OutboxMessage]:
    async with db.reading() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list((await s.scalars(query)).all())


async def invite_for(db: Database, phone: str) -> str:
    from bot.models import utcnow

    async with db.transaction() as s:
        person = await s.scalar(select(Person).where(Person.phone == phone))
        assert person is not None
        return (await create_invite(s, person, utcnow())).code


# ------------------------------------------------------------------ invites

def test_invite_codes_are_eight_characters_without_look_alikes() -> None:
    codes = {new_invite_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) >= 8 and set(code) <= set(INVITE_ALPHABET)
    assert not set("0O1Il") & set(INVITE_ALPHABET)


async def test_a_guesser_is_locked_out_after_five_wrong_codes_and_staff_are_told(
        make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat()
    roster = await make_roster(db)
    code = await invite_for(db, "13800000007")
    replies = [await wechat.send("o_guesser", f"绑定 邀请码 {guess}")
               for guess in ("K7M3Q9TX", "K7M3Q9TY", "K7M3Q9TZ", "K7M3Q9T2", "K7M3Q9T3")]
    assert all("邀请码不对" in r for r in replies[:4])
    assert "次数太多" in replies[4] and "社区工作人员" in replies[4]
    # locked: even the right code is refused now, and the person stays unbound
    reply = await wechat.send("o_guesser", f"绑定 邀请码 {code}")
    assert "次数太多" in reply
    async with db.reading() as s:
        wu = await s.scalar(select(Person).where(Person.phone == "13800000007"))
        assert wu is not None and wu.openid is None
    told = [m for m in await outbox(db, kind="notice") if "o_guesser" in m.text]
    assert [m.person_id for m in told] == [roster.staff.id, roster.other_staff.id]
    # someone else still binds with it, typed in lower case
    reply = await wechat.send("o_real_wu", f"绑定邀请码{code.lower()}")
    assert "吴海同志，绑定成功" in reply


async def test_guesses_from_many_senders_lock_invites_for_everyone(make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat(security={"invite_failures_overall": 3})
    await make_roster(db)
    code = await invite_for(db, "13800000007")
    for i in range(3):
        await wechat.send(f"o_bot_{i}", "绑定 邀请码 ZZZZZZZZ")
    reply = await wechat.send("o_real_wu", f"绑定 邀请码 {code}")
    assert "次数太多" in reply
    notices = [m for m in await outbox(db, kind="notice") if "猜邀请码" in m.text]
    assert len(notices) == 2  # both staff, once
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(InviteFailure)) == 3


async def test_a_role_moved_to_a_new_wechat_tells_the_old_one_and_every_change_is_audited(
        make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat()
    roster = await make_roster(db)
    # 王建国 (bound to o_member_wang) gets a new invite and redeems it from a new phone
    code = await invite_for(db, "13800000001")
    reply = await wechat.send("o_wang_new_phone", f"绑定 邀请码 {code}")
    assert "王建国同志，绑定成功" in reply
    told = await outbox(db, openid="o_member_wang")
    assert len(told) == 1 and "另一个微信" in told[0].text and "联系社区" in told[0].text
    # 吴海's invite redeemed by the WeChat that now holds 王建国: 王建国 is let go
    code = await invite_for(db, "13800000007")
    await wechat.send("o_wang_new_phone", f"绑定 邀请码 {code}")
    async with db.reading() as s:
        audit = [(a.action, a.person_id, a.openid, a.previous_openid) for a in
                 (await s.scalars(select(RoleAudit).order_by(RoleAudit.id))).all()]
        wang = await s.get(Person, roster.member.id)
        assert wang is not None and wang.openid is None
    assert audit == [
        ("moved", roster.member.id, "o_wang_new_phone", "o_member_wang"),
        ("revoked", roster.member.id, None, "o_wang_new_phone"),
        ("granted", roster.unbound_member.id, "o_wang_new_phone", None),
    ]


# ------------------------------------------------------------------ rate limits

async def test_too_many_messages_get_a_polite_reply_but_retries_never_count(
        make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat(security={"messages_per_minute": 3})
    await make_roster(db)
    first = wechat.sim.text("o_flood", "你好")
    req = wechat.sim.sign(first, "o_flood")
    for _ in range(5):  # WeChat retrying one message: one row, the same answer
        response = await wechat.client.post("/wechat", params=req.query, data=req.body)
        assert response.status == 200
        assert "稍等一分钟" not in wechat.sim.read_reply(await response.text(), req)["Content"]
    assert "稍等一分钟" not in await wechat.send("o_flood", "谢谢")
    assert "稍等一分钟" not in await wechat.send("o_flood", "帮助")
    reply = await wechat.send("o_flood", "3栋楼道灯坏了")
    assert "稍等一分钟" in reply
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)
                              .where(InboundMessage.openid == "o_flood")) == 4  # kept, though not handled
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 0
    assert "稍等一分钟" not in await wechat.send("o_someone_else", "你好")


async def test_too_many_new_tickets_in_an_hour_get_a_polite_reply(make_wechat: MakeWeChat, db: Database,
                                                                   clock: Clock) -> None:
    wechat = await make_wechat(security={"tickets_per_hour": 2}, tickets={"merge_window_h": 0})
    await make_roster(db)
    assert "工单#" in await wechat.send("o_busy", "3栋楼道灯坏了")
    assert "工单#" in await wechat.send("o_busy", "5栋门口垃圾好几天没人收")
    reply = await wechat.send("o_busy", "小区路面坑坑洼洼的")
    assert "这一小时已经登记了2件事" in reply
    clock.advance(hours=1, minutes=1)
    assert "工单#" in await wechat.send("o_busy", "小区路面坑坑洼洼的")


async def test_a_message_of_several_asks_past_the_hourly_cap_gets_the_polite_reply(
        make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat(security={"tickets_per_hour": 1}, tickets={"merge_window_h": 0})
    await make_roster(db)
    assert "工单#" in await wechat.send("o_busy2", "3栋楼道灯坏了")
    reply = await wechat.send("o_busy2", "小区门口垃圾没人清，另外3栋电梯也坏了")
    assert "这一小时已经登记了1件事" in reply and "系统正忙" not in reply
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 1


# ------------------------------------------------------------------ merged followers

async def test_a_merged_neighbour_sees_only_their_own_words_and_the_state(
        make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat()
    roster = await make_roster(db)
    await wechat.send("o_owner", "绑定 3栋2单元501")
    no = ticket_no(await wechat.send("o_owner", "3栋楼道灯坏了好几天了，我家老人晚上摔了一跤"))
    merged = await wechat.send("o_stranger", "幸福小区3栋的楼道灯坏了")
    assert f"#{no}" in merged and "合并" in merged
    detail = await wechat.send("o_stranger", f"查询 {no}")
    assert "幸福小区3栋的楼道灯坏了" in detail and "摔了一跤" not in detail and "501" not in detail
    assert "2单元" not in detail and "王同志" not in detail
    listing = await wechat.send("o_stranger", "查询")
    assert f"#{no}" in listing and "摔了一跤" not in listing and "合并处理" in listing
    # the owner still sees everything
    assert "摔了一跤" in await wechat.send("o_owner", f"查询 {no}")

    # the member's progress notes go to the owner; the neighbour hears the state only
    await wechat.send("o_member_wang", f"接单 {no}")
    await wechat.send("o_member_wang", f"进展 {no} 已联系周大爷家属，明天上门")
    to_stranger = [m.text for m in await outbox(db, openid="o_stranger")]
    assert to_stranger and all("周大爷" not in t and "摔" not in t and "501" not in t for t in to_stranger)
    assert any("处理中" in t for t in to_stranger)
    assert any("周大爷" in m.text for m in await outbox(db, openid="o_owner"))

    # the neighbour's urges are one more report each, never an escalation
    for _ in range(3):
        reply = await wechat.send("o_stranger", f"催办 {no}")
        assert "已记下您的催促" in reply
    async with db.reading() as s:
        t = await s.get(Ticket, no)
        assert t is not None and (t.urge_count, t.escalations, t.level, t.assignee_id) == (
            0, 0, "member", roster.member.id)
        actions = list((await s.scalars(select(TicketEvent.action).where(TicketEvent.ticket_id == no))).all())
    assert actions.count("follower_urged") == 3 and "escalated" not in actions

    # only the owner rates, reopens or cancels
    assert "对方操作" in await wechat.send("o_stranger", f"撤销 {no}")
    await wechat.send("o_member_wang", f"办结 {no} 灯已换好")
    assert "对方操作" in await wechat.send("o_stranger", f"评价 {no} 1")
    async with db.reading() as s:
        t = await s.get(Ticket, no)
        assert t is not None and (t.state, t.rating, t.reopens) == ("resolved", None, 0)
    assert "5分" in await wechat.send("o_owner", f"评价 {no} 5")


# ------------------------------------------------------------------ dispatcher scope

async def test_with_dispatchers_set_staff_of_a_community_keep_out_of_unplaced_tickets(
        make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat(tickets={"unplaced_staff_phones": ["13800000006"]})
    await make_roster(db)
    no = ticket_no(await wechat.send("o_stranger", "路边垃圾堆了好几天没人收"))
    async with db.reading() as s:
        t = await s.get(Ticket, no)
        assert t is not None and t.community_id is None
        category = t.category
    # 刘芳 (北团社区) neither sees nor touches it
    assert f"#{no}" not in await wechat.send("o_staff_liu", "待分派")
    for command in (f"关闭 {no} 已处理", f"改派 {no} 王建国", f"分类 {no} 治安"):
        assert "不属于您的社区" in await wechat.send("o_staff_liu", command)
    async with db.reading() as s:
        t = await s.get(Ticket, no)
        assert t is not None and (t.state, t.assignee_id, t.category) == ("open", None, category)
    # the dispatcher 黄丽 does
    assert f"#{no}" in await wechat.send("o_staff_huang", "待分派")
    assert "已关闭" in await wechat.send("o_staff_huang", f"关闭 {no} 已转城管")


# ------------------------------------------------------------------ bad input

def bad(field: str, value: str) -> bytes:
    fields = {"ToUserName": "gh_account", "FromUserName": "o_bad", "CreateTime": "1700000000",
              "MsgType": "text", "Content": "你好", "MsgId": "123456789"}
    fields[field] = value
    return ("<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>").encode()


def bad_event(**values: str) -> bytes:
    fields = {"ToUserName": "gh_account", "FromUserName": "o_bad", "CreateTime": "1700000000",
              "MsgType": "event", "Event": "CLICK", "EventKey": "REPORT", **values}
    return ("<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</xml>").encode()


@pytest.mark.parametrize("body", [
    bad("CreateTime", "9000000000000000"),
    bad("CreateTime", "-5"),
    bad("FromUserName", "o" * 65),
    bad("MsgType", "t" * 33),
    bad("MsgId", "9" * 300),
    bad_event(Event="E" * 65),
    bad_event(EventKey="K" * 5000),
], ids=["create_time", "negative_time", "openid", "msg_type", "msg_id", "event", "event_key"])
async def test_out_of_range_fields_get_400_and_nothing_is_stored(make_wechat: MakeWeChat, db: Database,
                                                                 body: bytes) -> None:
    wechat = await make_wechat("plain")
    response, _ = await wechat.post(body, "o_bad")
    assert response.status == 400, await response.text()
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 0


async def test_fields_at_their_limits_are_stored_and_answered(make_wechat: MakeWeChat, db: Database) -> None:
    wechat = await make_wechat("plain")
    openid = "o" * 64
    response, _ = await wechat.post(bad_event(FromUserName=openid, Event="e" * 64, EventKey="K" * 128), openid)
    assert response.status == 200
    response, _ = await wechat.post(bad("FromUserName", openid).replace(b"123456789", b"18446744073709551615"),
                                    openid)
    assert response.status == 200
    async with db.reading() as s:
        rows = (await s.scalars(select(InboundMessage).order_by(InboundMessage.id))).all()
    assert [r.openid for r in rows] == [openid, openid] and len(rows[0].dedup_key) <= 200


async def test_a_database_error_inside_a_handler_gets_the_holding_reply_and_the_message_is_kept(
        make_wechat: MakeWeChat, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import text

    import handlers.resident

    wechat = await make_wechat()

    async def broken(ctx: Any) -> str:
        await ctx.session.execute(text("SELECT * FROM no_such_table"))
        return "never"

    monkeypatch.setattr(handlers.resident.router.handlers[-1], "fn", broken)
    reply = await wechat.send("o_unlucky", "3栋楼道灯坏了")
    assert "系统正忙" in reply
    async with db.reading() as s:
        row = await s.scalar(select(InboundMessage))
        assert row is not None and row.content == "3栋楼道灯坏了" and row.payload.get("_handler_failed")
