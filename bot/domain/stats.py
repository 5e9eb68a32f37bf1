"""Figures for staff reports: counts and the 三率 (response, resolution and
satisfaction rates) per community and period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
            if _overdue(ticket, now):
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


def _overdue(ticket: Ticket, now: datetime) -> bool:
    if ticket.state in ("open", "assigned"):
        return ticket.accept_due_at is not None and ticket.accept_due_at < now
    return ticket.resolve_due_at is not None and ticket.resolve_due_at < now


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
