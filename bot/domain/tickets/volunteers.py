"""What a volunteer (the assignee) does: accept, progress, resolve, hand back,
list open work, take leave."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select

from bot.domain import assignment
from bot.domain.tickets.policy import DeskPolicy
from bot.domain.tickets.states import ACCEPTED, ASSIGNED, OPEN, RESOLVED, Outcome
from bot.models import (
    Person,
    Ticket,
)
from nlp.places import to_int

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
_DATE = re.compile(r"(\d{1,2})\s?月\s?(\d{1,2})\s?[日号]?")
_DAYS = re.compile(r"([0-9]{1,3}|[一二两三四五六七八九十]{1,3})\s?(?:天|日)")


def leave_until(note: str, now: datetime) -> datetime | None:
    """When a leave written as ``到12月5日`` or ``三天`` ends: the start of the
    next day (Beijing time) after the last day of leave; None without a date."""
    plain = unicodedata.normalize("NFKC", note)
    today = now.astimezone(CHINA).date()
    found = _DATE.search(plain)
    if found is not None:
        month, day = int(found.group(1)), int(found.group(2))
        try:
            last = date(today.year, month, day)
            if last < today:
                last = date(today.year + 1, month, day)
        except ValueError:
            return None
    else:
        days = _DAYS.search(plain)
        count = to_int(days.group(1)) if days else None
        if not count or count > 366:
            return None
        last = today + timedelta(days=count - 1)
    return datetime.combine(last + timedelta(days=1), time(0), CHINA)


class VolunteerDesk(DeskPolicy):
    """Volunteers' actions."""

    async def person_ticket(self, person: Person, number: int | None, states: Sequence[str]) -> Outcome:
        """The volunteer's ticket `number`, or their only one in `states`."""
        if number is not None:
            ticket = await self.session.get(Ticket, number)
            if ticket is None:
                return Outcome(False, "ticket.not_found", {"no": number})
            return Outcome(True, "", self.ticket_fields(ticket), ticket)
        waiting = (await self.session.scalars(
            select(Ticket).where(Ticket.assignee_id == person.id, Ticket.state.in_(states))
            .order_by(Ticket.id).limit(6))).all()
        if not waiting:
            return Outcome(False, "ticket.none_waiting")
        if len(waiting) > 1:
            return Outcome(False, "ticket.which", {"numbers": "、".join(f"#{t.id}" for t in waiting),
                                                   "first": waiting[0].id})
        return Outcome(True, "", self.ticket_fields(waiting[0]), waiting[0])


    async def accept(self, person: Person, number: int | None) -> Outcome:
        found = await self.person_ticket(person, number, (ASSIGNED,))
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        fields = self.ticket_fields(ticket)
        if ticket.state == ACCEPTED and ticket.assignee_id == person.id:
            return Outcome(False, "accept.already_yours", fields, ticket)
        if not await self._may_accept(person, ticket):
            return Outcome(False, "refused.not_assigned", fields, ticket)
        if ticket.state not in (OPEN, ASSIGNED):
            if ticket.state == ACCEPTED and ticket.assignee_id is not None:
                winner = await self.session.get(Person, ticket.assignee_id)
                return Outcome(False, "accept.taken", {**fields, "name": winner.name if winner else ""}, ticket)
            return Outcome(False, "refused.state", fields, ticket)
        before = ticket.state
        on_time = ticket.accept_due_at is None or self.now <= ticket.accept_due_at
        level = ticket.level if ticket.assignee_id == person.id else await self._level_of(person, ticket)
        if not await self.transition(ticket, ACCEPTED, (OPEN, ASSIGNED), assignee_id=person.id,
                                      accepted_at=self.now, level=level):
            winner = await self.session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
            return Outcome(False, "accept.taken", {**self.ticket_fields(ticket),
                                                   "name": winner.name if winner else ""}, ticket)
        _, ticket.resolve_due_at = self._due(ticket.category, ticket.urgent, self.now)
        self.record(ticket, "accepted", actor_person=person, from_state=before, to_state=ACCEPTED,
                    data={"on_time": on_time})
        await self.notify_residents(ticket, "progress", "notify.resident_accepted",
                                     handler=await self.handler_label(ticket))
        return Outcome(True, "accept.done", self.ticket_fields(ticket), ticket)


    async def _in_hand(self, person: Person, number: int | None) -> Outcome:
        """The ticket `person` is working on (number, or their only one), if they may act on it."""
        found = await self.person_ticket(person, number, (ASSIGNED, ACCEPTED))
        if found.ok and found.ticket is not None and not self._may_act(person, found.ticket):
            return Outcome(False, "refused.not_assigned", self.ticket_fields(found.ticket), found.ticket)
        return found

    async def progress(self, person: Person, number: int | None, note: str) -> Outcome:
        found = await self._in_hand(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in (ASSIGNED, ACCEPTED):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        if not note.strip():
            return Outcome(False, "progress.need_note", self.ticket_fields(ticket), ticket)
        if ticket.state == ASSIGNED:
            accepted = await self.accept(person, ticket.id)
            if not accepted.ok:
                return accepted
        self.record(ticket, "progress", actor_person=person, note=note)
        ticket.updated_at = self.now
        await self.notify_residents(ticket, "progress", "notify.resident_progress", note=note)
        return Outcome(True, "progress.done", {**self.ticket_fields(ticket), "note": note}, ticket)

    async def resolve(self, person: Person, number: int | None, note: str) -> Outcome:
        found = await self._in_hand(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        before = ticket.state
        # resolving straight from assigned is also the acceptance (the figures read it so)
        data = {"on_time": ticket.accept_due_at is None or self.now <= ticket.accept_due_at} \
            if before == ASSIGNED else {}
        if not await self.transition(ticket, RESOLVED, (ASSIGNED, ACCEPTED), resolved_at=self.now,
                                      accepted_at=ticket.accepted_at or self.now):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        self.record(ticket, "resolved", actor_person=person, from_state=before, to_state=RESOLVED, note=note,
                    data=data)
        await self.notify_residents(ticket, "resolved", "notify.resident_resolved",
                                     note=note or self.texts("resolve.default_note"))
        return Outcome(True, "resolve.done", self.ticket_fields(ticket), ticket)

    async def hand_back(self, person: Person, number: int | None, reason: str) -> Outcome:
        found = await self.person_ticket(person, number, (ASSIGNED, ACCEPTED))
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.assignee_id != person.id:
            return Outcome(False, "refused.not_assigned", self.ticket_fields(ticket), ticket)
        if ticket.state not in (ASSIGNED, ACCEPTED):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        if not reason.strip(" \t\r\n,，。.、:："):
            return Outcome(False, "handback.need_reason", self.ticket_fields(ticket), ticket)
        chain = await self.chain_for(ticket)
        choice = assignment.next_level(chain, ticket.level)
        if choice.person is not None and choice.person.id == person.id:
            choice = assignment.next_level(chain, choice.level)
        ticket.handbacks += 1
        await self._assign(ticket, choice, action="handed_back", actor=person, note=reason,
                           notify_key="notify.handed_back")
        return Outcome(True, "handback.done", {**self.ticket_fields(ticket),
                                               "handler": await self.handler_label(ticket)}, ticket)

    async def todo(self, person: Person) -> list[Ticket]:
        return list((await self.session.scalars(
            select(Ticket).where(Ticket.assignee_id == person.id, Ticket.state.in_((ASSIGNED, ACCEPTED)))
            .order_by(Ticket.urgent.desc(), Ticket.accept_due_at, Ticket.id).limit(10))).all())

    async def set_leave(self, person: Person, on_leave: bool, until: datetime | None = None) -> Outcome:
        """请假 (until a moment, when given: the clock ends it then) or 销假."""
        pending = len(await self.todo(person))
        if not on_leave and not person.on_leave:
            return Outcome(False, "leave.not_on_leave", {"pending": pending})
        person.on_leave = on_leave
        person.leave_until = until if on_leave else None
        if on_leave and until is not None:
            last_day = (until - timedelta(seconds=1)).astimezone(CHINA)
            shown = self.texts("leave.until_format", month=last_day.month, day=last_day.day)
            return Outcome(True, "leave.on_until", {"pending": pending, "until": shown})
        return Outcome(True, "leave.on" if on_leave else "leave.off", {"pending": pending})
