"""Working time: the Chinese working-day calendar and counting working hours.

Dates in 2026 were checked against chinese_calendar 1.11 (the 2026 schedule):
Spring Festival is off Sun 15 - Mon 23 Feb, with Sat 14 and Sat 28 Feb worked;
National Day is off Thu 1 - Wed 7 Oct (Thu 8 Oct is a working day again),
with Sun 20 Sep and Sat 10 Oct worked; Mid-Autumn is off Fri 25 Sep.
The package has no data for 2027, so that year falls back to Monday-Friday.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.worktime import WorkCalendar

CN = ZoneInfo("Asia/Shanghai")


def cn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A moment on the China wall clock."""
    return datetime(y, m, d, hh, mm, tzinfo=CN)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# -- which days are working days ----------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 13), True),  # an ordinary Friday
        (date(2026, 3, 14), False),  # an ordinary Saturday
        (date(2026, 2, 14), True),  # Sat, worked before Spring Festival (调休)
        (date(2026, 2, 16), False),  # Mon, Spring Festival
        (date(2026, 2, 23), False),  # Mon, last day of Spring Festival
        (date(2026, 2, 24), True),  # Tue, back to work
        (date(2026, 2, 28), True),  # Sat, worked after Spring Festival (调休)
        (date(2026, 9, 20), True),  # Sun, worked before National Day (调休)
        (date(2026, 9, 25), False),  # Fri, Mid-Autumn Festival
        (date(2026, 10, 1), False),  # Thu, National Day
        (date(2026, 10, 7), False),  # Wed, last day of National Day
        (date(2026, 10, 8), True),  # Thu, back to work
        (date(2026, 10, 10), True),  # Sat, worked after National Day (调休)
        (date(2026, 10, 11), False),  # Sun, an ordinary Sunday
    ],
)
def test_2026_official_calendar(cal: WorkCalendar, day: date, working: bool) -> None:
    assert cal.is_workday(day) is working


def test_config_holidays_are_days_off_even_on_make_up_days() -> None:
    cal = WorkCalendar(extra_holidays=("2026-03-16", date(2026, 10, 10)))
    assert cal.is_workday(date(2026, 3, 16)) is False  # an ordinary Monday, made a holiday
    assert cal.is_workday(date(2026, 10, 10)) is False  # a 调休 Saturday, made a holiday
    assert cal.is_workday(date(2026, 3, 17)) is True


def test_an_aware_datetime_is_judged_by_its_date_in_china(cal: WorkCalendar) -> None:
    # 17:00 UTC on Friday 13 March is already Saturday 01:00 in China.
    assert cal.is_workday(datetime(2026, 3, 13, 17, 0, tzinfo=UTC)) is False
    assert cal.is_workday(datetime(2026, 3, 13, 15, 0, tzinfo=UTC)) is True


# -- a year chinese_calendar does not know yet (2027) ---------------------------


def test_unknown_year_falls_back_to_monday_to_friday_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar(extra_holidays=("2027-01-11",))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))  # the premise of this test

    with caplog.at_level(logging.WARNING, logger="lianxin.worktime"):
        assert cal.is_workday(date(2027, 1, 4)) is True  # Monday
        assert cal.is_workday(date(2027, 1, 8)) is True  # Friday
        assert cal.is_workday(date(2027, 1, 9)) is False  # Saturday
        assert cal.is_workday(date(2027, 1, 10)) is False  # Sunday
        assert cal.is_workday(date(2027, 1, 11)) is False  # Monday, but a config holiday
        # A whole year of lookups and some arithmetic: still no exception, still one warning.
        for offset in range(365):
            cal.is_workday(date(2027, 1, 1) + timedelta(days=offset))
        assert cal.add_working_hours(cn(2027, 1, 8, 16, 30), 4) == cn(2027, 1, 12, 11, 30)

    warnings = [r for r in caplog.records if r.name == "lianxin.worktime"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "2027" in warnings[0].getMessage()


def test_each_unknown_year_warns_once_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="lianxin.worktime"):
        cal.is_workday(date(2027, 5, 3))
        cal.is_workday(date(2028, 5, 3))
        cal.is_workday(date(2027, 6, 1))
        cal.is_workday(date(2028, 6, 1))
    messages = [r.getMessage() for r in caplog.records if r.name == "lianxin.worktime"]
    assert len(messages) == 2
    assert "2027" in messages[0]
    assert "2028" in messages[1]


def test_known_years_do_not_warn(cal: WorkCalendar, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lianxin.worktime"):
        cal.working_hours_between(cn(2025, 1, 1), cn(2026, 12, 31))
    assert not [r for r in caplog.records if r.name == "lianxin.worktime"]


# -- adding working hours -----------------------------------------------------


def test_friday_afternoon_ticket_runs_into_monday(cal: WorkCalendar) -> None:
    # Fri 13 Mar 2026, 15:30: two hours left on Friday, two more on Monday morning.
    due = cal.add_working_hours(cn(2026, 3, 13, 15, 30), 4)
    assert due == cn(2026, 3, 16, 10, 30)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 16, 2, 30, tzinfo=UTC)


def test_national_day_2026_is_skipped(cal: WorkCalendar) -> None:
    # Wed 30 Sep 16:30: one hour that day, then 1-7 Oct off, three hours on Thu 8 Oct.
    assert cal.add_working_hours(cn(2026, 9, 30, 16, 30), 4) == cn(2026, 10, 8, 11, 30)


def test_national_day_make_up_days_are_counted(cal: WorkCalendar) -> None:
    # A Saturday-morning ticket starts counting on the worked Sunday 20 Sep ...
    assert cal.add_working_hours(cn(2026, 9, 19, 10, 0), 2) == cn(2026, 9, 20, 10, 30)
    # ... and a Friday-evening one continues on the worked Saturday 10 Oct.
    assert cal.add_working_hours(cn(2026, 10, 9, 17, 0), 1) == cn(2026, 10, 10, 9, 0)


def test_spring_festival_2026_is_skipped(cal: WorkCalendar) -> None:
    # Sat 14 Feb is worked: a Friday-evening ticket continues there.
    assert cal.add_working_hours(cn(2026, 2, 13, 17, 0), 1) == cn(2026, 2, 14, 9, 0)
    # From Sat 14 Feb 16:30: one hour, then 15-23 Feb off, three hours on Tue 24 Feb.
    assert cal.add_working_hours(cn(2026, 2, 14, 16, 30), 4) == cn(2026, 2, 24, 11, 30)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (cn(2026, 3, 17, 20, 0), cn(2026, 3, 18, 9, 30)),  # Tue evening -> Wed morning
        (cn(2026, 3, 18, 7, 0), cn(2026, 3, 18, 9, 30)),  # before 08:30 -> counts from 08:30
        (cn(2026, 3, 17, 17, 30), cn(2026, 3, 18, 9, 30)),  # exactly at closing time
        (cn(2026, 3, 14, 11, 0), cn(2026, 3, 16, 9, 30)),  # Saturday -> Monday
        (cn(2026, 3, 18, 12, 0), cn(2026, 3, 18, 13, 0)),  # lunch time counts as working time
    ],
)
def test_start_outside_working_hours_counts_from_the_next_period(
    cal: WorkCalendar, start: datetime, due: datetime
) -> None:
    assert cal.add_working_hours(start, 1) == due


def test_a_deadline_that_fills_the_day_lands_at_closing_time(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(cn(2026, 3, 16, 8, 30), 9) == cn(2026, 3, 16, 17, 30)
    assert cal.add_working_hours(cn(2026, 3, 16, 8, 30), 9.5) == cn(2026, 3, 17, 9, 0)


def test_seventy_two_working_hours_are_eight_working_days(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(cn(2026, 3, 16, 9, 0), 72) == cn(2026, 3, 26, 9, 0)


def test_fractional_hours(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(cn(2026, 3, 16, 9, 0), 0.25) == cn(2026, 3, 16, 9, 15)


def test_zero_hours_returns_the_start_in_utc(cal: WorkCalendar) -> None:
    start = cn(2026, 3, 14, 22, 0)  # a Saturday night
    result = cal.add_working_hours(start, 0)
    assert result == start
    assert result.tzinfo is UTC


def test_custom_working_day() -> None:
    cal = WorkCalendar(workday_start="09:00", workday_end="18:00")
    assert cal.add_working_hours(cn(2026, 3, 13, 17, 0), 2) == cn(2026, 3, 16, 10, 0)


def test_inputs_are_validated(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_hours(datetime(2026, 3, 16, 9, 0), 1)
    with pytest.raises(ValueError, match="hours"):
        cal.add_working_hours(cn(2026, 3, 16, 9, 0), -1)
    with pytest.raises(ValueError, match="workday_end"):
        WorkCalendar(workday_start="17:30", workday_end="08:30")
    with pytest.raises(ValueError, match="workday_start"):
        WorkCalendar(workday_start="8h30")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        WorkCalendar(extra_holidays=("1 Oct 2026",))


def test_is_working_time(cal: WorkCalendar) -> None:
    assert cal.is_working_time(cn(2026, 3, 16, 8, 30))
    assert cal.is_working_time(cn(2026, 3, 16, 12, 0))
    assert not cal.is_working_time(cn(2026, 3, 16, 17, 30))
    assert not cal.is_working_time(cn(2026, 3, 14, 10, 0))  # Saturday
    assert cal.is_working_time(cn(2026, 10, 10, 10, 0))  # 调休 Saturday


# -- counting working hours between two moments -------------------------------


def test_working_hours_between(cal: WorkCalendar) -> None:
    assert cal.working_hours_between(cn(2026, 3, 13, 15, 30), cn(2026, 3, 16, 10, 30)) == 4.0
    assert cal.working_hours_between(cn(2026, 3, 16, 18, 0), cn(2026, 3, 17, 8, 0)) == 0.0  # overnight
    assert cal.working_hours_between(cn(2026, 2, 14, 16, 30), cn(2026, 2, 24, 11, 30)) == 4.0
    assert cal.working_hours_between(cn(2026, 3, 16, 10, 30), cn(2026, 3, 13, 15, 30)) == -4.0


def test_a_whole_year_counts_nine_hours_per_official_working_day(cal: WorkCalendar) -> None:
    workdays = chinese_calendar.get_workdays(date(2025, 1, 1), date(2025, 12, 31))
    assert len(workdays) == 248
    assert cal.working_hours_between(cn(2025, 1, 1), cn(2026, 1, 1)) == 9.0 * len(workdays)
    assert cal.add_working_hours(cn(2025, 1, 1), 9.0 * len(workdays)) == cn(2025, 12, 31, 17, 30)


# -- properties ---------------------------------------------------------------

PROPERTY_CAL = WorkCalendar(extra_holidays=("2026-03-16", "2027-02-08"))
moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)
)
hours = st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(start=moments, h=hours)
def test_working_hours_between_inverts_add_working_hours(start: datetime, h: float) -> None:
    due = PROPERTY_CAL.add_working_hours(start, h)
    assert due >= start
    assert PROPERTY_CAL.working_hours_between(start, due) == pytest.approx(h, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(a=moments, b=moments)
def test_add_working_hours_inverts_working_hours_between(a: datetime, b: datetime) -> None:
    a, b = min(a, b), max(a, b)
    back = PROPERTY_CAL.add_working_hours(a, PROPERTY_CAL.working_hours_between(a, b))
    # Lands on b, or (when b is outside working time) at the end of the last working period before it.
    assert abs(back - b) <= timedelta(microseconds=1) or back < b
    assert PROPERTY_CAL.working_hours_between(back, b) == pytest.approx(0, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(start=moments, h1=hours, h2=hours)
def test_adding_in_two_steps_is_adding_once(start: datetime, h1: float, h2: float) -> None:
    stepwise = PROPERTY_CAL.add_working_hours(PROPERTY_CAL.add_working_hours(start, h1), h2)
    at_once = PROPERTY_CAL.add_working_hours(start, h1 + h2)
    assert abs(stepwise - at_once) <= timedelta(microseconds=2)


def test_a_tiny_amount_on_a_holiday_counts_from_the_next_working_morning() -> None:
    # Found by the property above: 1.35e-10 h rounds to 0 µs and used to return the holiday itself,
    # while twice as much jumped to the next working morning.
    holiday = datetime(2025, 1, 1, 3, 0, tzinfo=UTC)
    once = PROPERTY_CAL.add_working_hours(holiday, 1.35e-10)
    twice = PROPERTY_CAL.add_working_hours(holiday, 2.7e-10)
    assert PROPERTY_CAL.is_working_time(once)
    assert abs(twice - once) <= timedelta(microseconds=2)
    assert PROPERTY_CAL.add_working_hours(once, 1.35e-10) - once <= timedelta(microseconds=1)
