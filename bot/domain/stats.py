"""Figures for staff reports: counts and the 三率 (response, resolution and
satisfaction rates) per community and period."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.listings import is_overdue
from bot.models import Community, Ticket

CHINA = ZoneInfo("Asia/Shanghai")
ACTIVE = ("open", "assigned", "accepted")


@dataclass
class Figures:
    created: int = 0
    accepted: int = 0
    accepted_on_time: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    closed: int = 0
    cancelled: int = 0
    active: int = 0
    overdue: int = 0
    triage: int = 0
    rated: int = 0
    satisfied: int = 0
    handed_back: int = 0
    reopened: int = 0

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def considered(self) -> int:
        return self.created - self.cancelled

    @property
    def response_rate(self) -> float | None:
        return self.rate(self.accepted_on_time, self.considered)

    @property
    def resolution_rate(self) -> float | None:
        return self.rate(self.resolved, self.considered)

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rate(self.satisfied, self.rated)

    @property
    def on_time_rate(self) -> float | None:
        return self.rate(self.resolved_on_time, self.resolved)

    @property
    def handback_rate(self) -> float | None:
        return self.rate(self.handed_back, self.considered)

    @property
    def reopen_rate(self) -> float | None:
        return self.rate(self.reopened, self.resolved)

    def add(self, ticket: Ticket, now: datetime) -> None:
        self.created += 1
        if ticket.state == "cancelled":
            self.cancelled += 1
            return
        if ticket.accepted_at is not None:
            self.accepted += 1
            if ticket.accept_due_at is None or ticket.accepted_at <= ticket.accept_due_at:
                self.accepted_on_time += 1
        if ticket.resolved_at is not None or ticket.state in ("resolved", "closed"):
            self.resolved += 1
            done = ticket.resolved_at or ticket.closed_at
            if done is not None and (ticket.resolve_due_at is None or done <= ticket.resolve_due_at):
                self.resolved_on_time += 1
        if ticket.state == "closed":
            self.closed += 1
        if ticket.state in ACTIVE:
            self.active += 1
            if is_overdue(ticket, now):
                self.overdue += 1
            if ticket.state == "open":
                self.triage += 1
        if ticket.rating is not None:
            self.rated += 1
            if ticket.rating >= 4:
                self.satisfied += 1
        if ticket.handbacks:
            self.handed_back += 1
        if ticket.reopens:
            self.reopened += 1


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Today in China time, as UTC bounds."""
    local = now.astimezone(CHINA).date()
    start = datetime.combine(local, time(0), CHINA)
    return start, start + timedelta(days=1)


async def figures_for(session: AsyncSession, *, community_id: int | None, start: datetime, end: datetime,
                      now: datetime) -> Figures:
    query = select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)
    if community_id is not None:
        query = query.where(Ticket.community_id == community_id)
    figures = Figures()
    for ticket in (await session.scalars(query)).all():
        figures.add(ticket, now)
    return figures


async def today_figures(session: AsyncSession, community_id: int | None, now: datetime) -> dict[str, Any]:
    """The staff's 统计 reply: today's tickets of their community, and what is open now."""
    start, end = day_bounds(now)
    figures = await figures_for(session, community_id=community_id, start=start, end=end, now=now)
    open_now = Figures()
    query = select(Ticket).where(Ticket.state.in_(ACTIVE))
    if community_id is not None:
        query = query.where(Ticket.community_id == community_id)
    for ticket in (await session.scalars(query)).all():
        open_now.add(ticket, now)
    community = await session.get(Community, community_id) if community_id is not None else None
    return {
        "date": start.date().isoformat(), "community": community.name if community else "",
        "created": figures.created, "accepted": figures.accepted, "resolved": figures.resolved,
        "closed": figures.closed, "active": open_now.active, "overdue": open_now.overdue,
        "triage": open_now.triage, "response_rate": percent(figures.response_rate),
        "resolution_rate": percent(figures.resolution_rate),
        "satisfaction_rate": percent(figures.satisfaction_rate),
    }


LEVEL_NAMES = ("township", "community", "compound")
EXTRA_LEVELS = ("volunteer", "category")


@dataclass
class Report:
    """Figures for one period, per township, community and compound."""

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
    tickets = (await session.scalars(query)).all()
    assignee_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
    people = {p.id: p.name for p in (await session.scalars(select(Person).where(Person.id.in_(assignee_ids))))}
    name_of = category_name or (lambda code: code)
    for ticket in tickets:
        handler = people.get(ticket.assignee_id, "（未分派）") if ticket.assignee_id else "（未分派）"
        rows["volunteer"].setdefault(handler, Figures()).add(ticket, now)
        rows["category"].setdefault(name_of(ticket.category), Figures()).add(ticket, now)
        total.add(ticket, now)
        community = communities.get(ticket.community_id) if ticket.community_id else None
        compound = compounds.get(ticket.compound_id) if ticket.compound_id else None
        names = {
            "township": townships.get(community.township_id, unplaced) if community else unplaced,
            "community": community.name if community else unplaced,
            "compound": f"{community.name}/{compound.name}" if community and compound else unplaced,
        }
        for level, name in names.items():
            rows[level].setdefault(name, Figures()).add(ticket, now)
    return Report(start, end, rows, total)


COLUMNS = (
    ("新工单", lambda f: f.created), ("撤销", lambda f: f.cancelled), ("接单", lambda f: f.accepted),
    ("按时接单", lambda f: f.accepted_on_time), ("办结", lambda f: f.resolved), ("关闭", lambda f: f.closed),
    ("在办", lambda f: f.active), ("超时", lambda f: f.overdue), ("评价", lambda f: f.rated),
    ("满意", lambda f: f.satisfied), ("响应率", lambda f: f.response_rate),
    ("办结率", lambda f: f.resolution_rate), ("满意率", lambda f: f.satisfaction_rate),
    ("按时办结率", lambda f: f.on_time_rate), ("退单率", lambda f: f.handback_rate),
    ("重办率", lambda f: f.reopen_rate),
)
RATE_COLUMNS = frozenset(name for name, _ in COLUMNS if name.endswith("率"))
LEVEL_TITLES = {"township": "乡镇", "community": "社区", "compound": "小区", "volunteer": "办理人", "category": "类别"}
