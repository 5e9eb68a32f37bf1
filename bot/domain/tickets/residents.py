"""What a resident may do with their tickets: look, urge, cancel, rate, reopen."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, or_, select

from bot.domain.assignment import STAFF
from bot.domain.identity import Sender
from bot.domain.tickets.escalation import Escalation
from bot.domain.tickets.states import ACTIVE, ASSIGNED, CANCELLED, CLOSED, OPEN, RESOLVED, Outcome
from bot.models import (
    OutboxMessage,
    Person,
    Ticket,
    TicketEvent,
    TicketFollower,
)


class ResidentDesk(Escalation):
    """Residents' actions (urging may climb the chain)."""

    async def resident_ticket(self, sender: Sender, number: int | None, states: Sequence[str]) -> Outcome:
        """The resident's ticket `number`, or their latest in `states` when no number is given."""
        if number is not None:
            ticket = await self.session.get(Ticket, number)
            if ticket is None:
                return Outcome(False, "ticket.not_found", {"no": number})
            if ticket.openid != sender.openid:
                follower = await self.session.get(TicketFollower, (ticket.id, sender.openid))
                if follower is None:
                    return Outcome(False, "ticket.not_yours", {"no": number})
            return Outcome(True, "", self.ticket_fields(ticket), ticket)
        ticket = await self.session.scalar(
            select(Ticket).where(Ticket.openid == sender.openid, Ticket.state.in_(states))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))
        if ticket is None:
            return Outcome(False, "ticket.none_waiting")
        return Outcome(True, "", self.ticket_fields(ticket), ticket)

    async def resident_view(self, sender: Sender, ticket: Ticket) -> tuple[dict[str, object], bool]:
        """The fields of `ticket` the sender may read, and whether they read it as a
        merged follower (their own words and the state only)."""
        follower = await self.follower(sender.openid, ticket)
        if follower is None:
            return self.ticket_fields(ticket), False
        return self.follower_fields(ticket, follower), True

    async def last_event(self, ticket: Ticket) -> TicketEvent | None:
        return await self.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                         .order_by(TicketEvent.id.desc()).limit(1))

    async def my_tickets(self, sender: Sender, limit: int = 5) -> list[Ticket]:
        followed = select(TicketFollower.ticket_id).where(TicketFollower.openid == sender.openid)
        return list((await self.session.scalars(
            select(Ticket).where(or_(Ticket.openid == sender.openid, Ticket.id.in_(followed)))
            .order_by(Ticket.id.desc()).limit(limit))).all())

    async def urge(self, sender: Sender, number: int | None) -> Outcome:
        """催办: the current handler is told each time; a resident's repeated urges
        within the cooldown count once; the ticket climbs a level after enough
        urges, and only once its handler has had their own reminder period."""
        found = await self.resident_ticket(sender, number, ACTIVE)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in ACTIVE:
            return Outcome(False, "urge.not_open", self.ticket_fields(ticket), ticket)
        follower = await self.follower(sender.openid, ticket)
        if follower is not None:  # one more report of the same matter, never an escalation
            ticket.updated_at = self.now
            self.record(ticket, "follower_urged", actor_openid=sender.openid)
            return Outcome(True, "security.follower_urged", self.follower_fields(ticket, follower), ticket)
        cooldown = timedelta(minutes=self.config.tickets.urge_cooldown_min)
        last = await self.session.scalar(
            select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket.id,
                                                   TicketEvent.action == "urged",
                                                   TicketEvent.actor_openid == sender.openid))
        if cooldown and last is not None and self.now - last < cooldown:
            left = max(1, math.ceil((cooldown - (self.now - last)).total_seconds() / 60))
            return Outcome(False, "urge.cooldown", {**self.ticket_fields(ticket), "minutes": left,
                                                    "handler": await self.handler_label(ticket)}, ticket)
        ticket.urge_count += 1
        ticket.updated_at = self.now
        self.record(ticket, "urged", actor_openid=sender.openid, data={"count": ticket.urge_count})
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "reminder", "notify.urged", ticket, **self.ticket_fields(ticket),
                                   count=ticket.urge_count)
        else:
            await self.notify_staff(ticket, "reminder", "notify.urged", count=ticket.urge_count)
        if ticket.urge_count >= self.config.tickets.urge_escalate_after and ticket.level != STAFF \
                and self._reminder_period_over(ticket):
            await self.escalate(ticket, reason=self.texts("escalate.reason_urged", count=ticket.urge_count))
            return Outcome(True, "urge.escalated", {**self.ticket_fields(ticket),
                                                    "handler": await self.handler_label(ticket)}, ticket)
        return Outcome(True, "urge.done", {**self.ticket_fields(ticket),
                                           "handler": await self.handler_label(ticket)}, ticket)

    def _reminder_period_over(self, ticket: Ticket) -> bool:
        """Whether the current handler has had the ticket for its accept time
        (working time, clock time when urgent) since it came to them."""
        from bot.domain.deadlines import calendar_from_config, rule_for

        since = ticket.assigned_at or ticket.created_at
        rule = rule_for(self.config.tickets.deadlines, category=ticket.category, urgent=ticket.urgent)
        if ticket.urgent:
            return since + timedelta(hours=rule.accept_h) <= self.now
        return calendar_from_config(self.config.tickets).add_working_hours(since, rule.accept_h) <= self.now

    async def active_tickets(self, sender: Sender, limit: int = 5) -> list[Ticket]:
        """The sender's own tickets still in progress, newest first."""
        return list((await self.session.scalars(
            select(Ticket).where(Ticket.openid == sender.openid, Ticket.state.in_(ACTIVE))
            .order_by(Ticket.id.desc()).limit(limit))).all())

    async def viewable(self, sender: Sender, number: int) -> Outcome:
        """Ticket `number` if the sender may look at it: their own or followed,
        or one they handle, handled, or may act on as staff."""
        found = await self.resident_ticket(sender, number, ())
        if found.ok or found.ticket is not None or sender.person is None:
            return found
        ticket = await self.session.get(Ticket, number)
        if ticket is None:
            return found
        person = sender.person
        if self._may_act(person, ticket) or await self._urgent_notified(person, ticket):
            return Outcome(True, "", self.ticket_fields(ticket), ticket)
        handled = await self.session.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.actor_person_id == person.id))
        told = await self.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.ticket_id == ticket.id, OutboxMessage.person_id == person.id))
        if handled or told:
            return Outcome(True, "", self.ticket_fields(ticket), ticket)
        return found

    async def cancel(self, sender: Sender, number: int | None) -> Outcome:
        found = await self.resident_ticket(sender, number, ACTIVE)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if not self.owns(sender.openid, ticket):
            return Outcome(False, "security.owner_only", {"no": ticket.id})
        before = ticket.state
        if not await self.transition(ticket, CANCELLED, ACTIVE, closed_at=self.now):
            return Outcome(False, "cancel.too_late", self.ticket_fields(ticket), ticket)
        self.record(ticket, "cancelled", actor_openid=sender.openid, from_state=before, to_state=CANCELLED)
        for person in await self.people_told(ticket):
            self.notify_person(person, "notice", "notify.cancelled", ticket, **self.ticket_fields(ticket))
        return Outcome(True, "cancel.done", self.ticket_fields(ticket), ticket)

    async def people_told(self, ticket: Ticket) -> list[Person]:
        """Everyone of the roster who was told of the ticket (assignees, staff at
        triage, the urgent fan-out), and whoever has it now."""
        told = set((await self.session.scalars(select(OutboxMessage.person_id).where(
            OutboxMessage.ticket_id == ticket.id, OutboxMessage.person_id.is_not(None)))).all())
        if ticket.assignee_id is not None:
            told.add(ticket.assignee_id)
        if not told:
            return []
        return list((await self.session.scalars(select(Person).where(Person.id.in_(told))
                                                .order_by(Person.id))).all())

    async def awaiting_rating(self, sender: Sender) -> Ticket | None:
        """The sender's latest ticket waiting for their verdict: resolved, or closed and not yet rated."""
        return await self.session.scalar(
            select(Ticket).where(Ticket.openid == sender.openid, or_(
                Ticket.state == RESOLVED, (Ticket.state == CLOSED) & Ticket.rating.is_(None) & (
                    Ticket.resolved_at.is_not(None))))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))

    async def awaiting_ratings(self, sender: Sender, limit: int = 5) -> list[Ticket]:
        """The sender's tickets waiting for a verdict: resolved or closed, not yet rated, newest first."""
        return list((await self.session.scalars(
            select(Ticket).where(Ticket.openid == sender.openid, Ticket.rating.is_(None), or_(
                Ticket.state == RESOLVED, (Ticket.state == CLOSED) & Ticket.resolved_at.is_not(None)))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit))).all())

    async def rate(self, sender: Sender, number: int | None, rating: int | None, words: str = "",
                   solved: bool | None = None) -> Outcome:
        """回访: the resident's rating (1-5) and whether it was solved; 不满意 (1-2) or
        未解决 reopens a resolved ticket to the same assignee."""
        if number is None:
            ticket = await self.awaiting_rating(sender)
            if ticket is None:
                return Outcome(False, "rate.nothing")
        else:
            found = await self.resident_ticket(sender, number, (RESOLVED,))
            if not found.ok or found.ticket is None:
                return found
            ticket = found.ticket
            if not self.owns(sender.openid, ticket):
                return Outcome(False, "security.owner_only", {"no": ticket.id})
        if ticket.state not in (RESOLVED, CLOSED):
            return Outcome(False, "rate.not_resolved", self.ticket_fields(ticket), ticket)
        if ticket.state == RESOLVED and (solved is False or (rating is not None and rating <= 2)):
            return await self.reopen(ticket, sender, rating, words)
        if rating is None:
            return Outcome(False, "rate.ask", self.ticket_fields(ticket), ticket)
        ticket.rating, ticket.solved, ticket.updated_at = rating, solved is not False, self.now
        self.record(ticket, "rated", actor_openid=sender.openid, note=words, data={"rating": rating})
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "notice", "notify.rated", ticket, **self.ticket_fields(ticket),
                                   rating=rating)
        return Outcome(True, "rate.thanks", {**self.ticket_fields(ticket), "rating": rating}, ticket)

    async def reopen(self, ticket: Ticket, sender: Sender, rating: int | None, words: str) -> Outcome:
        """不满意 / 未解决: back to the same assignee with the resident's words."""
        if not self.owns(sender.openid, ticket):
            return Outcome(False, "security.owner_only", {"no": ticket.id})
        if not await self.transition(ticket, ASSIGNED if ticket.assignee_id else OPEN, (RESOLVED,),
                                      rating=rating, solved=False, resolved_at=None, reopens=Ticket.reopens + 1,
                                      accepted_at=None, reminded_at=None):
            return Outcome(False, "rate.not_resolved", self.ticket_fields(ticket), ticket)
        ticket.accept_due_at, ticket.resolve_due_at = self._due(ticket.category, ticket.urgent, self.now)
        self.record(ticket, "reopened", actor_openid=sender.openid, from_state=RESOLVED, to_state=ticket.state,
                    note=words, data={"rating": rating})
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "reopened", "notify.reopened", ticket, **self.ticket_fields(ticket),
                                    words=words or self.texts("rate.unsatisfied_default"))
        else:
            await self.notify_staff(ticket, "reopened", "notify.reopened",
                                     words=words or self.texts("rate.unsatisfied_default"))
        return Outcome(True, "rate.reopened", {**self.ticket_fields(ticket),
                                               "handler": await self.handler_label(ticket)}, ticket)
