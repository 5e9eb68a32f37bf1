"""Ticket listings and the overdue rule, in one place for the command line,
the figures, the deadline clock and the console.

A ticket is overdue when it waits to be accepted (open or assigned) past its
accept deadline, or waits to be resolved (accepted) past its resolve deadline.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Community, Person, Ticket, TicketEvent

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
WORDS: dict[str, Any] = tomllib.loads((_DATA_DIR / "listings.toml").read_text(encoding="utf-8"))
STATES = ("open", "assigned", "accepted", "resolved", "closed", "cancelled")
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
    # the console's filters: a scope clause, places, a period and words
    where: ColumnElement[bool] | None = None
    compound_id: int | None = None
    building_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    words: str = ""
    by_due: bool = False  # after the overdue ones: the nearest deadline first (else urgent, newest)


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
    statement = _filters(statement, query)
    found = (await session.execute(statement.order_by(Ticket.id.desc()).limit(query.limit * 5))).all()
    rows = [TicketRow(t, c or "", a or "", is_overdue(t, now)) for t, c, a in found]
    if query.by_due:
        rows.sort(key=lambda r: (not r.overdue, not r.ticket.urgent, _due(r.ticket) or _FAR, -r.ticket.id))
    else:
        rows.sort(key=lambda r: (not r.overdue, not r.ticket.urgent, -r.ticket.id))
    return rows[:query.limit]


_FAR = datetime.max.replace(tzinfo=UTC)


def _due(ticket: Ticket) -> datetime | None:
    """The deadline a ticket is working towards now (accept, then resolve)."""
    if ticket.state in WAITING_ACCEPT:
        return ticket.accept_due_at
    if ticket.state in WAITING_RESOLVE:
        return ticket.resolve_due_at
    return None


def _filters(statement: Select[Ticket, str, str], query: TicketQuery) -> Select[Ticket, str, str]:
    if query.where is not None:
        statement = statement.where(query.where)
    if query.compound_id is not None:
        statement = statement.where(Ticket.compound_id == query.compound_id)
    if query.building_id is not None:
        statement = statement.where(Ticket.building_id == query.building_id)
    if query.since is not None:
        statement = statement.where(Ticket.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(Ticket.created_at < query.until)
    for word in query.words.split():
        statement = statement.where(or_(Ticket.text.contains(word, autoescape=True),
                                        Ticket.location.contains(word, autoescape=True)))
    return statement


async def count_by_state(session: AsyncSession, where: ColumnElement[bool], now: datetime) -> dict[str, int]:
    """How many tickets in `where` are in each state, and how many are overdue."""
    rows = (await session.execute(select(Ticket.state, func.count()).where(where).group_by(Ticket.state))).all()
    counts = {state: int(n) for state, n in rows}
    counts["overdue"] = int(await session.scalar(
        select(func.count()).select_from(Ticket).where(where, overdue_clause(now))) or 0)
    return counts


async def timeline(session: AsyncSession, number: int) -> list[dict[str, Any]]:
    """Every event of ticket ``number`` in order, with who did it."""
    events = (await session.execute(
        select(TicketEvent, Person.name).outerjoin(Person, TicketEvent.actor_person_id == Person.id)
        .where(TicketEvent.ticket_id == number).order_by(TicketEvent.id))).all()
    return [{"at": e.at, "action": e.action, "who": who or e.actor_openid or "system",
             "from": e.from_state or "", "to": e.to_state or "", "note": e.note} for e, who in events]


# --- the names people give states and categories --------------------------------------------------------


def _clean(word: str) -> str:
    return word.strip().replace(" ", "").lower()


def state_names() -> dict[str, str]:
    """Each state's name, as replies show it (texts.toml [state])."""
    from bot.texts import texts

    return {code: texts(f"state.{code}") for code in STATES}


def state_code(word: str) -> str | None:
    """The state a word names: a code (assigned), its name (已派单) or an alias; None if unknown."""
    wanted = _clean(word)
    names = state_names()
    for code in STATES:
        if wanted in (code, _clean(names[code]), *(_clean(w) for w in WORDS["states"].get(code, ()))):
            return code
    return None


def category_names(rules_file: str = "") -> dict[str, str]:
    """Category code -> name, from the router's taxonomy (with a community's rules file)."""
    from nlp.rules import load_document

    categories = load_document(Path(rules_file) if rules_file else None).get("categories", {})
    return {str(code): str(table.get("name", code)) if isinstance(table, dict) else str(code)
            for code, table in categories.items()}


def category_code(word: str, names: dict[str, str]) -> str | None:
    """The category a word names: a code (facilities), its name (公共设施) or an alias; None if unknown."""
    wanted = _clean(word)
    for code, name in names.items():
        if wanted in (code, _clean(name), *(_clean(w) for w in WORDS["categories"].get(code, ()))):
            return code
    return None
