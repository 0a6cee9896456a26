"""The periods of a time unit (hourly, daily, weekly, monthly) in a time zone, and their keys.

A period is named by a *position*, a whole number that grows with time:

- daily: the date's ordinal (``date.toordinal``);
- weekly: ``(ordinal of its Monday - 1) // 7``;
- monthly: ``year * 12 + month - 1``;
- hourly: ``(ordinal * 24 + hour) * 2 + occurrence``, where occurrence 1 is the second time
  clocks read ``HH:00`` when they fall back.

A period's window ``[start, end)`` is in UTC, and each window ends where the next begins.
A day, week or month starts at local midnight of its first day: the first one when
midnight happens twice, the end of the gap when clocks skip it (America/Santiago). An hour
starts at an instant whose local time reads ``HH:00`` and lasts until the next one, as an
``@hourly`` schedule fires: one real hour each, but for the hour of a half-hour change
(Australia/Lord_Howe), which lasts 30 or 90 minutes. A position without time in it (an
hour clocks skip, a second occurrence of an hour read once, a day a zone skipped as
Pacific/Apia did on 2011-12-30) has no window, and no key.

Keys: hourly ``2026-01-01-13:00`` (local wall time); when clocks fall back and ``HH:00``
is read twice, each of the two keys ends with its UTC offset, ISO style:
``2026-11-01-01:00-04:00`` then ``2026-11-01-01:00-05:00`` in America/New_York. Daily
``2026-01-01``; weekly, its Monday ``2026-01-05``; monthly, its first day ``2026-01-01``.
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from headwater.schedules.local_time import occurrences, to_utc

TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)
# Positions without a period in a row, at most: a skipped day holds 48 hourly positions.
_MAX_MISSES = 200
# Days between two samples when looking for days a zone skipped (see DailyPeriods.skipped).
_SAMPLE_DAYS = 64
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOUR_KEY = re.compile(r"(\d{4}-\d{2}-\d{2})-(\d{2}):(\d{2})([+-]\d{2}:\d{2}(?::\d{2})?)?")
_DAY_TEXT = tuple(f"{day:02d}" for day in range(1, 32))
_HOUR_TEXT = tuple(f"-{hour:02d}:00" for hour in range(24))
_FIXED_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Etc/Zulu"})


class BadKey(ValueError):
    """A key that names no period of a unit; the message says why, for people."""


def aware_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; partitions take aware datetimes only."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"partitions need aware datetimes, got {moment!r}")
    return moment.astimezone(UTC)


class Periods(ABC):
    """The periods of one unit in one zone. Pure; instances are shared (``periods_for``).

    Attributes:
        unit: ``"hourly"``, ``"daily"``, ``"weekly"`` or ``"monthly"``.
        written: how a key is written, for messages (``YYYY-MM-DD``).
        zone: the time zone whose wall clock delimits the periods.
    """

    unit: str
    written: str

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    @abstractmethod
    def around(self, local: datetime) -> int:
        """A position at or near the one holding the instant that reads ``local`` (aware)."""

    @abstractmethod
    def window(self, position: int) -> tuple[datetime, datetime] | None:
        """The period's ``[start, end)`` in UTC; None when it holds no time."""

    @abstractmethod
    def key(self, position: int) -> str:
        """The key of an existing period."""

    @abstractmethod
    def parse(self, key: str) -> int:
        """The position ``key`` names. Raises BadKey (no such period in this zone)."""

    @abstractmethod
    def keys(self, first: int, last: int) -> list[str]:
        """The keys of the periods from ``first`` to ``last`` (inclusive), oldest first."""

    def exists(self, position: int) -> bool:
        return self.window(position) is not None

    def shift(self, position: int, count: int) -> int | None:
        """The position ``count`` periods after ``position`` (before, when negative).

        None past the range of datetimes.
        """
        step = 1 if count > 0 else -1
        remaining, misses = abs(count), 0
        while remaining:
            position += step
            if self.exists(position):
                remaining, misses = remaining - 1, 0
            else:
                misses += 1
                if misses > _MAX_MISSES:
                    return None
        return position

    def holding(self, moment: datetime) -> int | None:
        """The position whose window holds ``moment``; None past the range of datetimes."""
        try:
            position = self.around(moment.astimezone(self.zone))
        except (OverflowError, ValueError):
            return None
        # The wall clock's reading is a guess: step back to a period that has started,
        # then on to the one that has not ended (clocks may have turned back a while).
        for _ in range(_MAX_MISSES):
            window = self.window(position)
            if window is not None and window[0] <= moment:
                return self._onward(position, window, moment)
            position -= 1
        return None

    def _onward(
        self, position: int, window: tuple[datetime, datetime], moment: datetime
    ) -> int | None:
        for _ in range(_MAX_MISSES):
            if moment < window[1]:
                return position
            following = self.shift(position, 1)
            next_window = None if following is None else self.window(following)
            if following is None or next_window is None:
                return None
            position, window = following, next_window
        return None

    def first_from(self, moment: datetime) -> int | None:
        """The first period that starts at or after ``moment``."""
        position = self.holding(moment)
        window = None if position is None else self.window(position)
        if position is None or window is None or window[0] == moment:
            return position
        return self.shift(position, 1)

    def last_until(self, moment: datetime) -> int | None:
        """The last period that ends at or before ``moment``."""
        position = self.holding(moment)
        return None if position is None else self.shift(position, -1)


@lru_cache(maxsize=512)
def periods_for(unit: str, zone: ZoneInfo) -> Periods:
    """The shared periods of ``unit`` in ``zone``. Raises KeyError for an unknown unit."""
    return _UNITS[unit](zone)


@lru_cache(maxsize=256)
def cached_keys(periods: Periods, first: int, last: int) -> tuple[str, ...]:
    """``periods.keys(first, last)``, remembered: listing keys again is a copy."""
    return tuple(periods.keys(first, last))


class _CalendarPeriods(Periods):
    """Days, weeks and months: periods that start at local midnight of their first day."""

    @abstractmethod
    def first_day(self, position: int) -> date:
        """The first day of the period (raises ValueError past the range of dates)."""

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
        for _ in range(_MAX_MISSES):
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

    def shift(self, position: int, count: int) -> int | None:
        return position + count

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

    def shift(self, position: int, count: int) -> int | None:
        return position + count

    def keys(self, first: int, last: int) -> list[str]:
        return [f"{month // 12:04d}-{month % 12 + 1:02d}-01" for month in range(first, last + 1)]


class HourlyPeriods(Periods):
    unit = "hourly"
    written = "YYYY-MM-DD-HH:00"

    def around(self, local: datetime) -> int:
        return (local.toordinal() * 24 + local.hour) * 2 + local.fold

    def found(self, slot: int) -> tuple[datetime, ...]:
        """The instants that read the local hour ``slot`` (``ordinal * 24 + hour``), ``HH:00``."""
        try:
            return occurrences(_slot_time(slot), self.zone)
        except (ValueError, OverflowError):
            return ()

    def exists(self, position: int) -> bool:
        slot, occurrence = divmod(position, 2)
        return occurrence < len(self.found(slot))

    def window(self, position: int) -> tuple[datetime, datetime] | None:
        slot, occurrence = divmod(position, 2)
        found = self.found(slot)
        if occurrence >= len(found):
            return None
        if occurrence + 1 < len(found):
            return found[occurrence], found[occurrence + 1]
        for later in range(slot + 1, slot + _MAX_MISSES):
            following = self.found(later)
            if following:
                return found[occurrence], following[0]
        return None

    def key(self, position: int) -> str:
        return dict(self._slot_keys(position // 2))[position]

    def parse(self, key: str) -> int:
        match = _HOUR_KEY.fullmatch(key)
        if match is None:
            raise BadKey("it is not an hour written YYYY-MM-DD-HH:00")
        day_text, hour_text, minute_text, offset = match.groups()
        try:
            day = date.fromisoformat(day_text)
        except ValueError as exc:
            raise BadKey(f"{day_text} is not a date ({exc})") from None
        if int(hour_text) > 23 or minute_text != "00":
            raise BadKey(f"{hour_text}:{minute_text} is not the start of an hour, 00:00 to 23:00")
        slot = day.toordinal() * 24 + int(hour_text)
        local = _slot_time(slot)
        found = self.found(slot)
        wall = f"{day_text} {hour_text}:00"
        if not found:
            raise BadKey(f"{wall} does not exist in {self.zone.key}: clocks skip it")
        offsets = [offset_text(local - instant.replace(tzinfo=None)) for instant in found]
        if offset is not None:
            if offset not in offsets:
                raise BadKey(
                    f"{wall} in {self.zone.key} has UTC offset {' or '.join(offsets)}, not {offset}"
                )
            return slot * 2 + offsets.index(offset)
        if len(found) > 1:
            named = " or ".join(repr(key + text) for text in offsets)
            raise BadKey(
                f"{wall} happens twice in {self.zone.key} (clocks fall back): name one "
                f"with its UTC offset, {named}"
            )
        return slot * 2

    def keys(self, first: int, last: int) -> list[str]:
        keys: list[str] = []
        for ordinal in range(first // 48, last // 48 + 1):
            inside = first <= ordinal * 48 and (ordinal + 1) * 48 <= last + 1
            if inside and self._regular(ordinal):
                prefix = date.fromordinal(ordinal).isoformat()
                keys += [prefix + text for text in _HOUR_TEXT]
                continue
            for slot in range(ordinal * 24, ordinal * 24 + 24):
                keys += [
                    key for position, key in self._slot_keys(slot) if first <= position <= last
                ]
        return keys

    def _slot_keys(self, slot: int) -> list[tuple[int, str]]:
        """The positions and keys of the hour ``slot``: none, one, or two with offsets."""
        local = _slot_time(slot)
        text = local.date().isoformat() + _HOUR_TEXT[local.hour]
        found = self.found(slot)
        if len(found) == 1:
            return [(slot * 2, text)]
        return [
            (slot * 2 + occurrence, text + offset_text(local - instant.replace(tzinfo=None)))
            for occurrence, instant in enumerate(found)
        ]

    def _regular(self, ordinal: int) -> bool:
        """Whether the day's clock does not change: each of its 24 hours exists once."""
        midnights = (_slot_time(ordinal * 24), _slot_time(ordinal * 24 + 24))
        offsets = {
            midnight.replace(tzinfo=self.zone, fold=fold).utcoffset()
            for midnight in midnights
            for fold in (0, 1)
        }
        return len(offsets) == 1


def offset_text(offset: timedelta) -> str:
    """A UTC offset as ISO 8601 writes it: ``+02:00``, ``-03:30``, ``+00:09:21``."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _slot_time(slot: int) -> datetime:
    day, hour = divmod(slot, 24)
    return datetime.fromordinal(day).replace(hour=hour)


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


_UNITS: dict[str, type[Periods]] = {
    periods.unit: periods
    for periods in (HourlyPeriods, DailyPeriods, WeeklyPeriods, MonthlyPeriods)
}
UNITS = tuple(_UNITS)
