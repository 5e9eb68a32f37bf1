"""Figures for staff reports: counts and the 三率 (response, resolution and
satisfaction rates) and more, per community and period.

Each ticket created in the period is read once into its Facts (from the
ticket row and its timeline); every rate is then "tickets with X among the
tickets with Y" (RATES), so no rate can leave 0..100%. The names and the
formulas people read live in bot/data/stats.toml.

Rules the issue tracker asked for, in one place:
- a ticket closed by staff as 误操作 or 重复 (the close note's first words,
  or a merge into another ticket) is not a valid ticket: neither 办结 nor
  counted in any rate;
- acceptance is the first acceptance: a resident's 不满意 reopens the ticket
  (and clears accepted_at), but the ticket was still accepted (on time or not);
- 满意 is a rating of 4 (基本满意) or 5.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.listings import is_overdue
from bot.models import Community, Ticket, TicketEvent

CHINA = ZoneInfo("Asia/Shanghai")
ACTIVE = ("open", "assigned", "accepted")
DONE_STATES = ("resolved", "closed")
VOID_REASONS = ("mistake", "duplicate")

_DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "stats.toml"
_DATA: dict[str, Any] = tomllib.loads(_DATA_FILE.read_text(encoding="utf-8"))


# --- close reasons ----------------------------------------------------------------------------------------

_CLAUSE = re.compile(r"[，,。.；;：:！!？?、\s（()）]+")
_NEGATION = ("不是", "并非", "非", "没有", "不")


def close_reason(note: str) -> str:
    """What a staff close note says the close was: ``mistake`` (误操作),
    ``duplicate`` (重复) or ``done`` (a real 办结). Only the note's first
    clause counts, and a negation before the word ("不是重复") undoes it."""
    first = next((part for part in _CLAUSE.split(note.strip()) if part), "")
    for reason, table in _DATA["close_reasons"].items():
        for word in sorted(table["words"], key=len, reverse=True):
            at = first.find(word)
            if at >= 0 and not first[:at].endswith(_NEGATION):
                return str(reason)
    return "done"


def close_reason_name(reason: str) -> str:
    return str(_DATA["close_reasons"][reason]["name"])


# --- one ticket's facts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the figures need to know of one ticket. Every flag but
    ``cancelled`` and ``void`` is False for a ticket that is not valid."""

    cancelled: bool = False
    void: bool = False  # closed by staff as 误操作 / 重复
    valid: bool = False
    accepted: bool = False  # ever accepted (the first acceptance counts)
    accepted_on_time: bool = False
    due_to_accept: bool = False  # accepted, or still not accepted past its deadline
    done: bool = False  # resolved or closed now
    done_on_time: bool = False
    closed: bool = False
    ever_resolved: bool = False
    reopened: bool = False
    handed_back: bool = False
    rated: bool = False
    satisfied: bool = False
    confirmed: bool = False  # the resident said whether it was solved
    solved: bool = False
    active: bool = False
    overdue: bool = False
    triage: bool = False


def _first_acceptance(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The first 接单: an accepted event, or a 办结 straight from assigned."""
    for event in events:
        if event.action == "accepted" or (event.action == "resolved" and event.from_state in ("open", "assigned")):
            return event
    return None


def _closing(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The event that closed the ticket last (a staff close, a merge, the clock's close)."""
    for event in reversed(events):
        if event.to_state == "closed":
            return event
    return None


def is_void(ticket: Ticket, events: Sequence[TicketEvent]) -> bool:
    """A ticket closed as 误操作 or 重复 (by a close note or a merge)."""
    if ticket.state != "closed":
        return False
    event = _closing(events)
    if event is None:
        return False
    if event.action == "merged":
        return True
    data = event.data or {}
    reason = data.get("reason") if isinstance(data, Mapping) else None
    if reason is None and event.action == "closed":
        reason = close_reason(event.note or "")
    return reason in VOID_REASONS


def facts(ticket: Ticket, now: datetime, events: Sequence[TicketEvent] = ()) -> Facts:
    """Read one ticket (and its timeline, in order, when given) into Facts."""
    ordered = sorted(events, key=lambda e: (e.at, e.id or 0))
    if ticket.state == "cancelled":
        return Facts(cancelled=True)
    if is_void(ticket, ordered):
        return Facts(void=True)
    first = _first_acceptance(ordered)
    accepted_at: datetime | None = first.at if first is not None else ticket.accepted_at
    accepted = accepted_at is not None
    if first is not None and isinstance(first.data, Mapping) and "on_time" in first.data:
        accepted_on_time = bool(first.data["on_time"])
    else:
        accepted_on_time = accepted_at is not None and (
            ticket.accept_due_at is None or accepted_at <= ticket.accept_due_at)
    waiting_past_due = (not accepted and ticket.state in ("open", "assigned")
                        and ticket.accept_due_at is not None and ticket.accept_due_at < now)
    done = ticket.state in DONE_STATES
    finished = ticket.resolved_at or ticket.closed_at
    done_on_time = done and finished is not None and (
        ticket.resolve_due_at is None or finished <= ticket.resolve_due_at)
    ever_resolved = (done or ticket.resolved_at is not None or ticket.reopens > 0
                     or any(e.action == "resolved" for e in ordered))
    active = ticket.state in ACTIVE
    return Facts(
        valid=True, accepted=accepted, accepted_on_time=accepted and accepted_on_time,
        due_to_accept=accepted or waiting_past_due, done=done, done_on_time=done_on_time,
        closed=ticket.state == "closed", ever_resolved=ever_resolved, reopened=ticket.reopens > 0,
        handed_back=ticket.handbacks > 0, rated=ticket.rating is not None,
        satisfied=ticket.rating is not None and ticket.rating >= 4,
        confirmed=ticket.solved is not None, solved=ticket.solved is True,
        active=active, overdue=active and is_overdue(ticket, now), triage=ticket.state == "open",
    )


# --- the rates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``part`` among ``whole``: tickets with both facts over tickets with ``whole``."""

    code: str
    part: str
    whole: str

    @property
    def name(self) -> str:
        return str(_DATA["rates"][self.code]["name"])

    @property
    def formula(self) -> str:
        return str(_DATA["rates"][self.code]["formula"])


RATES = (
    Rate("response", "accepted_on_time", "due_to_accept"),
    Rate("resolution", "done", "valid"),
    Rate("solved", "solved", "confirmed"),
    Rate("satisfaction", "satisfied", "rated"),
    Rate("on_time", "done_on_time", "done"),
    Rate("handback", "handed_back", "valid"),
    Rate("reopen", "reopened", "ever_resolved"),
)
_FACT_NAMES = tuple(f.name for f in fields(Facts))


def export_words() -> dict[str, str]:
    """The words of the export's notes sheet."""
    return {str(k): str(v) for k, v in _DATA["export"].items()}


def terms() -> dict[str, str]:
    """The words the formulas use, explained (for the export's notes)."""
    return {str(k): str(v) for k, v in _DATA["terms"].items()}


@dataclass
class Figures:
    """Counts of tickets by fact, and the rates over them."""

    created: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_FACT_NAMES, 0))
    parts: dict[str, int] = field(default_factory=lambda: {r.code: 0 for r in RATES})

    def add(self, ticket: Ticket, now: datetime, events: Sequence[TicketEvent] = ()) -> None:
        self.add_facts(facts(ticket, now, events))

    def add_facts(self, f: Facts) -> None:
        self.created += 1
        for name in _FACT_NAMES:
            if getattr(f, name):
                self.counts[name] += 1
        for r in RATES:
            if getattr(f, r.whole) and getattr(f, r.part):
                self.parts[r.code] += 1

    def rate_of(self, code: str) -> float | None:
        rate = next(r for r in RATES if r.code == code)
        whole = self.counts[rate.whole]
        return self.parts[code] / whole if whole else None

    # counts by name (the CLI, the console, the WeChat reply)
    @property
    def cancelled(self) -> int:
        return self.counts["cancelled"]

    @property
    def void(self) -> int:
        return self.counts["void"]

    @property
    def accepted(self) -> int:
        return self.counts["accepted"]

    @property
    def accepted_on_time(self) -> int:
        return self.counts["accepted_on_time"]

    @property
    def closed(self) -> int:
        return self.counts["closed"]

    @property
    def active(self) -> int:
        return self.counts["active"]

    @property
    def overdue(self) -> int:
        return self.counts["overdue"]

    @property
    def triage(self) -> int:
        return self.counts["triage"]

    @property
    def rated(self) -> int:
        return self.counts["rated"]

    @property
    def satisfied(self) -> int:
        return self.counts["satisfied"]

    @property
    def resolved(self) -> int:
        return self.counts["done"]

    @property
    def handbacks(self) -> int:
        return self.counts["handed_back"]

    @property
    def considered(self) -> int:
        return self.counts["valid"]

    @property
    def response_rate(self) -> float | None:
        return self.rate_of("response")

    @property
    def resolution_rate(self) -> float | None:
        return self.rate_of("resolution")

    @property
    def solved_rate(self) -> float | None:
        return self.rate_of("solved")

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rate_of("satisfaction")

    @property
    def on_time_rate(self) -> float | None:
        return self.rate_of("on_time")

    @property
    def handback_rate(self) -> float | None:
        return self.rate_of("handback")

    @property
    def reopen_rate(self) -> float | None:
        return self.rate_of("reopen")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


# --- periods ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    code: str
    name: str
    start: datetime  # aware, local midnight
    end: datetime  # exclusive

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def label(self) -> str:
        first, last = self.first_day.isoformat(), self.last_day.isoformat()
        return first if first == last else f"{first} 至 {last}"


PERIOD_CODES = tuple(_DATA["periods"])


def period_names() -> list[str]:
    return [str(table["name"]) for table in _DATA["periods"].values()]


def period_code(word: str) -> str | None:
    """The period a word names (本月 → this_month), or None."""
    cleaned = word.strip().replace(" ", "")
    for code, table in _DATA["periods"].items():
        if cleaned in table["words"] or cleaned in (f"{w}的" for w in table["words"]):
            return str(code)
    return None


def period(code: str, now: datetime, tz: ZoneInfo = CHINA) -> Period:
    """The days a period covers, in local time, for ``now``."""
    today = now.astimezone(tz).date()
    if code == "today":
        first, after = today, today + timedelta(days=1)
    elif code == "yesterday":
        first, after = today - timedelta(days=1), today
    elif code == "this_week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif code == "last_week":
        after = today - timedelta(days=today.weekday())
        first = after - timedelta(days=7)
    elif code == "this_month":
        first = today.replace(day=1)
        after = _next_month(first)
    elif code == "last_month":
        after = today.replace(day=1)
        first = (after - timedelta(days=1)).replace(day=1)
    elif code == "this_year":
        first, after = today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1, day=1)
    else:
        raise ValueError(f"unknown period {code!r} (one of {', '.join(PERIOD_CODES)})")
    return Period(code, str(_DATA["periods"][code]["name"]), datetime.combine(first, time(0), tz),
                  datetime.combine(after, time(0), tz))


def days(first: date, last: date, tz: ZoneInfo = CHINA) -> Period:
    """The days ``first`` to ``last`` (both included)."""
    return Period("days", "", datetime.combine(first, time(0), tz),
                  datetime.combine(last + timedelta(days=1), time(0), tz))


def _next_month(first: date) -> date:
    return first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)


def day_bounds(now: datetime, tz: ZoneInfo = CHINA) -> tuple[datetime, datetime]:
    """Today in local time, as aware bounds."""
    today = period("today", now, tz)
    return today.start, today.end


# --- reading the database --------------------------------------------------------------------------------

_EVENT_ACTIONS = ("accepted", "resolved", "closed", "merged", "reopened")


async def _with_events(session: AsyncSession, query: Select[Ticket]
                       ) -> list[tuple[Ticket, list[TicketEvent]]]:
    tickets = list((await session.scalars(query)).all())
    by_ticket: dict[int, list[TicketEvent]] = {t.id: [] for t in tickets}
    ids = sorted(by_ticket)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        events = await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(chunk), TicketEvent.action.in_(_EVENT_ACTIONS))
            .order_by(TicketEvent.id))
        for event in events.all():
            by_ticket[event.ticket_id].append(event)
    return [(t, by_ticket[t.id]) for t in tickets]


async def figures_for(session: AsyncSession, *, community_id: int | None, start: datetime, end: datetime,
                      now: datetime) -> Figures:
    query = select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)
    if community_id is not None:
        query = query.where(Ticket.community_id == community_id)
    figures = Figures()
    for ticket, events in await _with_events(session, query):
        figures.add(ticket, now, events)
    return figures


async def period_figures(session: AsyncSession, community_id: int | None, now: datetime,
                         code: str = "today", tz: ZoneInfo = CHINA) -> dict[str, Any]:
    """The staff's 统计 reply: the period's tickets of their community, and what is open now."""
    span = period(code, now, tz)
    figures = await figures_for(session, community_id=community_id, start=span.start, end=span.end, now=now)
    open_now = Figures()
    query = select(Ticket).where(Ticket.state.in_(ACTIVE))
    if community_id is not None:
        query = query.where(Ticket.community_id == community_id)
    for ticket in (await session.scalars(query)).all():
        open_now.add(ticket, now)
    community = await session.get(Community, community_id) if community_id is not None else None
    return {
        "period": span.name, "date": span.label(), "community": community.name if community else "",
        "created": figures.created, "accepted": figures.accepted, "resolved": figures.resolved,
        "closed": figures.closed, "cancelled": figures.cancelled, "void": figures.void,
        "active": open_now.active, "overdue": open_now.overdue, "triage": open_now.triage,
        **{f"{r.code}_rate": percent(figures.rate_of(r.code)) for r in RATES},
    }


async def today_figures(session: AsyncSession, community_id: int | None, now: datetime) -> dict[str, Any]:
    """Today's figures (see period_figures)."""
    return await period_figures(session, community_id, now, "today")


LEVEL_NAMES = ("township", "community", "compound")
EXTRA_LEVELS = ("volunteer", "category")


@dataclass
class Report:
    """Figures for one period, per township, community and compound, per
    handling person (volunteer) and per category."""

    start: datetime
    end: datetime
    rows: dict[str, dict[str, Figures]]
    total: Figures


async def report(session: AsyncSession, *, start: datetime, end: datetime, now: datetime,
                 where: ColumnElement[bool] | None = None,
                 category_name: Callable[[str], str] | None = None) -> Report:
    """Every ticket created in [start, end) (and in `where`, a scope), counted at
    each level of the org tree, per handling person (volunteer) and per category."""
    from bot.models import Compound, Person, Township

    communities = {c.id: c for c in (await session.scalars(select(Community))).all()}
    townships = {t.id: t.name for t in (await session.scalars(select(Township))).all()}
    compounds = {c.id: c for c in (await session.scalars(select(Compound))).all()}
    rows: dict[str, dict[str, Figures]] = {level: {} for level in (*LEVEL_NAMES, *EXTRA_LEVELS)}
    total = Figures()
    unplaced = "（未定位）"
    query = select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)
    if where is not None:
        query = query.where(where)
    lives = await _with_events(session, query)
    assignee_ids = {t.assignee_id for t, _ in lives if t.assignee_id is not None}
    people = {p.id: p.name for p in (await session.scalars(select(Person).where(Person.id.in_(assignee_ids))))}
    name_of = category_name or (lambda code: code)
    for ticket, events in lives:
        one = facts(ticket, now, events)
        total.add_facts(one)
        community = communities.get(ticket.community_id) if ticket.community_id else None
        compound = compounds.get(ticket.compound_id) if ticket.compound_id else None
        names = {
            "township": townships.get(community.township_id, unplaced) if community else unplaced,
            "community": community.name if community else unplaced,
            "compound": f"{community.name}/{compound.name}" if community and compound else unplaced,
            "volunteer": people.get(ticket.assignee_id, "（未分派）") if ticket.assignee_id else "（未分派）",
            "category": name_of(ticket.category),
        }
        for level, name in names.items():
            rows[level].setdefault(name, Figures()).add_facts(one)
    return Report(start, end, rows, total)


def _count(name: str) -> Callable[[Figures], int]:
    return lambda f: f.counts[name]


def _rate(code: str) -> Callable[[Figures], float | None]:
    return lambda f: f.rate_of(code)


COUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("新工单", "created"), ("撤销", "cancelled"), ("误操作/重复", "void"), ("有效", "valid"),
    ("接单", "accepted"), ("按时接单", "accepted_on_time"), ("办结", "done"), ("关闭", "closed"),
    ("在办", "active"), ("超时", "overdue"), ("评价", "rated"), ("满意", "satisfied"),
)
COLUMNS: tuple[tuple[str, Callable[[Figures], Any]], ...] = (
    *((title, (lambda f: f.created) if name == "created" else _count(name)) for title, name in COUNT_COLUMNS),
    *((r.name, _rate(r.code)) for r in RATES),
)
RATE_COLUMNS = frozenset(r.name for r in RATES)
LEVEL_TITLES = {"township": "乡镇", "community": "社区", "compound": "小区", "volunteer": "办理人", "category": "类别"}


def notes() -> list[tuple[str, str]]:
    """(name, formula) of every rate, then the terms they use: the export's 说明 sheet."""
    return [*((r.name, r.formula) for r in RATES), *(("", text) for text in terms().values())]


def all_facts(items: Iterable[Facts]) -> Figures:
    """Figures over Facts already read (tests, the console)."""
    figures = Figures()
    for f in items:
        figures.add_facts(f)
    return figures
