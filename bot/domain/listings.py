"""Ticket listings and the overdue rule, in one place for the command line,
the figures, the deadline clock and the console.

A ticket is overdue when it waits to be accepted (open or assigned) past its
accept deadline, or waits to be resolved (accepted) past its resolve deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Community, Person, Ticket, TicketEvent

WAITING_ACCEPT = ("open", "assigned")
WAITING_RESOLVE = ("accepted",)


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """The overdue rule, for a ticket in hand."""
    if ticket.state in WAITING_ACCEPT:
        return ticket.accept_due_at is not None and ticket.accept_due_at < now
    if ticket.state in WAITING_RESOLVE:
        return ticket.resolve_due_at is not None and ticket.resolve_due_at < now
    return False


def overdue_stage(ticket: Ticket) -> str:
    """Which deadline an overdue ticket missed: ``accept`` or ``resolve``."""
    return "accept" if ticket.state in WAITING_ACCEPT else "resolve"


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """The overdue rule, as a WHERE clause."""
    return or_(
        and_(Ticket.state.in_(WAITING_ACCEPT), Ticket.accept_due_at < now),
        and_(Ticket.state.in_(WAITING_RESOLVE), Ticket.resolve_due_at < now),
    )


@dataclass(frozen=True)
class TicketQuery:
    """What a listing asks for; every field optional."""

    number: int | None = None
    states: Sequence[str] = ()
    category: str | None = None
    community: str | None = None
    assignee: str | None = None  # a name or a phone
    overdue_only: bool = False
    limit: int = 200


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    community: str
    assignee: str
    overdue: bool


async def list_tickets(session: AsyncSession, query: TicketQuery, now: datetime) -> list[TicketRow]:
    """Tickets matching ``query``: overdue first, then urgent, then newest."""
    statement = (select(Ticket, Community.name, Person.name)
                 .outerjoin(Community, Ticket.community_id == Community.id)
                 .outerjoin(Person, Ticket.assignee_id == Person.id))
    if query.number is not None:
        statement = statement.where(Ticket.id == query.number)
    if query.states:
        statement = statement.where(Ticket.state.in_(query.states))
    if query.category:
        statement = statement.where(Ticket.category == query.category)
    if query.community:
        statement = statement.where(Community.name == query.community)
    if query.assignee:
        statement = statement.where(or_(Person.name == query.assignee, Person.phone == query.assignee))
    if query.overdue_only:
        statement = statement.where(overdue_clause(now))
    found = (await session.execute(statement.order_by(Ticket.id.desc()).limit(query.limit * 5))).all()
    rows = [TicketRow(t, c or "", a or "", is_overdue(t, now)) for t, c, a in found]
    rows.sort(key=lambda r: (not r.overdue, not r.ticket.urgent, -r.ticket.id))
    return rows[:query.limit]


async def timeline(session: AsyncSession, number: int) -> list[dict[str, Any]]:
    """Every event of ticket ``number`` in order, with who did it."""
    events = (await session.execute(
        select(TicketEvent, Person.name).outerjoin(Person, TicketEvent.actor_person_id == Person.id)
        .where(TicketEvent.ticket_id == number).order_by(TicketEvent.id))).all()
    return [{"at": e.at, "action": e.action, "who": who or e.actor_openid or "system",
             "from": e.from_state or "", "to": e.to_state or "", "note": e.note} for e, who in events]
