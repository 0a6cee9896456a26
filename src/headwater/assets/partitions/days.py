"""Days, weeks and months: periods from local midnight of their first day to the next.

A period starts at local midnight of its first day: the first one when midnight happens
twice, the end of the gap when clocks skip it (America/Santiago), so a day lasts 23 or
25 hours across a change of clocks. A day a zone skipped entirely (Pacific/Apia went from
2011-12-29 to 2011-12-31) has no period. Positions: daily, the date's ordinal
(``date.toordinal``); weekly, ``(ordinal of its Monday - 1) // 7``; monthly,
``year * 12 + month - 1``.
"""

from __future__ import annotations

import calendar
import re
from abc import abstractmethod
from datetime import date, datetime, timedelta

from headwater.assets.partitions.periods import MAX_STEPS, BadKey, Periods
from headwater.schedules.local_time import to_utc

# Days between two samples when looking for days a zone skipped (see DailyPeriods.skipped):
# the zones that skipped a day turned their clocks back by a day decades apart, if ever.
_SAMPLE_DAYS = 366
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_TEXT = tuple(f"{day:02d}" for day in range(1, 32))
_FIXED_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Etc/Zulu"})


class _CalendarPeriods(Periods):
    """Days, weeks and months: periods that start at local midnight of their first day."""

    @abstractmethod
    def first_day(self, position: int) -> date:
        """The first day of the period (raises ValueError past the range of dates)."""

    @abstractmethod
    def around(self, local: datetime) -> int:
        """The period whose days hold the wall time ``local``."""

    def holding(self, moment: datetime) -> int | None:
        try:
            position = self.around(moment.astimezone(self.zone))
        except (OverflowError, ValueError):
            return None
        # The wall clock's date is a guess: step back to a period that has started, then
        # on to the one that has not ended (clocks may have gone back a day, or skipped one).
        for _ in range(MAX_STEPS):
            window = self.window(position)
            if window is not None and window[0] <= moment:
                return self._onward(position, window, moment)
            position -= 1
        return None

    def _onward(
        self, position: int, window: tuple[datetime, datetime], moment: datetime
    ) -> int | None:
        for _ in range(MAX_STEPS):
            if moment < window[1]:
                return position
            following = self.shift(position, 1)
            next_window = None if following is None else self.window(following)
            if following is None or next_window is None:
                return None
            position, window = following, next_window
        return None

    def shift(self, position: int, count: int) -> int | None:
        return position + count  # a change of clocks never skips a whole week or month

    def midnight(self, position: int) -> datetime | None:
        """When the period starts, in UTC; None past the range of datetimes."""
        try:
            day = self.first_day(position)
        except (ValueError, OverflowError):
            return None
        return to_utc(datetime(day.year, day.month, day.day), self.zone)  # noqa: DTZ001

    def window(self, position: int) -> tuple[datetime, datetime] | None:
        start, end = self.midnight(position), self.midnight(position + 1)
        if start is None or end is None or start >= end:
            return None
        return start, end

    def key(self, position: int) -> str:
        return self.first_day(position).isoformat()

    @staticmethod
    def read_date(key: str) -> date:
        if not _DATE.fullmatch(key):
            raise BadKey("it is not a date written YYYY-MM-DD")
        try:
            return date.fromisoformat(key)
        except ValueError as exc:
            raise BadKey(f"it is not a date ({exc})") from None


class DailyPeriods(_CalendarPeriods):
    unit = "daily"
    written = "YYYY-MM-DD"

    def first_day(self, position: int) -> date:
        return date.fromordinal(position)

    def around(self, local: datetime) -> int:
        return local.toordinal()

    def parse(self, key: str) -> int:
        return self.read_date(key).toordinal()

    def keys(self, first: int, last: int) -> list[str]:
        if first > last:
            return []
        keys = _day_keys(first, last)
        skipped = self.skipped(first, last)
        if skipped:
            keys = [key for position, key in enumerate(keys, first) if position not in skipped]
        return keys

    def shift(self, position: int, count: int) -> int | None:
        # The days between are counted without computing each window: see skipped().
        if count == 0:
            return position
        step = 1 if count > 0 else -1
        target = position + count
        for _ in range(MAX_STEPS):
            low, high = sorted((position + step, target))
            needed = abs(count) + len(self.skipped(low, high))
            if position + step * needed == target:
                return target if self.exists(target) else None
            target = position + step * needed
        return None

    def skipped(self, first: int, last: int) -> frozenset[int]:
        """The days from ``first`` to ``last`` that hold no time in the zone (rare).

        A zone skips a whole day only by moving its clocks forward a day (Pacific/Apia,
        2011-12-30), which makes a stretch of days shorter by a day. Days are sampled
        every ``_SAMPLE_DAYS``; only a stretch that elapsed half a day less than its
        length (or met the end of the range of datetimes) is looked at day by day.
        """
        if self.zone.key in _FIXED_ZONES or first > last:
            return frozenset()
        found: set[int] = set()
        low, low_start = first, self.midnight(first)
        while low <= last:
            high = min(low + _SAMPLE_DAYS, last + 1)
            high_start = self.midnight(high)
            short = timedelta(days=high - low) - timedelta(hours=12)
            if low_start is None or high_start is None or high_start - low_start < short:
                found.update(day for day in range(low, high) if self.window(day) is None)
            low, low_start = high, high_start
        return frozenset(found)


class WeeklyPeriods(_CalendarPeriods):
    unit = "weekly"
    written = "YYYY-MM-DD, the Monday the week starts on,"

    def first_day(self, position: int) -> date:
        return date.fromordinal(position * 7 + 1)  # ordinal 1, 0001-01-01, is a Monday

    def around(self, local: datetime) -> int:
        return (local.toordinal() - 1) // 7

    def parse(self, key: str) -> int:
        day = self.read_date(key)
        position = (day.toordinal() - 1) // 7
        if day.weekday():
            monday = self.first_day(position).isoformat()
            raise BadKey(f"{key} is a {day:%A}, and weeks start on Monday (that week is {monday})")
        return position

    def exists(self, position: int) -> bool:
        return True  # a change of clocks never skips a whole week

    def keys(self, first: int, last: int) -> list[str]:
        return [date.fromordinal(week * 7 + 1).isoformat() for week in range(first, last + 1)]


class MonthlyPeriods(_CalendarPeriods):
    unit = "monthly"
    written = "YYYY-MM-01, the first day of the month,"

    def first_day(self, position: int) -> date:
        year, month = divmod(position, 12)
        return date(year, month + 1, 1)

    def around(self, local: datetime) -> int:
        return local.year * 12 + local.month - 1

    def parse(self, key: str) -> int:
        day = self.read_date(key)
        if day.day != 1:
            raise BadKey(f"{key} is not the first day of a month (that month is {day:%Y-%m}-01)")
        return day.year * 12 + day.month - 1

    def exists(self, position: int) -> bool:
        return True

    def keys(self, first: int, last: int) -> list[str]:
        return [f"{month // 12:04d}-{month % 12 + 1:02d}-01" for month in range(first, last + 1)]


def _day_keys(first: int, last: int) -> list[str]:
    """The dates from ordinal ``first`` to ``last``, ISO; a month's prefix is made once."""
    keys: list[str] = []
    day = date.fromordinal(first)
    year, month, start = day.year, day.month, day.day
    remaining = last - first + 1
    while remaining > 0:
        count = min(calendar.monthrange(year, month)[1] - start + 1, remaining)
        prefix = f"{year:04d}-{month:02d}-"
        keys += [prefix + text for text in _DAY_TEXT[start - 1 : start - 1 + count]]
        remaining -= count
        year, month, start = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)
    return keys
