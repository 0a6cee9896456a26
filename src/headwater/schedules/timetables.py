"""Timetables: the data intervals a schedule defines. Pure: times in, intervals out.

A schedule (a cron expression, a preset, a ``timedelta`` or ``@once``) cuts time into
data intervals ``[start, end)``. A run's logical date is its interval's start, and the
run is due once the interval has ended (``run_after``). Cron schedules are evaluated in
the pipeline's time zone (``cronsim`` reads the expression, ``CronTimetable`` applies the
daylight-saving rules); every datetime taken must be aware, and every datetime returned
is aware UTC.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from zoneinfo import ZoneInfo

from headwater.errors import DefinitionError, HeadwaterError
from headwater.schedules.cron import check_cron, local_times_before, local_times_from
from headwater.schedules.local_time import gap_end, occurrences, wall_clock_bounds

ONCE = "@once"
# Fixed-interval schedules without a start are aligned on the Unix epoch.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The resolution of datetime: "after m" is "at or after m + _TICK".
_TICK = timedelta(microseconds=1)
# Matching local times that may fire nothing in a row: those of a gap, or of a repeated
# hour already passed (a day of minutes at most). Past this, computing a fire time fails.
_MAX_IDLE_STEPS = 10_000


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"timetables need aware datetimes, got {moment!r}")
    return moment.astimezone(UTC)


def _later(moment: datetime, delta: timedelta = _TICK) -> datetime | None:
    """``moment + delta``, or None past the range of datetimes."""
    try:
        return moment + delta
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataInterval:
    """The span of data one run covers, ``[start, end)``, in UTC.

    Attributes:
        start: the first instant covered; also the run's logical date.
        end: the first instant not covered; the run is due once it has passed.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))

    @property
    def logical_date(self) -> datetime:
        """The date a run is known by: the interval's start."""
        return self.start

    @property
    def run_after(self) -> datetime:
        """When the run may be created: once the interval has ended."""
        return self.end


class Timetable(ABC):
    """The data intervals of a schedule, bounded by a pipeline's ``start`` and ``end``.

    Intervals are ordered by start, never overlap and, for a periodic schedule, leave no
    gap: each one ends where the next begins, and their boundaries strictly increase. No
    interval starts before ``start`` or after ``end`` (an interval that starts at or
    before ``end`` may end after it). Arguments must be aware datetimes; every datetime
    returned is aware UTC.

    Every call returns in bounded time, whatever the schedule and the time zone, and
    ``latest_complete``, ``intervals_from`` and ``next_after`` always agree. Times are
    limited to what a datetime holds (years 1 to 9999, in UTC and in local time): an
    interval that would end past that range does not exist, so the intervals of a
    schedule end there.

    Attributes:
        start: the pipeline's ``start`` in UTC, or None.
        end: the pipeline's ``end`` in UTC, or None.
    """

    def __init__(self, *, start: datetime | None = None, end: datetime | None = None) -> None:
        self.start = None if start is None else _utc(start)
        self.end = None if end is None else _utc(end)

    @property
    @abstractmethod
    def description(self) -> str:
        """The schedule, for people: ``'0 2 * * *'``, ``@daily (0 0 * * *)``, ``every 1:00:00``."""

    @abstractmethod
    def intervals_from(self, moment: datetime) -> Iterator[DataInterval]:
        """The intervals whose start is at or after ``moment``, oldest first.

        Lazy: each interval is computed when it is asked for, in bounded time. The
        iterator ends after the last interval that starts at or before ``end``, or at the
        end of the range of datetimes; take what you need (``itertools.islice``).
        """

    @abstractmethod
    def latest_complete(self, now: datetime) -> DataInterval | None:
        """The latest interval that has ended by ``now`` (``run_after <= now``), or None.

        It is the last interval ``intervals_from`` gives whose end is at or before
        ``now``: never one that has not ended. With ``catchup=False`` this is the only
        interval the scheduler runs. None when no interval within the bounds has ended.
        """

    def next_after(self, moment: datetime) -> DataInterval | None:
        """The first interval whose start is strictly after ``moment``, or None past ``end``."""
        later = _later(_utc(moment))
        return None if later is None else next(self.intervals_from(later), None)

    def intervals_between(
        self, first_logical: datetime, last_logical: datetime
    ) -> list[DataInterval]:
        """The intervals whose logical date is in ``[first_logical, last_logical]``.

        Inclusive on both ends, oldest first. The list holds every interval of the range:
        to walk a long range a few intervals at a time, use ``intervals_from``.
        """
        last = _utc(last_logical)
        return list(takewhile(lambda i: i.start <= last, self.intervals_from(first_logical)))

    def _past_end(self, start: datetime) -> bool:
        return self.end is not None and start > self.end

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description} start={self.start} end={self.end}>"


class PeriodicTimetable(Timetable):
    """A schedule that repeats: consecutive boundaries (fire times) delimit the intervals.

    Subclasses give the boundaries; this class turns them into bounded intervals.
    """

    @abstractmethod
    def _boundaries_from(self, moment: datetime) -> Iterator[datetime]:
        """The boundaries at or after ``moment``, strictly increasing, in UTC.

        Each one comes in bounded time; the iterator ends only where the range of
        datetimes does.
        """

    @abstractmethod
    def _boundary_before(self, moment: datetime) -> datetime | None:
        """The last boundary strictly before ``moment`` (UTC), or None if there is none."""

    @abstractmethod
    def interval_starting_at(self, moment: datetime) -> DataInterval | None:
        """One period from ``moment``, for a run started by hand for that logical date.

        Ignores ``start`` and ``end``; ``moment`` need not be a boundary. None when the
        period would end past the range of datetimes.
        """

    @abstractmethod
    def interval_ending_at(self, moment: datetime) -> DataInterval:
        """One period of the schedule ending at ``moment``, for a run started by hand now.

        Ignores ``start`` and ``end``; ``moment`` need not be a boundary.
        """

    def _boundary_after(self, moment: datetime) -> datetime | None:
        later = _later(moment)
        return None if later is None else next(self._boundaries_from(later), None)

    def _boundary_at_or_before(self, moment: datetime) -> datetime | None:
        if next(self._boundaries_from(moment), None) == moment:
            return moment
        return self._boundary_before(moment)

    def intervals_from(self, moment: datetime) -> Iterator[DataInterval]:
        lower = _utc(moment) if self.start is None else max(_utc(moment), self.start)
        boundaries = self._boundaries_from(lower)
        previous = next(boundaries, None)
        if previous is None:
            return
        for boundary in boundaries:
            if boundary <= previous:  # a broken sequence must fail, not loop
                raise HeadwaterError(
                    f"schedule {self.description}: boundary {boundary.isoformat()} does not "
                    f"follow {previous.isoformat()}; please report this bug"
                )
            if self._past_end(previous):
                return
            yield DataInterval(start=previous, end=boundary)
            previous = boundary

    def latest_complete(self, now: datetime) -> DataInterval | None:
        # The latest interval that has ended ends at the last boundary at or before now.
        end = self._boundary_at_or_before(_utc(now))
        begin = None if end is None else self._boundary_before(end)
        if begin is not None and self.end is not None and begin > self.end:
            # Past the end: the last interval that starts at or before it has ended too.
            begin = self._boundary_at_or_before(self.end)
            end = None if begin is None else self._boundary_after(begin)
        if begin is None or end is None or (self.start is not None and begin < self.start):
            return None
        return DataInterval(start=begin, end=end)


class CronTimetable(PeriodicTimetable):
    """Intervals between consecutive fire times of a cron expression in a time zone.

    The expression matches local times (read on the zone's clock). Every matching local
    time that exists fires. When clocks change:

    - Fixed time (neither the minute nor the hour field starts with ``*``), as in Debian
      cron: a matching local time that exists twice (clocks fall back) fires once, the
      first time; one that does not exist (clocks spring forward) fires at the end of the
      gap, the next existing local time. Fire times that coincide are one.
    - Elapsed time (a ``*`` in the minute or hour field): every instant whose local time
      matches fires, so a repeated time fires twice and a skipped one does not fire;
      ``0 * * * *`` fires every real hour.

    ``cronsim`` reads the expression on the wall clock, without a zone (where it cannot
    loop); this class applies the rules above to what it finds.
    """

    def __init__(
        self,
        expression: str,
        zone: ZoneInfo,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        super().__init__(start=start, end=end)
        self.expression = expression
        self.cron = check_cron(expression)
        self.zone = zone
        minute, hour = self.cron.split()[:2]
        self.follows_elapsed_time = minute.startswith("*") or hour.startswith("*")

    @property
    def description(self) -> str:
        if self.expression.startswith("@"):
            return f"{self.expression} ({self.cron})"
        return repr(self.cron)

    def _fire_times(self, local: datetime) -> tuple[datetime, ...]:
        """When the matching local time ``local`` fires, oldest first (UTC)."""
        found = occurrences(local, self.zone)
        if self.follows_elapsed_time:
            return found  # each occurrence; none in a gap
        if found:
            return found[:1]  # a repeated time fires once, the first time
        end = gap_end(local, self.zone)  # a skipped time fires at the end of the gap
        return () if end is None else (end,)

    def _boundaries_from(self, moment: datetime) -> Iterator[datetime]:
        moment = _utc(moment)
        low, _ = wall_clock_bounds(moment, self.zone)
        # Local times come in order, but their fire times may not: the second occurrence
        # of a repeated time comes after the first occurrence of later ones. No later
        # local time fires before the earliest fire time of the current one, so what is
        # pending up to that instant is settled.
        pending: list[datetime] = []
        last: datetime | None = None
        idle = 0
        for local in local_times_from(self.cron, low):
            fires = self._fire_times(local)
            for fire in fires:
                heapq.heappush(pending, fire)
            idle += 1
            while pending and fires and pending[0] <= fires[0]:
                fire = heapq.heappop(pending)
                if fire >= moment and (last is None or fire > last):
                    idle = 0
                    last = fire
                    yield fire
            self._check_progress(idle, moment)
        for fire in sorted(pending):
            if fire >= moment and (last is None or fire > last):
                last = fire
                yield fire

    def _boundary_before(self, moment: datetime) -> datetime | None:
        moment = _utc(moment)
        _, high = wall_clock_bounds(moment, self.zone)
        candidate = None
        for idle, local in enumerate(local_times_before(self.cron, high)):
            earlier = [fire for fire in self._fire_times(local) if fire < moment]
            if earlier:
                candidate = earlier[-1]
                break
            self._check_progress(idle, moment)
        if candidate is None:
            return None
        # An earlier local time may fire later (a repeated time's second occurrence):
        # walk the boundaries forward from the candidate, so both directions agree.
        for steps, boundary in enumerate(self._boundaries_from(candidate)):
            if boundary >= moment:
                break
            self._check_progress(steps, moment)
            candidate = boundary
        return candidate

    def _check_progress(self, steps: int, moment: datetime) -> None:
        """Fail rather than spin: no gap or repeated hour holds this many matching times."""
        if steps > _MAX_IDLE_STEPS:
            raise HeadwaterError(
                f"schedule {self.description} in {self.zone.key}: no fire time near "
                f"{moment.isoformat()} after {steps} matching local times; please report "
                "this bug"
            )

    def interval_starting_at(self, moment: datetime) -> DataInterval | None:
        start = _utc(moment)
        end = self._boundary_after(start)
        return None if end is None else DataInterval(start=start, end=end)

    def interval_ending_at(self, moment: datetime) -> DataInterval:
        end = _utc(moment)
        previous = self._boundary_before(end)
        following = None if previous is None else self._boundary_after(previous)
        if previous is None or following is None:
            return DataInterval(start=end, end=end)
        try:
            return DataInterval(start=end - (following - previous), end=end)
        except OverflowError:
            return DataInterval(start=end, end=end)


class DeltaTimetable(PeriodicTimetable):
    """Intervals of a fixed length of elapsed time, from ``start`` (else the Unix epoch).

    A ``timedelta`` is elapsed time, not wall-clock time: ``timedelta(days=1)`` in a zone
    with daylight saving moves by an hour in local time twice a year; use ``@daily`` or a
    cron expression to keep a local time of day.
    """

    def __init__(
        self, delta: timedelta, *, start: datetime | None = None, end: datetime | None = None
    ) -> None:
        super().__init__(start=start, end=end)
        self.delta = delta
        self.anchor = self.start if self.start is not None else EPOCH

    @property
    def description(self) -> str:
        return f"every {self.delta}"

    def _boundaries_from(self, moment: datetime) -> Iterator[datetime]:
        periods = -((self.anchor - moment) // self.delta)  # ceil((moment - anchor) / delta)
        try:
            boundary = self.anchor + periods * self.delta
            while True:
                yield boundary
                boundary += self.delta
        except OverflowError:
            return  # past the range of datetimes

    def _boundary_before(self, moment: datetime) -> datetime | None:
        periods = -((self.anchor - moment) // self.delta)
        try:
            return self.anchor + (periods - 1) * self.delta
        except OverflowError:
            return None

    def interval_starting_at(self, moment: datetime) -> DataInterval | None:
        end = _later(moment, self.delta)
        return None if end is None else DataInterval(start=moment, end=end)

    def interval_ending_at(self, moment: datetime) -> DataInterval:
        return DataInterval(start=moment - self.delta, end=moment)


class OnceTimetable(Timetable):
    """``@once``: a single interval ``[start, start]``, due at ``start``."""

    def __init__(self, *, start: datetime, end: datetime | None = None) -> None:
        super().__init__(start=start, end=end)
        self.at = _utc(start)

    @property
    def description(self) -> str:
        return "once"

    def intervals_from(self, moment: datetime) -> Iterator[DataInterval]:
        if self.at >= _utc(moment) and not self._past_end(self.at):
            yield DataInterval(start=self.at, end=self.at)

    def latest_complete(self, now: datetime) -> DataInterval | None:
        if self.at <= _utc(now) and not self._past_end(self.at):
            return DataInterval(start=self.at, end=self.at)
        return None


def timetable_for(
    schedule: str | timedelta | None,
    zone: ZoneInfo,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Timetable | None:
    """The timetable of a pipeline's ``schedule``; None when it has none (manual runs only).

    Args:
        schedule: a five-field cron expression, a preset, ``@once``, a ``timedelta`` or None.
        zone: the time zone cron expressions are evaluated in.
        start: no interval starts before it; required by ``@once`` (its only run).
        end: no interval starts after it.

    Raises:
        DefinitionError: an invalid expression or preset, a ``timedelta`` that is not
            positive, ``@once`` without a start, or an ``end`` before ``start``.
    """
    if start is not None and end is not None and _utc(end) < _utc(start):
        raise DefinitionError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if schedule is None:
        return None
    if isinstance(schedule, timedelta):
        if schedule <= timedelta(0):
            raise DefinitionError(f"a timedelta schedule must be positive, got {schedule!r}")
        return DeltaTimetable(schedule, start=start, end=end)
    if not isinstance(schedule, str):
        raise DefinitionError(
            "schedule must be a cron string, a preset such as '@daily', a timedelta or None, "
            f"got {schedule!r}"
        )
    if schedule.strip().lower() == ONCE:
        if start is None:
            raise DefinitionError(
                "schedule '@once' needs a start: it is the logical date of the single run"
            )
        return OnceTimetable(start=start, end=end)
    return CronTimetable(schedule, zone, start=start, end=end)
