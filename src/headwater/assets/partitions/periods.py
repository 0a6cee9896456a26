"""The periods of a time unit in a time zone: the contract, and what the units share.

A period is named by a *position*, a whole number that grows with time (a date's
ordinal for days, a UTC second for hours: see ``days`` and ``hours``). A period's window
``[start, end)`` is in UTC, and each window ends where the next begins. A position
without time in it (an hour clocks skip, a day a zone skipped) has no window and no key.

Keys: hourly ``2026-01-01-13:00`` (local wall time; when clocks fall back and ``HH:00``
is read twice, each of the two keys ends with its UTC offset, ISO style:
``2026-11-01-01:00-04:00`` then ``2026-11-01-01:00-05:00`` in America/New_York); daily
``2026-01-01``; weekly, its Monday ``2026-01-05``; monthly, its first day ``2026-01-01``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from threading import Lock
from zoneinfo import ZoneInfo

TICK = timedelta(microseconds=1)
# Steps a search takes at most before giving up (near the ends of the range of datetimes).
MAX_STEPS = 200


class BadKey(ValueError):
    """A key that names no period of a unit; the message says why, for people."""


def aware_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; partitions take aware datetimes only."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"partitions need aware datetimes, got {moment!r}")
    return moment.astimezone(UTC)


def offset_text(offset: timedelta | None) -> str:
    """A UTC offset as ISO 8601 writes it: ``+02:00``, ``-03:30``, ``+00:09:21``."""
    seconds = int((offset or timedelta(0)).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


class Periods(ABC):
    """The periods of one unit in one zone. Pure; instances are shared (``cached_keys``
    remembers key lists by instance).

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
    def window(self, position: int) -> tuple[datetime, datetime] | None:
        """The period's ``[start, end)`` in UTC; None when there is no such period."""

    @abstractmethod
    def key(self, position: int) -> str:
        """The key of an existing period."""

    @abstractmethod
    def parse(self, key: str) -> int:
        """The position ``key`` names. Raises BadKey: no such period in this zone."""

    @abstractmethod
    def keys(self, first: int, last: int) -> list[str]:
        """The keys of the periods from ``first`` to ``last`` (inclusive), oldest first."""

    @abstractmethod
    def holding(self, moment: datetime) -> int | None:
        """The period whose window holds ``moment``; None past the range of datetimes."""

    @abstractmethod
    def shift(self, position: int, count: int) -> int | None:
        """The period ``count`` periods after ``position`` (before, when negative); None
        past the range of datetimes."""

    def exists(self, position: int) -> bool:
        return self.window(position) is not None

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


def cached_keys(periods: Periods, first: int, last: int) -> list[str]:
    """``periods.keys(first, last)``, a new list; long lists are remembered (``KEY_CACHE``)."""
    found = KEY_CACHE.get(periods, first, last)
    if found is None:
        found = tuple(periods.keys(first, last))
        KEY_CACHE.put(periods, first, last, found)
    return list(found)


class KeyCache:
    """The key lists computed last, by periods and range, up to a number of keys in all.

    Only lists of ``shortest`` keys or more are kept: shorter ones cost less to compute
    again than to keep. Safe to share between threads.
    """

    def __init__(self, *, most_keys: int, shortest: int) -> None:
        self.most_keys = most_keys
        self.shortest = shortest
        self._lists: OrderedDict[tuple[Periods, int, int], tuple[str, ...]] = OrderedDict()
        self._size = 0
        self._lock = Lock()

    def get(self, periods: Periods, first: int, last: int) -> tuple[str, ...] | None:
        with self._lock:
            found = self._lists.get((periods, first, last))
            if found is not None:
                self._lists.move_to_end((periods, first, last))
            return found

    def put(self, periods: Periods, first: int, last: int, keys: tuple[str, ...]) -> None:
        if not self.shortest <= len(keys) <= self.most_keys:
            return
        with self._lock:
            if (periods, first, last) in self._lists:
                return
            self._lists[periods, first, last] = keys
            self._size += len(keys)
            while self._size > self.most_keys:
                _, dropped = self._lists.popitem(last=False)
                self._size -= len(dropped)


# About 30 MB at most: 400,000 keys, such as 45 years of hourly keys.
KEY_CACHE = KeyCache(most_keys=400_000, shortest=100)
