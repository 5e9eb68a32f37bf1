"""Ticket time limits (design §4): when a ticket must be accepted and resolved.

Urgent tickets run on the clock: the "urgent" rule's hours count day and
night, weekends and holidays. Every other ticket uses its category's rule,
or "default" when the category has none, counted in working hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from bot.config import DeadlineRule, TicketsConfig
from bot.domain.worktime import WorkCalendar

DEFAULT_RULE = "default"
URGENT_RULE = "urgent"


def rule_for(rules: dict[str, DeadlineRule], *, category: str, urgent: bool) -> DeadlineRule:
    """The rule that applies: "urgent", else the category's, else "default"."""
    key = URGENT_RULE if urgent else (category if category in rules else DEFAULT_RULE)
    try:
        return rules[key]
    except KeyError:
        raise KeyError(f"no deadline rule {key!r} (tickets.deadlines must define it)") from None


def due_times(
    rules: dict[str, DeadlineRule],
    calendar: WorkCalendar,
    *,
    category: str,
    urgent: bool,
    start: datetime,
) -> tuple[datetime, datetime]:
    """(accept_due, resolve_due) for a ticket created at ``start`` (aware); both UTC."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be a timezone-aware datetime, got naive {start!r}")
    rule = rule_for(rules, category=category, urgent=urgent)
    if urgent:
        begin = start.astimezone(UTC)
        return begin + timedelta(hours=rule.accept_h), begin + timedelta(hours=rule.resolve_h)
    return (
        calendar.add_working_hours(start, rule.accept_h),
        calendar.add_working_hours(start, rule.resolve_h),
    )


def calendar_from_config(tickets_config: TicketsConfig) -> WorkCalendar:
    """The WorkCalendar for ``[tickets]`` in the config.

    Equal settings give the same (shared) instance, so its per-day cache and
    its once-per-year fallback warning are shared too.
    """
    return _calendar(tickets_config.workday_start, tickets_config.workday_end, tuple(tickets_config.holidays),
                     tickets_config.timezone)


@lru_cache(maxsize=16)
def _calendar(workday_start: str, workday_end: str, holidays: tuple[str, ...], tz: str) -> WorkCalendar:
    return WorkCalendar(workday_start=workday_start, workday_end=workday_end, extra_holidays=holidays, tz=tz)
