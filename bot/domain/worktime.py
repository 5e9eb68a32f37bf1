"""Working time in China: which days are working days, and how deadlines count.

The working day is one continuous block (default 08:30-17:30, lunch included)
in China time. Working days follow the official calendar from the
``chinese_calendar`` package: national holidays are off, and the 调休 make-up
days that fall on a weekend are working days. For a year the package has no
data for yet, the calendar falls back to Monday-Friday and logs one warning
for that year. Holidays listed in the config are off in every year.

All datetimes going in must be timezone-aware; all coming out are in UTC.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger("lianxin.worktime")

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


def _as_time(value: str | time, name: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: expected a time HH:MM, got {value!r}") from None


def _as_date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"holiday: expected a date YYYY-MM-DD, got {value!r}") from None


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")
    return moment.astimezone(UTC)


class WorkCalendar:
    """The Chinese working-day calendar plus a daily working period.

    Results of ``is_workday`` are cached per date, so long spans cost one
    calendar lookup per distinct day, ever.
    """

    def __init__(
        self,
        workday_start: str | time = "08:30",
        workday_end: str | time = "17:30",
        extra_holidays: Iterable[str | date] = (),
        tz: str = "Asia/Shanghai",
    ) -> None:
        self.workday_start = _as_time(workday_start, "workday_start")
        self.workday_end = _as_time(workday_end, "workday_end")
        if self.workday_end <= self.workday_start:
            raise ValueError(
                f"workday_end ({self.workday_end:%H:%M}) must be after workday_start "
                f"({self.workday_start:%H:%M})"
            )
        self.extra_holidays = frozenset(_as_date(d) for d in extra_holidays)
        self.tz = ZoneInfo(tz)
        self._workdays: dict[date, bool] = {}
        self._warned_years: set[int] = set()
        self._warn_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"WorkCalendar({self.workday_start:%H:%M}-{self.workday_end:%H:%M}, {self.tz.key}, "
            f"{len(self.extra_holidays)} extra holidays)"
        )

    # -- days ---------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day.

        A datetime is first converted to its date in the calendar's time zone
        (an aware one) or taken as it is (a naive one).
        """
        if isinstance(day, datetime):
            day = day.astimezone(self.tz).date() if day.tzinfo is not None else day.date()
        cached = self._workdays.get(day)
        if cached is None:
            cached = self._workdays[day] = self._compute_workday(day)
        return cached

    def _compute_workday(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._warn_fallback(day.year)
            return day.weekday() < 5

    def _warn_fallback(self, year: int) -> None:
        with self._warn_lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        log.warning(
            "chinese_calendar has no holiday data for %d: counting Monday-Friday as working days "
            "that year (minus tickets.holidays from the config); upgrade the chinesecalendar "
            "package once the State Council announces the %d holidays",
            year,
            year,
        )

    def working_period(self, day: date) -> tuple[datetime, datetime] | None:
        """The working period of ``day`` as UTC datetimes, or None on a day off."""
        if not self.is_workday(day):
            return None
        start = datetime.combine(day, self.workday_start, tzinfo=self.tz).astimezone(UTC)
        end = datetime.combine(day, self.workday_end, tzinfo=self.tz).astimezone(UTC)
        return start, end

    def is_working_time(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside a working period (start inclusive, end exclusive)."""
        moment = _require_aware(moment, "moment")
        period = self.working_period(moment.astimezone(self.tz).date())
        return period is not None and period[0] <= moment < period[1]

    # -- arithmetic ---------------------------------------------------------

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of working time after ``start``, in UTC.

        Only time inside working periods counts; a start outside them counts
        from the next working period. A deadline that uses up a day exactly
        lands on that day's end (17:30), not the next morning. ``hours=0``
        returns ``start`` unchanged; any positive amount, even one that rounds
        to zero microseconds, counts from working time (so adding a tiny amount
        on a holiday lands on the next working morning, like adding twice as
        much).
        """
        moment = _require_aware(start, "start")
        if hours < 0:
            raise ValueError(f"hours must be >= 0, got {hours!r}")
        if hours == 0:
            return moment
        remaining = timedelta(hours=hours)
        day = moment.astimezone(self.tz).date()
        while True:
            period = self.working_period(day)
            if period is not None:
                begin = max(moment, period[0])
                available = period[1] - begin
                if available > _ZERO:
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += _ONE_DAY

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        a = _require_aware(a, "a")
        b = _require_aware(b, "b")
        if b < a:
            return -self.working_hours_between(b, a)
        total = _ZERO
        day = a.astimezone(self.tz).date()
        last = b.astimezone(self.tz).date()
        while day <= last:
            period = self.working_period(day)
            if period is not None:
                overlap = min(b, period[1]) - max(a, period[0])
                if overlap > _ZERO:
                    total += overlap
            day += _ONE_DAY
        return total / timedelta(hours=1)
