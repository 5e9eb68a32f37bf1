"""Ticket time limits: urgent tickets on the clock, others in working hours.

All dates are in March 2026 (no public holidays): Fri 13, Sat 14, Sun 15, Mon 16.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import DeadlineRule, TicketsConfig
from bot.domain.deadlines import calendar_from_config, due_times, rule_for
from bot.domain.worktime import WorkCalendar

CN = ZoneInfo("Asia/Shanghai")

RULES = {
    "default": DeadlineRule(accept_h=4, resolve_h=72),
    "urgent": DeadlineRule(accept_h=0.5, resolve_h=48),
    "safety": DeadlineRule(accept_h=1, resolve_h=8),
}


def cn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CN)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_urgent_ticket_runs_on_the_clock_across_a_weekend(cal: WorkCalendar) -> None:
    accept, resolve = due_times(RULES, cal, category="safety", urgent=True, start=cn(2026, 3, 13, 22, 0))
    assert accept == cn(2026, 3, 13, 22, 30)  # Friday night, not Monday morning
    assert resolve == cn(2026, 3, 15, 22, 0)  # Sunday night
    assert accept.tzinfo is UTC and resolve.tzinfo is UTC


def test_urgent_ticket_ignores_holidays(cal: WorkCalendar) -> None:
    _, resolve = due_times(RULES, cal, category="noise", urgent=True, start=cn(2026, 9, 30, 20, 0))
    assert resolve == cn(2026, 10, 2, 20, 0)  # in the middle of the National Day holiday


def test_category_rule_overrides_default(cal: WorkCalendar) -> None:
    accept, resolve = due_times(RULES, cal, category="safety", urgent=False, start=cn(2026, 3, 16, 9, 0))
    assert accept == cn(2026, 3, 16, 10, 0)
    assert resolve == cn(2026, 3, 16, 17, 0)


def test_category_without_a_rule_uses_default_in_working_hours(cal: WorkCalendar) -> None:
    accept, resolve = due_times(RULES, cal, category="noise", urgent=False, start=cn(2026, 3, 16, 9, 0))
    assert accept == cn(2026, 3, 16, 13, 0)
    assert resolve == cn(2026, 3, 26, 9, 0)  # 72 working hours = 8 working days
    assert accept.tzinfo is UTC and resolve.tzinfo is UTC


def test_friday_afternoon_default_ticket_is_due_monday(cal: WorkCalendar) -> None:
    accept, _ = due_times(RULES, cal, category="noise", urgent=False, start=cn(2026, 3, 13, 15, 30))
    assert accept == cn(2026, 3, 16, 10, 30)


def test_ticket_created_on_saturday_starts_counting_monday(cal: WorkCalendar) -> None:
    accept, _ = due_times(RULES, cal, category="safety", urgent=False, start=cn(2026, 3, 14, 10, 0))
    assert accept == cn(2026, 3, 16, 9, 30)


def test_start_in_utc_gives_the_same_deadlines(cal: WorkCalendar) -> None:
    local = due_times(RULES, cal, category="noise", urgent=False, start=cn(2026, 3, 13, 15, 30))
    start_utc = datetime(2026, 3, 13, 7, 30, tzinfo=UTC)
    utc = due_times(RULES, cal, category="noise", urgent=False, start=start_utc)
    assert local == utc


def test_rule_for() -> None:
    assert rule_for(RULES, category="safety", urgent=False) == RULES["safety"]
    assert rule_for(RULES, category="noise", urgent=False) == RULES["default"]
    assert rule_for(RULES, category="safety", urgent=True) == RULES["urgent"]
    with pytest.raises(KeyError, match="urgent"):
        rule_for({"default": RULES["default"]}, category="noise", urgent=True)


def test_naive_start_is_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_times(RULES, cal, category="noise", urgent=True, start=datetime(2026, 3, 13, 15, 30))


def test_calendar_from_config_uses_working_day_and_holidays() -> None:
    config = TicketsConfig(workday_start="09:00", workday_end="18:00", holidays=("2026-03-16",))
    cal = calendar_from_config(config)
    assert cal.is_workday(datetime(2026, 3, 16).date()) is False
    # Fri 17:00: one hour on Friday, Monday is a config holiday, one more hour on Tuesday from 09:00.
    assert cal.add_working_hours(cn(2026, 3, 13, 17, 0), 2) == cn(2026, 3, 17, 10, 0)
    # Equal settings share one calendar (and its cache and once-per-year warning).
    assert calendar_from_config(TicketsConfig(workday_start="09:00", workday_end="18:00",
                                              holidays=("2026-03-16",))) is cal
    assert calendar_from_config(TicketsConfig()) is not cal


def test_default_config_end_to_end() -> None:
    config = TicketsConfig()
    cal = calendar_from_config(config)
    accept, resolve = due_times(config.deadlines, cal, category="noise", urgent=False,
                                start=cn(2026, 3, 13, 15, 30))
    assert accept == cn(2026, 3, 16, 10, 30)
    assert resolve == cn(2026, 3, 25, 15, 30)
