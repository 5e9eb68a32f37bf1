"""The deadline clock with a controllable clock: a ticket past its deadline
reminds its assignee, then climbs the chain one level at a time (吹哨) up to
staff; a resolved ticket nobody rates is closed as 未评价."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db import Database
from bot.domain.clock import tick
from bot.models import OutboxMessage, Ticket, TicketEvent
from bot.texts import texts
from tests.conftest import Clock, WeChat, make_config
from tests.roster import make_roster

RESIDENT = "o_resident_zhou"


async def open_ticket(wechat: WeChat, text: str = "3栋楼道灯坏了好几天了") -> int:
    await wechat.send(RESIDENT, "绑定 3栋2单元501")
    reply = await wechat.send(RESIDENT, text)
    return int(reply.split("#")[1].split("【")[0])


async def state(db: Database, no: int) -> Ticket:
    async with db.reading() as s:
        t = await s.get(Ticket, no)
        assert t is not None
        return t


async def actions(db: Database, no: int) -> list[str]:
    async with db.reading() as s:
        return list((await s.scalars(select(TicketEvent.action).where(TicketEvent.ticket_id == no)
                                     .order_by(TicketEvent.id))).all())


async def run_tick(db: Database, clock: Clock) -> dict[str, int]:
    return await tick(db, make_config(db.url), texts, clock())


def monday_morning() -> datetime:
    return datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in China, a working Monday


async def test_overdue_reminds_then_climbs_all_four_levels(wechat: WeChat, db: Database, clock: Clock) -> None:
    roster = await make_roster(db)
    clock.offset_s = (monday_morning() - datetime.now(UTC)).total_seconds()
    no = await open_ticket(wechat)
    t = await state(db, no)
    assert t.assignee_id == roster.member.id
    # 4 working hours to accept (config.example.toml): nothing happens before that
    clock.advance(hours=3, minutes=59)
    assert (await run_tick(db, clock))["reminded"] == 0
    clock.advance(minutes=2)
    assert (await run_tick(db, clock))["reminded"] == 1
    async with db.reading() as s:
        reminders = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.person_id == roster.member.id, OutboxMessage.kind == "reminder"))).all()
    assert len(reminders) == 1 and f"接单 {no}" in reminders[0].text
    # a second tick soon after does not remind again
    clock.advance(minutes=5)
    assert await run_tick(db, clock) == {"reminded": 0, "escalated": 0, "staff_reminded": 0, "auto_closed": 0,
                                          "care_reminded": 0, "care_escalated": 0, "campaigns_closed": 0}
    # one accept period (4 working hours) after the reminder: 吹哨 to the building head
    clock.advance(hours=4)
    assert (await run_tick(db, clock))["escalated"] == 1
    t = await state(db, no)
    assert (t.assignee_id, t.level, t.escalations) == (roster.head.id, "building_head", 1)
    # the head lets it slide too: reminded a working day later, escalated the day after
    # (Tuesday to Friday, all working days: each day holds 9 working hours)
    for expected_level, expected_person in (("branch_secretary", roster.secretary.id), ("staff", None)):
        clock.advance(hours=3)  # 20:06 the same evening: the 4 working hours are not up
        assert (await run_tick(db, clock))["reminded"] == 0
        clock.advance(hours=21)
        assert (await run_tick(db, clock))["reminded"] == 1
        clock.advance(days=1)
        assert (await run_tick(db, clock))["escalated"] == 1
        t = await state(db, no)
        assert (t.level, t.assignee_id) == (expected_level, expected_person)
    assert t.state == "open"  # in the triage queue, staff are reminded from here on
    clock.advance(days=3)  # Monday again
    assert (await run_tick(db, clock))["staff_reminded"] == 1
    assert (await actions(db, no)).count("escalated") == 3


async def test_a_weekend_does_not_count_for_an_ordinary_ticket(wechat: WeChat, db: Database, clock: Clock) -> None:
    await make_roster(db)
    friday_4pm = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # 16:00 China time
    clock.offset_s = (friday_4pm - datetime.now(UTC)).total_seconds()
    no = await open_ticket(wechat)
    t = await state(db, no)
    china = t.accept_due_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert (china.weekday(), china.hour, china.minute) == (0, 11, 0)  # Monday 11:00: 1.5 h Friday + 2.5 h Monday
    clock.advance(days=2)  # Sunday afternoon
    assert (await run_tick(db, clock))["reminded"] == 0


async def test_an_urgent_ticket_counts_clock_time(wechat: WeChat, db: Database, clock: Clock) -> None:
    roster = await make_roster(db)
    saturday_night = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 22:00 China time, a Saturday
    clock.offset_s = (saturday_night - datetime.now(UTC)).total_seconds()
    no = await open_ticket(wechat, "楼道里好大的煤气味，快来人")
    t = await state(db, no)
    assert t.urgent and t.accept_due_at is not None
    assert abs((t.accept_due_at - clock()) - timedelta(minutes=30)) < timedelta(seconds=5)
    clock.advance(minutes=31)
    assert (await run_tick(db, clock))["reminded"] == 1
    clock.advance(minutes=31)
    assert (await run_tick(db, clock))["escalated"] == 1
    assert (await state(db, no)).assignee_id == roster.head.id


async def test_an_unrated_resolved_ticket_is_closed_after_the_follow_up_days(
        wechat: WeChat, db: Database, clock: Clock) -> None:
    await make_roster(db)
    no = await open_ticket(wechat)
    await wechat.send("o_member_wang", f"办结 {no} 灯已换好")
    clock.advance(days=6, hours=23)
    assert (await run_tick(db, clock))["auto_closed"] == 0
    clock.advance(hours=2)
    assert (await run_tick(db, clock))["auto_closed"] == 1
    t = await state(db, no)
    assert (t.state, t.rating) == ("closed", None)
    async with db.reading() as s:
        event = await s.scalar(select(TicketEvent).where(TicketEvent.ticket_id == no,
                                                         TicketEvent.action == "auto_closed"))
        told = (await s.scalars(select(OutboxMessage.text).where(OutboxMessage.openid == RESIDENT))).all()
    assert event is not None and event.note == "未评价"
    assert any("自动结案" in text for text in told)


async def test_a_rated_ticket_is_closed_without_the_unrated_note(wechat: WeChat, db: Database, clock: Clock) -> None:
    await make_roster(db)
    no = await open_ticket(wechat)
    await wechat.send("o_member_wang", f"办结 {no} 灯已换好")
    await wechat.send(RESIDENT, "基本满意")
    clock.advance(days=8)
    assert (await run_tick(db, clock))["auto_closed"] == 1
    t = await state(db, no)
    assert (t.state, t.rating) == ("closed", 4)
