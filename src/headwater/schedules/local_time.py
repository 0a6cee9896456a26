"""Local time and UTC: which instants a local time (read on a zone's clock) stands for.

A local time, a naive datetime, exists once; twice when clocks fall back (the repeated
times); or not at all when they spring forward (the gap). Instants are aware UTC
datetimes. Both are limited to what a datetime holds, years 1 to 9999: an instant whose
UTC or local time falls outside is left out, never an ``OverflowError``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)
# The first and last local times a datetime holds (local times are naive).
FIRST_LOCAL = datetime.min  # noqa: DTZ901
LAST_LOCAL = datetime.max  # noqa: DTZ901


def occurrences(local: datetime, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The instants whose time in ``zone`` reads ``local``, oldest first.

    One for most times, two for a repeated time (fall back), none in a gap (spring
    forward); an instant past the range of datetimes is left out.
    """
    early, late = _offsets(local, zone)
    first, second = _shifted(local, -early), _shifted(local, -late)
    if early == late:
        return () if first is None else (first,)
    if early < late:
        return ()  # clocks jumped over it: first (after the change) > second (before it)
    return tuple(instant for instant in (first, second) if instant is not None)


def gap_end(local: datetime, zone: ZoneInfo) -> datetime | None:
    """For a local time in a gap: the instant the gap ends, the first existing time after it.

    None when ``local`` exists, or when the change is past the range of datetimes.
    """
    before, after = _offsets(local, zone)
    if before >= after:
        return None
    # The change is in (local - after, local - before]; changes fall on whole seconds.
    low, high = _shifted(local, -after), _shifted(local, -before)
    if low is None or high is None:
        return None
    low = low.replace(microsecond=0)
    if high.microsecond:
        high = high.replace(microsecond=0) + _SECOND
    while high - low > _SECOND:
        middle = low + _SECOND * ((high - low) // _SECOND // 2)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def to_utc(local: datetime, zone: ZoneInfo) -> datetime | None:
    """The instant a local time given by a person stands for.

    The time itself when it exists once; its first occurrence when clocks fall back and
    it exists twice; the end of the gap (the next existing local time) when clocks spring
    forward over it. None when that instant is outside the range of datetimes.
    """
    found = occurrences(local, zone)
    return found[0] if found else gap_end(local, zone)


def wall_clock_bounds(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local times ``(low, high)`` that bound what can happen at and around ``moment``.

    Every instant at or after ``moment`` reads ``low`` or later in ``zone``, and so does
    every local time in a gap that ends at or after ``moment``; every instant before
    ``moment`` reads earlier than ``high``. (Around a repeated hour, local time reads
    earlier after the change than before it.) Both are clamped to the range of datetimes.
    """
    base = moment.astimezone(UTC).replace(tzinfo=None)
    try:
        local = moment.astimezone(zone)
        just_before = (moment - _TICK).astimezone(zone)
    except OverflowError:  # its local time is past the end, or before the start, of datetime
        edge = LAST_LOCAL if base.year > 1 else FIRST_LOCAL
        return edge, edge
    # the offsets of both readings of the local time, and the one in force just before:
    # a gap that ends at moment holds local times that read with that one
    offsets = [local.replace(fold=fold).utcoffset() or timedelta(0) for fold in (0, 1)]
    offsets.append(just_before.utcoffset() or timedelta(0))
    return _clamped(base, min(offsets)), _clamped(base, max(offsets))


def _offsets(local: datetime, zone: ZoneInfo) -> tuple[timedelta, timedelta]:
    """The UTC offsets ``local`` reads with: before a change (fold=0) and after it (PEP 495)."""
    before = local.replace(tzinfo=zone, fold=0).utcoffset() or timedelta(0)
    after = local.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    return before, after


def _shifted(local: datetime, offset: timedelta) -> datetime | None:
    try:
        return (local + offset).replace(tzinfo=UTC)
    except OverflowError:
        return None


def _clamped(base: datetime, offset: timedelta) -> datetime:
    try:
        return base + offset
    except OverflowError:
        return LAST_LOCAL if offset > timedelta(0) else FIRST_LOCAL
