"""Who may do what to a ticket: one test per permission rule and per refusal,
at the domain level (TicketDesk on one session, no HTTP).

Every refusal is checked the same way: the outcome is refused with the
reply key that says why, and nothing changed anywhere, neither a ticket nor
its timeline nor the outbox (nor followers, corrections or people).

The roster (tests/roster.py): 王建国 is the party member linked to 3栋2单元501
and 502, 张秀英 to 601; 李卫东 heads 3栋; 陈志明 is the branch secretary;
刘芳 is staff of 北团社区; 黄丽 is staff of 西康社区.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.config import Config
from bot.db import Database
from bot.domain.identity import load_sender
from bot.domain.tickets import Outcome, Request, TicketDesk
from bot.models import (
    CategoryCorrection,
    Household,
    OutboxMessage,
    Person,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from bot.texts import texts
from tests.conftest import make_config
from tests.roster import Roster, make_roster

RESIDENT = "o_resident_zhou"  # 3栋2单元501
NEIGHBOUR = "o_neighbour_sun"  # 3栋2单元502
STRANGER = "o_stranger"  # bound nowhere
LIGHTS = "3栋楼道灯坏了好几天了"
GAS = "楼道里好大的煤气味，快来人"
WATCHED = (Ticket, TicketEvent, OutboxMessage, TicketFollower, CategoryCorrection, Person)


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a ticket action may touch."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with db.reading() as s:
        for model in WATCHED:
            columns = [c.key for c in model.__mapper__.column_attrs]
            found = (await s.scalars(select(model).order_by(*model.__table__.primary_key.columns))).all()
            rows[model.__tablename__] = [tuple(getattr(r, c) for c in columns) for r in found]
    return rows


class World:
    """The roster, residents bound to their homes, and a desk per transaction."""

    def __init__(self, db: Database, roster: Roster, config: Config) -> None:
        self.db, self.roster, self.config = db, roster, config
        self.now = datetime(2024, 5, 15, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Beijing

    def desk(self, session: Any) -> TicketDesk:
        return TicketDesk(session, self.config, texts, self.now, str)

    async def bind(self, openid: str, room: str) -> None:
        async with self.db.transaction() as s:
            sender = await load_sender(s, openid, self.now)
            sender.resident.household_id = await s.scalar(select(Household.id).where(Household.room == room))

    async def report(self, openid: str = RESIDENT, text: str = LIGHTS, *, category: str = "facilities",
                     urgent: bool = False, matched: tuple[str, ...] = ()) -> Outcome:
        async with self.db.transaction() as s:
            sender = await load_sender(s, openid, self.now)
            request = Request(text=text, category=category, kind="help", urgent=urgent, confidence=0.9,
                              matched=matched or (text,))
            return await self.desk(s).open_request(sender, request)

    async def ticket_no(self, openid: str = RESIDENT, text: str = LIGHTS, **kw: Any) -> int:
        outcome = await self.report(openid, text, **kw)
        assert outcome.ok and outcome.ticket is not None
        return outcome.ticket.id

    async def volunteer(self, who: Person, action: str, *args: Any) -> Outcome:
        """`who` (a volunteer or staff) does `action` on the desk."""
        async with self.db.transaction() as s:
            person = await s.get(Person, who.id)
            assert person is not None
            outcome: Outcome = await getattr(self.desk(s), action)(person, *args)
            return outcome

    async def resident(self, openid: str, action: str, *args: Any, **kw: Any) -> Outcome:
        async with self.db.transaction() as s:
            sender = await load_sender(s, openid, self.now)
            outcome: Outcome = await getattr(self.desk(s), action)(sender, *args, **kw)
            return outcome

    async def ok(self, call: Awaitable[Outcome], key: str) -> Outcome:
        outcome = await call
        assert (outcome.ok, outcome.key) == (True, key), outcome
        return outcome

    async def refuses(self, call: Awaitable[Outcome], key: str) -> None:
        """`call` is refused with the reply `key` and changes nothing."""
        before = await snapshot(self.db)  # `call` has not started yet: a coroutine runs when awaited
        outcome = await call
        assert (outcome.ok, outcome.key) == (False, key), outcome
        assert await snapshot(self.db) == before

    async def state(self, no: int) -> tuple[str, int | None, str]:
        async with self.db.reading() as s:
            t = await s.get(Ticket, no)
            assert t is not None
            return t.state, t.assignee_id, t.level


async def world_of(db: Database) -> World:
    world = World(db, await make_roster(db), make_config(db.url))
    await world.bind(RESIDENT, "501")
    await world.bind(NEIGHBOUR, "502")
    return world


async def resolved(world: World) -> int:
    no = await world.ticket_no()
    await world.ok(world.volunteer(world.roster.member, "resolve", no, "已修好"), "resolve.done")
    return no


# ------------------------------------------------------------------ accept


async def test_accept_only_the_assignee_may_accept_a_ticket(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.member2, "accept", no), "refused.not_assigned")
    await w.refuses(w.volunteer(w.roster.head, "accept", no), "refused.not_assigned")
    await w.ok(w.volunteer(w.roster.member, "accept", no), "accept.done")
    assert await w.state(no) == ("accepted", w.roster.member.id, "member")


async def test_accept_staff_of_another_community_may_not_accept(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.other_staff, "accept", no), "refused.not_assigned")


async def test_accept_a_volunteer_not_notified_of_an_urgent_ticket_may_not_accept_it(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no(text=GAS, category="safety", urgent=True)
    # member, building head and staff were told at once; 张秀英 and the secretary were not
    await w.refuses(w.volunteer(w.roster.member2, "accept", no), "refused.not_assigned")
    await w.refuses(w.volunteer(w.roster.secretary, "accept", no), "refused.not_assigned")


async def test_accept_anyone_notified_of_an_urgent_ticket_may_take_it_and_the_first_wins(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no(text=GAS, category="safety", urgent=True)
    taken = await w.ok(w.volunteer(w.roster.head, "accept", no), "accept.done")
    assert await w.state(no) == ("accepted", w.roster.head.id, "building_head")
    async with db.reading() as s:
        told = (await s.scalars(select(OutboxMessage.text).where(
            OutboxMessage.openid == RESIDENT, OutboxMessage.kind == "progress"))).all()
    assert told == [f"您的工单#{no}【safety】已由楼栋长李同志接单处理。"]
    taken = await w.volunteer(w.roster.member, "accept", no)
    assert (taken.ok, taken.key, taken.fields["name"]) == (False, "accept.taken", "李卫东")
    await w.refuses(w.volunteer(w.roster.member, "accept", no), "accept.taken")
    await w.refuses(w.volunteer(w.roster.head, "accept", no), "accept.already_yours")


async def test_accept_staff_of_the_community_may_take_a_ticket_at_staff_level(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.ok(w.volunteer(w.roster.staff, "accept", no), "accept.done")
    assert await w.state(no) == ("accepted", w.roster.staff.id, "staff")


async def test_accept_a_resolved_ticket_cannot_be_accepted(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.volunteer(w.roster.member, "accept", no), "refused.state")


async def test_accept_a_ticket_that_does_not_exist_is_named(db: Database) -> None:
    w = await world_of(db)
    await w.refuses(w.volunteer(w.roster.member, "accept", 999), "ticket.not_found")


# ---------------------------------------------------------------- progress


async def test_progress_only_the_assignee_may_report_progress(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.head, "progress", no, "在看"), "refused.not_assigned")
    await w.refuses(w.volunteer(w.roster.member2, "progress", no, "在看"), "refused.not_assigned")


async def test_progress_needs_a_note(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.member, "progress", no, "  "), "progress.need_note")


async def test_progress_on_a_resolved_ticket_is_refused(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.volunteer(w.roster.member, "progress", no, "又去看了"), "refused.state")


# ----------------------------------------------------------------- resolve


async def test_resolve_only_the_assignee_may_resolve(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.member2, "resolve", no, "好了"), "refused.not_assigned")
    await w.refuses(w.volunteer(w.roster.secretary, "resolve", no, "好了"), "refused.not_assigned")


async def test_resolve_a_ticket_resolved_already_is_refused(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.volunteer(w.roster.member, "resolve", no, "真的好了"), "refused.state")


# --------------------------------------------------------------- hand back


async def test_hand_back_only_the_assignee_may_hand_a_ticket_back(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.head, "hand_back", no, "不归我管"), "refused.not_assigned")
    await w.refuses(w.volunteer(w.roster.member2, "hand_back", no, "不归我管"), "refused.not_assigned")
    # staff reassign; they do not hand back a ticket that is not theirs
    await w.refuses(w.volunteer(w.roster.staff, "hand_back", no, "不归我管"), "refused.not_assigned")


async def test_hand_back_by_the_assignee_climbs_one_level(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.ok(w.volunteer(w.roster.member, "hand_back", no, "不在我片区"), "handback.done")
    assert await w.state(no) == ("assigned", w.roster.head.id, "building_head")


async def test_hand_back_a_resolved_ticket_is_refused(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.volunteer(w.roster.member, "hand_back", no, "算了"), "refused.state")


# ------------------------------------------------------------------- leave


async def test_leave_a_member_on_leave_is_skipped_and_keeps_what_they_hold(db: Database) -> None:
    w = await world_of(db)
    held = await w.ticket_no()
    leave = await w.ok(w.volunteer(w.roster.member, "set_leave", True), "leave.on")
    assert leave.fields == {"pending": 1}
    assert await w.state(held) == ("assigned", w.roster.member.id, "member")  # not taken away
    fresh = await w.ticket_no(NEIGHBOUR, "2单元门口的垃圾桶满了没人倒", category="sanitation")
    assert await w.state(fresh) == ("assigned", w.roster.head.id, "building_head")
    await w.ok(w.volunteer(w.roster.member, "set_leave", False), "leave.off")
    back = await w.ticket_no(NEIGHBOUR, "5楼的窗户玻璃碎了", category="facilities")
    assert await w.state(back) == ("assigned", w.roster.member.id, "member")


async def test_leave_a_member_on_leave_is_not_told_of_an_urgent_ticket(db: Database) -> None:
    w = await world_of(db)
    await w.ok(w.volunteer(w.roster.member, "set_leave", True), "leave.on")
    no = await w.ticket_no(text=GAS, category="safety", urgent=True)
    async with db.reading() as s:
        told = set((await s.scalars(select(OutboxMessage.person_id).where(OutboxMessage.ticket_id == no))).all())
    assert told == {w.roster.head.id, w.roster.staff.id}
    await w.refuses(w.volunteer(w.roster.member, "accept", no), "refused.not_assigned")


async def test_leave_no_one_on_leave_can_be_given_a_ticket(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.ok(w.volunteer(w.roster.member2, "set_leave", True), "leave.on")
    await w.refuses(w.volunteer(w.roster.staff, "reassign", no, "张秀英"), "reassign.unavailable")


# ------------------------------------------------------------------- close


async def test_close_only_staff_may_close(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.member, "close", no, "结案"), "refused.not_staff")


async def test_close_staff_only_close_tickets_of_their_own_community(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.other_staff, "close", no, "结案"), "refused.other_community")


async def test_close_needs_a_ticket_number(db: Database) -> None:
    w = await world_of(db)
    await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.staff, "close", None, "结案"), "ticket.need_number")


async def test_close_a_closed_or_cancelled_ticket_is_refused(db: Database) -> None:
    w = await world_of(db)
    closed = await w.ticket_no()
    await w.ok(w.volunteer(w.roster.staff, "close", closed, "已回访"), "close.done")
    await w.refuses(w.volunteer(w.roster.staff, "close", closed, "再关一次"), "refused.state")
    cancelled = await w.ticket_no(NEIGHBOUR, "2单元门口的垃圾桶满了没人倒", category="sanitation")
    await w.ok(w.resident(NEIGHBOUR, "cancel", cancelled), "cancel.done")
    await w.refuses(w.volunteer(w.roster.staff, "close", cancelled, "结案"), "refused.state")


# ---------------------------------------------------------------- reassign


async def test_reassign_only_staff_may_reassign(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.member, "reassign", no, "张秀英"), "refused.not_staff")


async def test_reassign_staff_only_reassign_tickets_of_their_own_community(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.other_staff, "reassign", no, "张秀英"), "refused.other_community")


async def test_reassign_only_to_someone_of_the_same_community(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.staff, "reassign", no, "黄丽"), "reassign.no_one")  # 西康社区
    await w.refuses(w.volunteer(w.roster.staff, "reassign", no, "赵无名"), "reassign.no_one")


async def test_reassign_a_resolved_ticket_is_refused(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.volunteer(w.roster.staff, "reassign", no, "张秀英"), "refused.state")


async def test_reassign_moves_the_ticket_and_tells_both(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.ok(w.volunteer(w.roster.staff, "reassign", no, "张秀英"), "reassign.done")
    assert await w.state(no) == ("assigned", w.roster.member2.id, "member")
    async with db.reading() as s:
        kinds = (await s.execute(select(OutboxMessage.person_id, OutboxMessage.kind).where(
            OutboxMessage.ticket_id == no, OutboxMessage.kind != "new_ticket").order_by(OutboxMessage.id))).all()
    assert [tuple(k) for k in kinds] == [(w.roster.member.id, "notice")]


# ------------------------------------------------------------ recategorise


async def test_recategorise_only_staff_may_recategorise(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.member, "recategorise", no, "parking", ["parking", "facilities"]),
                    "refused.not_staff")


async def test_recategorise_staff_only_of_their_own_community(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.other_staff, "recategorise", no, "parking", ["parking", "facilities"]),
                    "refused.other_community")


async def test_recategorise_only_to_a_known_category(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.volunteer(w.roster.staff, "recategorise", no, "weather", ["parking", "facilities"]),
                    "recategorise.unknown")


# -------------------------------------------------------------------- urge


async def test_urge_only_the_reporter_or_a_follower_may_urge(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.resident(STRANGER, "urge", no), "ticket.not_yours")


async def test_urge_a_closed_ticket_needs_no_urging(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.ok(w.volunteer(w.roster.staff, "close", no, "已处理"), "close.done")
    await w.refuses(w.resident(RESIDENT, "urge", no), "urge.not_open")


# ------------------------------------------------------------------ cancel


async def test_cancel_only_the_reporter_may_cancel(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.resident(STRANGER, "cancel", no), "ticket.not_yours")


async def test_cancel_a_resident_whose_report_was_merged_may_not_cancel_the_ticket(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    merged = await w.report(NEIGHBOUR, LIGHTS)
    assert merged.key == "ticket.merged" and merged.ticket is not None and merged.ticket.id == no
    await w.refuses(w.resident(NEIGHBOUR, "cancel", no), "security.owner_only")
    assert (await w.state(no))[0] == "assigned"


async def test_cancel_is_too_late_once_resolved(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.resident(RESIDENT, "cancel", no), "cancel.too_late")


# -------------------------------------------------------------------- rate


async def test_rate_only_the_reporter_may_rate(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.resident(STRANGER, "rate", no, 1), "ticket.not_yours")
    assert (await w.state(no))[0] == "resolved"  # a stranger's 1 does not reopen it


async def test_rate_a_ticket_not_yet_resolved_is_refused(db: Database) -> None:
    w = await world_of(db)
    no = await w.ticket_no()
    await w.refuses(w.resident(RESIDENT, "rate", no, 5), "rate.not_resolved")


async def test_rate_with_nothing_waiting_for_a_verdict_is_refused(db: Database) -> None:
    w = await world_of(db)
    await w.ticket_no()
    await w.refuses(w.resident(RESIDENT, "rate", None, 5), "rate.nothing")


async def test_rate_without_a_score_asks_for_one(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.refuses(w.resident(RESIDENT, "rate", no, None), "rate.ask")


async def test_rate_three_keeps_a_ticket_resolved_two_reopens_it(db: Database) -> None:
    w = await world_of(db)
    no = await resolved(w)
    await w.ok(w.resident(RESIDENT, "rate", no, 3), "rate.thanks")
    assert (await w.state(no))[0] == "resolved"
    await w.ok(w.resident(RESIDENT, "rate", no, 2), "rate.reopened")
    assert await w.state(no) == ("assigned", w.roster.member.id, "member")


# ------------------------------------------------------- who gets a ticket


async def test_placing_an_urgent_report_never_joins_an_open_ticket(db: Database) -> None:
    w = await world_of(db)
    first = await w.ticket_no(text=GAS, category="safety", urgent=True)
    second = await w.report(NEIGHBOUR, GAS, category="safety", urgent=True)
    assert second.key == "ticket.created_urgent" and second.ticket is not None and second.ticket.id != first


async def test_placing_escalation_skips_the_person_who_already_has_the_ticket(db: Database) -> None:
    from bot.models import Building

    w = await world_of(db)
    async with db.transaction() as s:  # 王建国 is both the linked member and the head of 3栋
        building = await s.scalar(select(Building).where(Building.head_id == w.roster.head.id))
        assert building is not None
        building.head_id = w.roster.member.id
    no = await w.ticket_no()
    async with db.transaction() as s:
        ticket = await s.get(Ticket, no)
        assert ticket is not None
        await w.desk(s).escalate(ticket, reason="超时未接单")
    assert await w.state(no) == ("assigned", w.roster.secretary.id, "branch_secretary")
