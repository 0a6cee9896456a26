"""Time partitions: one partition per hour, day, week or month of a zone's wall clock.

Keys and windows follow the periods of ``days`` and ``hours``, where the daylight-saving
rules are described. Every datetime taken must be aware; every datetime returned is aware
UTC. A definition computes nothing until asked; what it computes once, it remembers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import UTC, date, datetime
from functools import cached_property, lru_cache
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from headwater.assets.partitions.base import DynamicKeys, PartitionError, PartitionsDefinition
from headwater.assets.partitions.days import DailyPeriods, MonthlyPeriods, WeeklyPeriods
from headwater.assets.partitions.hours import HourlyPeriods
from headwater.assets.partitions.periods import TICK, BadKey, Periods, aware_utc, cached_keys
from headwater.errors import DefinitionError, HeadwaterError
from headwater.schedules.local_time import to_utc

_UNITS: dict[str, type[Periods]] = {
    periods.unit: periods
    for periods in (HourlyPeriods, DailyPeriods, WeeklyPeriods, MonthlyPeriods)
}


@lru_cache(maxsize=512)
def _periods_for(unit: str, zone: ZoneInfo) -> Periods:
    """The periods of ``unit`` in ``zone``, shared (their keys are remembered per instance)."""
    return _UNITS[unit](zone)


class TimePartitions(PartitionsDefinition):
    """Periods of the wall clock in a time zone: one partition an hour, day, week or month.

    The first partition is the first period that starts at or after ``start``; the last,
    if ``end`` is given, the last that ends at or before it (``end`` is excluded:
    ``start="2026-01-01", end="2026-02-01"`` is January). ``keys(now=...)`` lists the
    partitions that have ended by ``now``; ``end_offset=1`` adds the one in progress
    (``-1`` leaves out the last complete one).

    Args:
        unit: ``"hourly"``, ``"daily"``, ``"weekly"`` (weeks start on Monday) or
            ``"monthly"``.
        start: an ISO date or datetime (``"2026-01-01"``), a ``date`` or a ``datetime``;
            a date means its midnight, and a naive datetime a wall time, in ``timezone``.
        end: like ``start``, or None for partitions that go on.
        timezone: the IANA zone whose wall clock the periods follow.
        end_offset: how many partitions past the last complete one ``keys`` lists.

    Raises:
        DefinitionError: an unknown unit or zone, a bad start or end, ``end`` leaving no
            partition, or an ``end_offset`` that is not a whole number.
    """

    kind = "time"

    def __init__(
        self,
        unit: str,
        start: str | date | datetime,
        *,
        end: str | date | datetime | None = None,
        timezone: str = "UTC",
        end_offset: int = 0,
    ) -> None:
        if unit not in _UNITS:
            raise DefinitionError(
                f"time partitions: unknown unit {unit!r}; use 'hourly', 'daily', 'weekly' or "
                "'monthly'"
            )
        self.unit = unit
        self.zone = _zone(timezone, unit)
        self.timezone = self.zone.key
        self.start, self._start = _moment("start", start, unit)
        self.end: str | None = None
        self._end: date | datetime | None = None
        if end is not None:
            self.end, self._end = _moment("end", end, unit)
        if isinstance(end_offset, bool) or not isinstance(end_offset, int):
            raise DefinitionError(
                f"{unit} partitions: end_offset must be a whole number (1 adds the partition "
                f"in progress), got {end_offset!r}"
            )
        self.end_offset = end_offset
        self._periods = _periods_for(unit, self.zone)
        if self._start.year in (1, 9999):
            _ = self._first  # at the ends of the range of datetimes: fail now, not when used
        if end is not None and (self._last is None or self._last < self._first):
            raise DefinitionError(
                f"{self.describe()}: no {unit} partition fits between start and end; move end later"
            )

    @cached_property
    def _first(self) -> int:
        instant = self._instant("start", self._start)
        first = self._periods.first_from(instant)
        if first is None:
            raise DefinitionError(f"{self.describe()}: no partition starts at or after start")
        return first

    @cached_property
    def _last(self) -> int | None:
        """The last partition, when there is an end."""
        if self._end is None:
            return None
        return self._periods.last_until(self._instant("end", self._end))

    def _instant(self, name: str, moment: date | datetime) -> datetime:
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            return moment
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day)  # noqa: DTZ001
        try:
            instant = to_utc(moment, self.zone)
        except OverflowError:
            instant = None
        if instant is None:
            raise DefinitionError(
                f"{self.unit} partitions: {name} {moment.isoformat()} in {self.timezone} is "
                "outside years 1 to 9999 in UTC; use a date within them"
            )
        return instant

    def keys(self, *, now: datetime | None = None, dynamic: DynamicKeys | None = None) -> list[str]:
        last = self._last_listed(now)
        if last is None or last < self._first:
            return []
        return cached_keys(self._periods, self._first, last)

    def _last_listed(self, now: datetime | None) -> int | None:
        if now is None:
            if self._last is None:
                raise PartitionError(
                    f"{self.describe()} has no end: give the time (now) to list the "
                    "partitions that have ended by then"
                )
            return self._last
        current = self._periods.holding(aware_utc(now))
        last = None if current is None else self._periods.shift(current, self.end_offset - 1)
        if last is None or self._last is None:
            return self._last if last is None else last
        return min(last, self._last)

    def check_key(self, key: str, *, dynamic: DynamicKeys | None = None) -> str:
        return self._periods.key(self._position(key))

    def _position(self, key: str) -> int:
        if not isinstance(key, str):
            raise self.bad_key(key, f"it is a {type(key).__name__}, not text")
        try:
            position = self._periods.parse(key)
        except BadKey as exc:
            raise self.bad_key(key, str(exc)) from None
        if not self._periods.exists(position):
            raise self.bad_key(key, f"the clocks of {self.timezone} skip that whole period")
        if position < self._first:
            first = self._periods.key(self._first)
            raise self.bad_key(key, f"it is before the first partition, {first}")
        if self._last is not None and position > self._last:
            last = self._periods.key(self._last)
            raise self.bad_key(key, f"it is after the last partition, {last}")
        return position

    def key_range(self, first: str, last: str, *, dynamic: DynamicKeys | None = None) -> list[str]:
        low, high = self._position(first), self._position(last)
        if low > high:
            raise self.backward(first, last)
        return cached_keys(self._periods, low, high)

    def time_window(self, key: str) -> tuple[datetime, datetime]:
        window = self._periods.window(self._position(key))
        if window is None:  # _position checked that it exists
            raise HeadwaterError(
                f"{self.describe()}: {key!r} has no window; please report this bug"
            )
        return window

    def key_of(self, moment: datetime) -> str | None:
        """The partition whose window holds ``moment``; None before start or after end."""
        position = self._periods.holding(aware_utc(moment))
        if position is None or not self._within(position):
            return None
        return self._periods.key(position)

    def last_complete_key(self, now: datetime) -> str | None:
        """The newest partition that has ended by ``now``: what a schedule firing then runs."""
        position = self._periods.last_until(aware_utc(now))
        if position is not None and self._last is not None:
            position = min(position, self._last)
        if position is None or position < self._first:
            return None
        return self._periods.key(position)

    def keys_between(self, start: datetime, end: datetime) -> list[str]:
        """The partitions whose window overlaps ``[start, end)``, oldest first."""
        start, end = aware_utc(start), aware_utc(end)
        if end <= start:
            return []
        low = self._periods.holding(start)
        high = self._periods.holding(end - TICK)
        low = self._first if low is None else max(low, self._first)
        if self._last is not None:
            high = self._last if high is None else min(high, self._last)
        if high is None or low > high:
            return []
        return cached_keys(self._periods, low, high)

    def keys_before(self, moment: datetime, count: int) -> list[str]:
        """The partition holding the instant just before ``moment`` and the ``count - 1``
        before it, oldest first; those before the first or after the last are left out."""
        high = self._periods.holding(aware_utc(moment) - TICK)
        low = None if high is None else self._periods.shift(high, 1 - count)
        if high is None or low is None:
            return []
        low = max(low, self._first)
        high = high if self._last is None else min(high, self._last)
        return cached_keys(self._periods, low, high) if low <= high else []

    def window_after(self, key: str, count: int) -> tuple[datetime, datetime] | None:
        """The window of the period ``count`` periods after ``key`` (before, if negative),
        whether or not it is within start and end; None past the range of datetimes."""
        position = self._periods.shift(self._position(key), count)
        return None if position is None else self._periods.window(position)

    def _within(self, position: int) -> bool:
        return position >= self._first and (self._last is None or position <= self._last)

    def describe(self) -> str:
        text = f"{self.unit} from {self.start}"
        if self.end is not None:
            text += f" to {self.end}"
        text += f" in {self.timezone}"
        if self.end_offset:
            text += f" with end_offset {self.end_offset}"
        return text

    def expected(self) -> str:
        return f"{self._periods.written} such as {self._periods.key(self._first)}"

    @classmethod
    def read_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            data["unit"],
            data["start"],
            end=data.get("end"),
            timezone=data.get("timezone", "UTC"),
            end_offset=data.get("end_offset", 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "unit": self.unit,
            "start": self.start,
            "end": self.end,
            "timezone": self.timezone,
            "end_offset": self.end_offset,
        }

    def _identity(self) -> tuple[Hashable, ...]:
        return (self.kind, self.unit, self.start, self.end, self.timezone, self.end_offset)

    def __repr__(self) -> str:
        extra = "" if self.end is None else f", end={self.end!r}"
        extra += "" if not self.end_offset else f", end_offset={self.end_offset}"
        return (
            f"TimePartitions({self.unit!r}, start={self.start!r}{extra}, "
            f"timezone={self.timezone!r})"
        )


def HourlyPartitions(
    start: str | date | datetime,
    *,
    timezone: str = "UTC",
    end: str | date | datetime | None = None,
    end_offset: int = 0,
) -> TimePartitions:
    """One partition per hour of the wall clock: ``2026-01-01-13:00``."""
    return TimePartitions("hourly", start, end=end, timezone=timezone, end_offset=end_offset)


def DailyPartitions(
    start: str | date | datetime,
    *,
    timezone: str = "UTC",
    end: str | date | datetime | None = None,
    end_offset: int = 0,
) -> TimePartitions:
    """One partition per day, local midnight to midnight: ``2026-01-01``."""
    return TimePartitions("daily", start, end=end, timezone=timezone, end_offset=end_offset)


def WeeklyPartitions(
    start: str | date | datetime,
    *,
    timezone: str = "UTC",
    end: str | date | datetime | None = None,
    end_offset: int = 0,
) -> TimePartitions:
    """One partition per week from Monday, keyed by its Monday: ``2026-01-05``."""
    return TimePartitions("weekly", start, end=end, timezone=timezone, end_offset=end_offset)


def MonthlyPartitions(
    start: str | date | datetime,
    *,
    timezone: str = "UTC",
    end: str | date | datetime | None = None,
    end_offset: int = 0,
) -> TimePartitions:
    """One partition per month, keyed by its first day: ``2026-01-01``."""
    return TimePartitions("monthly", start, end=end, timezone=timezone, end_offset=end_offset)


def _zone(timezone: object, unit: str) -> ZoneInfo:
    try:
        if not isinstance(timezone, str):
            raise ValueError(timezone)
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DefinitionError(
            f"{unit} partitions: unknown timezone {timezone!r}; use an IANA name such as "
            "'UTC' or 'Europe/Paris'"
        ) from None


def _moment(name: str, value: object, unit: str) -> tuple[str, date | datetime]:
    """A start or end as given: its canonical text, and a date, wall time or UTC instant."""
    moment: date | datetime
    if isinstance(value, str):
        try:
            moment = (
                date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
            )
        except ValueError:
            raise DefinitionError(
                f"{unit} partitions: {name} {value!r} is not an ISO date or datetime; use "
                "one such as '2026-01-01' or '2026-01-01T06:00'"
            ) from None
    elif isinstance(value, date):
        moment = value
    else:
        raise DefinitionError(
            f"{unit} partitions: {name} must be an ISO date text, a date or a datetime, "
            f"got {value!r}"
        )
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        elif moment.time() == datetime.min.time():
            moment = moment.date()
    if isinstance(moment, datetime) and not (moment.second or moment.microsecond):
        return moment.isoformat(timespec="minutes"), moment
    return moment.isoformat(), moment
