"""The ticket desk's core: recording events, conditional state transitions,
notifications through the outbox and placing a ticket on its chain.

Transitions are conditional UPDATEs on the current state, so two people
acting on one ticket at the same moment cannot both win."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db import affected
from bot.delivery.outbox import enqueue
from bot.domain import assignment
from bot.domain.assignment import STAFF, Chain, Choice
from bot.domain.tickets.states import ASSIGNED, LEVEL_TITLE_KEY, OPEN, surname
from bot.models import (
    Person,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from bot.texts import Texts

NOTICE_CHARS = 300  # of a request's text in a notice to its handler (lists show 40)
_FOLLOWERS = select(TicketFollower.openid).where(TicketFollower.ticket_id == bindparam("ticket_id"))  # prebuilt


class DeskCore:
    """What every ticket action builds on: the event record, conditional
    transitions, notifications and the assignment chain, bound to one
    transaction and one moment."""

    def __init__(self, session: AsyncSession, config: Config, texts: Texts, now: datetime,
                 category_name: Callable[[str], str], tokens: Callable[[str], list[str]] | None = None) -> None:
        self.session = session
        self.config = config
        self.texts = texts
        self.now = now
        self.category_name = category_name
        self.tokens = tokens or (lambda text: list(text))


    def record(self, ticket: Ticket, action: str, *, actor_openid: str | None = None,
               actor_person: Person | None = None, from_state: str | None = None, to_state: str | None = None,
               note: str = "", data: dict[str, Any] | None = None) -> None:
        self.session.add(TicketEvent(
            ticket_id=ticket.id, at=self.now, action=action, actor_openid=actor_openid,
            actor_person_id=actor_person.id if actor_person else None, from_state=from_state, to_state=to_state,
            note=note, data=data or {}))

    async def transition(self, ticket: Ticket, to_state: str, from_states: Sequence[str],
                          **values: Any) -> bool:
        """Move `ticket` to `to_state` if it is still in one of `from_states`."""
        result = await self.session.execute(
            update(Ticket).where(Ticket.id == ticket.id, Ticket.state.in_(from_states))
            .values(state=to_state, updated_at=self.now, **values)
            .execution_options(synchronize_session=False)
        )
        if affected(result) != 1:
            await self.session.refresh(ticket)
            return False
        await self.session.refresh(ticket)
        return True

    def notify_person(self, person: Person, kind: str, key: str, ticket: Ticket | None, **fields: Any) -> None:
        """A notice to one person; a handler reads the whole request (up to
        NOTICE_CHARS), never an excerpt cut before the part that matters."""
        if ticket is not None and "text" in fields:
            fields["text"] = ticket.text if len(ticket.text) <= NOTICE_CHARS else ticket.text[:NOTICE_CHARS] + "…"
        enqueue(self.session, kind=kind, text=self.texts(key, **fields), now=self.now, person_id=person.id,
                ticket_id=ticket.id if ticket else None)

    async def notify_residents(self, ticket: Ticket, kind: str, key: str, **fields: Any) -> None:
        """The owner gets the full notice; merged followers only the ticket's state
        (never the owner's words, household, room or the handler's notes)."""
        text = self.texts(key, **self.ticket_fields(ticket), **fields)
        enqueue(self.session, kind=kind, text=text, now=self.now, openid=ticket.openid, ticket_id=ticket.id)
        followers = (await self.session.scalars(_FOLLOWERS, {"ticket_id": ticket.id})).all()
        if followers:
            update_text = self.texts("security.follower_update", **self.ticket_fields(ticket))
            for openid in dict.fromkeys(followers):
                if openid != ticket.openid:
                    enqueue(self.session, kind=kind, text=update_text, now=self.now, openid=openid,
                            ticket_id=ticket.id)

    async def notify_staff(self, ticket: Ticket, kind: str, key: str, staff: Sequence[Person] | None = None,
                           **fields: Any) -> list[Person]:
        if staff is None:
            chain = await assignment.load_chain(self.session, household_id=None, building_id=None,
                                                compound_id=None, community_id=ticket.community_id)
            staff = chain.staff
        on_duty = [p for p in staff if assignment.available(p)]
        dispatchers = self.config.tickets.unplaced_staff_phones
        if ticket.community_id is None and dispatchers:
            on_duty = [p for p in on_duty if p.phone in dispatchers]
        for person in on_duty:
            self.notify_person(person, kind, key, ticket, **self.ticket_fields(ticket), **fields)
        return on_duty

    def ticket_fields(self, ticket: Ticket) -> dict[str, Any]:
        excerpt = ticket.text if len(ticket.text) <= 40 else ticket.text[:40] + "…"
        return {"no": ticket.id, "category": self.category_name(ticket.category), "text": excerpt,
                "place": ticket.location or self.texts("ticket.no_place"),
                "urgent_mark": self.texts("ticket.urgent_mark") if ticket.urgent else "",
                "state": self.texts(f"state.{ticket.state}")}

    async def handler_label(self, ticket: Ticket, assignee: Person | None = None) -> str:
        """Who handles the ticket, as the resident reads it: role and surname (`assignee`:
        the person already at hand, when it is the ticket's assignee)."""
        if ticket.assignee_id is None:
            return self.texts("role.staff")
        person = assignee if assignee is not None and assignee.id == ticket.assignee_id \
            else await self.session.get(Person, ticket.assignee_id)
        return self.handler_title(ticket, person.name if person is not None else None)

    def handler_title(self, ticket: Ticket, name: str | None) -> str:
        """handler_label with the assignee's name at hand (None: no such person)."""
        if ticket.assignee_id is None or name is None:
            return self.texts("role.staff")
        title = self.texts(LEVEL_TITLE_KEY.get(ticket.level, "role.member"))
        if ticket.level == STAFF:
            return title
        return self.texts("role.person", title=title, surname=surname(name))

    async def chain_for(self, ticket: Ticket) -> Chain:
        return await assignment.load_chain(self.session, household_id=ticket.household_id,
                                           building_id=ticket.building_id, compound_id=ticket.compound_id,
                                           community_id=ticket.community_id)

    def _due(self, category: str, urgent: bool, start: datetime) -> tuple[datetime, datetime]:
        from bot.domain.deadlines import calendar_from_config, due_times

        return due_times(self.config.tickets.deadlines, calendar_from_config(self.config.tickets),
                         category=category, urgent=urgent, start=start)

    def _place(self, ticket: Ticket, choice: Choice) -> None:
        """Put `ticket` on `choice`: a person, or the triage queue (person None)."""
        ticket.updated_at = self.now
        if choice.person is not None:
            ticket.state, ticket.assignee_id, ticket.level = ASSIGNED, choice.person.id, choice.level
            ticket.assigned_at, ticket.reminded_at = self.now, None
            ticket.accept_due_at, _ = self._due(ticket.category, ticket.urgent, self.now)
        else:
            ticket.state, ticket.assignee_id, ticket.level = OPEN, None, STAFF

    async def _announce(self, ticket: Ticket, choice: Choice, from_state: str | None, *, action: str,
                        actor: Person | None = None, note: str = "", notify_key: str = "notify.new_ticket",
                        staff: Sequence[Person] | None = None) -> None:
        """Record the placement on the timeline and tell whoever now has the ticket."""
        if choice.person is not None:
            self.record(ticket, action, actor_person=actor, from_state=from_state, to_state=ASSIGNED, note=note,
                        data={"assignee": choice.person.id, "level": choice.level})
            self.notify_person(choice.person, "new_ticket", notify_key, ticket, **self.ticket_fields(ticket),
                               note=note)
        else:
            self.record(ticket, "triaged" if action == "assigned" else action, actor_person=actor,
                        from_state=from_state, to_state=OPEN, note=note, data={"level": STAFF})
            await self.notify_staff(ticket, "triage", "notify.triage", staff, note=note)

    async def _assign(self, ticket: Ticket, choice: Choice, *, action: str, actor: Person | None = None,
                      note: str = "", notify_key: str = "notify.new_ticket") -> None:
        """Move `ticket` to `choice` and tell them."""
        from_state = ticket.state
        self._place(ticket, choice)
        await self._announce(ticket, choice, from_state, action=action, actor=actor, note=note,
                             notify_key=notify_key)
