"""Hours: from each instant whose local time reads ``HH:00`` to the next one.

The hours are those an ``@hourly`` schedule fires at. Where clocks change by whole hours,
each hour is one real hour: an hour the clocks skip has no period, and an hour they
repeat has two, whose keys end with their UTC offsets (``2026-11-01-01:00-04:00`` then
``2026-11-01-01:00-05:00`` in America/New_York; also when clocks go back two hours, as in
Asia/Chita in 2014). Where clocks change by half an hour (Australia/Lord_Howe), the hour
of the change lasts 90 minutes: ``01:00`` runs to ``03:00`` when ``02:00`` is skipped,
and to the ``02:00`` after the repeated half hour.

A position is the UTC second the hour starts at, counted from 0001-01-01: positions
follow time even where the wall clock goes back.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from headwater.assets.partitions.periods import MAX_STEPS, TICK, BadKey, Periods, offset_text
from headwater.schedules.local_time import occurrences

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_LAST_HOUR = timedelta(hours=23)
_HOUR_KEY = re.compile(r"(\d{4}-\d{2}-\d{2})-(\d{2}):(\d{2})([+-]\d{2}:\d{2}(?::\d{2})?)?")
_HOUR_TEXT = tuple(f"-{hour:02d}:00" for hour in range(24))


class HourlyPeriods(Periods):
    unit = "hourly"
    written = "YYYY-MM-DD-HH:00"

    def window(self, position: int) -> tuple[datetime, datetime] | None:
        start = _instant(position)
        local = None if start is None else self._local(start)
        if start is None or local is None or _into_hour(local):
            return None
        end = self._after(start)
        return None if end is None else (start, end)

    def holding(self, moment: datetime) -> int | None:
        start = self._at_or_before(moment)
        return None if start is None else _position(start)

    def shift(self, position: int, count: int) -> int | None:
        instant = _instant(position)
        if instant is not None and self._whole_hours_apart(instant, count):
            return position + count * 3600
        for _ in range(abs(count)):
            if instant is None:
                return None
            instant = self._after(instant) if count > 0 else self._at_or_before(instant - TICK)
        return None if instant is None else _position(instant)

    def key(self, position: int) -> str:
        instant = _instant(position)
        local = None if instant is None else self._local(instant)
        if local is None:
            raise BadKey(f"no hour starts at position {position}")
        return self._key(local)

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
        wall = datetime(day.year, day.month, day.day, int(hour_text))  # noqa: DTZ001
        found = occurrences(wall, self.zone)
        where = f"{day_text} {hour_text}:00"
        if not found:
            raise BadKey(f"{where} does not exist in {self.zone.key}: clocks skip it")
        offsets = [offset_text(wall - instant.replace(tzinfo=None)) for instant in found]
        if offset is None and len(found) > 1:
            named = " or ".join(repr(key + text) for text in offsets)
            raise BadKey(
                f"{where} happens twice in {self.zone.key} (clocks fall back): name one with "
                f"its UTC offset, {named}"
            )
        if offset is not None and offset not in offsets:
            raise BadKey(
                f"{where} in {self.zone.key} has UTC offset {' or '.join(offsets)}, not {offset}"
            )
        return _position(found[0 if offset is None else offsets.index(offset)])

    def keys(self, first: int, last: int) -> list[str]:
        keys: list[str] = []
        instant, end = _instant(first), _instant(last)
        while instant is not None and end is not None and instant <= end:
            local = self._local(instant)
            if local is None:
                break
            if local.hour == 0 and self._plain_day(local) and instant + _LAST_HOUR <= end:
                # a day without a change of clocks: 24 hours of one hour each
                prefix = local.date().isoformat()
                keys += [prefix + text for text in _HOUR_TEXT]
                instant += _DAY
                continue
            keys.append(self._key(local))
            instant = self._after(instant)
        return keys

    def _key(self, local: datetime) -> str:
        text = local.date().isoformat() + _HOUR_TEXT[local.hour]
        wall = local.replace(tzinfo=None)
        # An existing wall time read with two offsets is read twice (PEP 495).
        if (
            wall.replace(tzinfo=self.zone, fold=0).utcoffset()
            != wall.replace(tzinfo=self.zone, fold=1).utcoffset()
        ):
            text += offset_text(local.utcoffset())
        return text

    def _plain_day(self, midnight: datetime) -> bool:
        """Whether the day from ``midnight`` (local) and the next midnight keep one offset."""
        wall = midnight.replace(tzinfo=None)
        try:
            walls = (wall, wall + _DAY)
        except OverflowError:
            return False
        offsets = {
            moment.replace(tzinfo=self.zone, fold=fold).utcoffset()
            for moment in walls
            for fold in (0, 1)
        }
        return offsets == {midnight.utcoffset()}

    def _whole_hours_apart(self, start: datetime, count: int) -> bool:
        """Whether the hour ``count`` hours from ``start`` is ``count`` real hours away.

        It is when the clocks change only by whole hours between: every real hour then
        reads ``HH:00``. The offset is read every 12 hours (no zone changes its clocks
        twice in 12 hours), and each change between two readings must be whole hours.
        """
        offsets = []
        for hours in [*range(0, count, 12 if count > 0 else -12), count]:
            later = _minus(start, -_HOUR * hours)
            local = None if later is None else self._local(later)
            if local is None:
                return False
            offsets.append(local.utcoffset() or timedelta(0))
        return all((one - other) % _HOUR == timedelta(0) for one, other in pairwise(offsets))

    def _local(self, instant: datetime) -> datetime | None:
        try:
            return instant.astimezone(self.zone)
        except OverflowError:
            return None

    def _at_or_before(self, moment: datetime) -> datetime | None:
        """The last instant at or before ``moment`` that reads ``HH:00``."""
        for _ in range(MAX_STEPS):
            local = self._local(moment)
            start = _minus(moment, None if local is None else _into_hour(local))
            start_local = None if start is None else self._local(start)
            if local is None or start is None or start_local is None:
                return None
            if start_local.utcoffset() == local.utcoffset():
                return start  # no change between: start reads HH:00
            moment = self._change_after(start, moment) - TICK
        return None

    def _after(self, moment: datetime) -> datetime | None:
        """The first instant after ``moment`` that reads ``HH:00``."""
        for _ in range(MAX_STEPS):
            local = self._local(moment)
            start = _minus(moment, None if local is None else _into_hour(local))
            following = _minus(start, -_HOUR)
            following_local = None if following is None else self._local(following)
            if local is None or following is None or following_local is None:
                return None
            if following_local.utcoffset() == local.utcoffset():
                return following  # no change between: the next HH:00 at this offset
            moment = self._change_after(moment, following)
            changed = self._local(moment)
            if changed is not None and not _into_hour(changed):
                return moment
        return None

    def _change_after(self, low: datetime, high: datetime) -> datetime:
        """The instant in ``(low, high]`` the UTC offset changes at (there is one)."""
        offset = low.astimezone(self.zone).utcoffset()
        while high - low > _SECOND:
            middle = low + (high - low) // 2
            if middle.astimezone(self.zone).utcoffset() == offset:
                low = middle
            else:
                high = middle
        # offsets change on whole seconds, and (low, high] holds one at most
        whole = high.replace(microsecond=0)
        return whole if whole > low else high


def _position(instant: datetime) -> int:
    return (instant - _EPOCH) // _SECOND


def _instant(position: int) -> datetime | None:
    try:
        return _EPOCH + position * _SECOND
    except OverflowError:
        return None


def _minus(moment: datetime | None, delta: timedelta | None) -> datetime | None:
    if moment is None or delta is None:
        return None
    try:
        return moment - delta
    except OverflowError:
        return None


def _into_hour(local: datetime) -> timedelta:
    return timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
