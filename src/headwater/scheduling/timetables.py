"""Timetables: the data intervals a schedule defines. Pure: times in, intervals out.

A schedule (a cron expression, a preset, a ``timedelta`` or ``@once``) cuts time into
data intervals ``[start, end)``. A run's logical date is its interval's start, and the
run is due once the interval has ended (``run_after``). Cron schedules are evaluated in
the pipeline's time zone with Debian cron's daylight-saving rules (through ``cronsim``);
every datetime taken must be aware, and every datetime returned is aware UTC.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from headwater.errors import DefinitionError

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
ONCE = "@once"
# Fixed-interval schedules without a start are aligned on the Unix epoch.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The resolution of datetime: "after m" is "at or after m + _TICK".
_TICK = timedelta(microseconds=1)
_EXPECTED = (
    "expected a cron expression of five fields (minute hour day-of-month month "
    "day-of-week) such as '0 2 * * *', or one of the presets @hourly, @daily, @weekly, "
    "@monthly, @yearly, @once"
)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"timetables need aware datetimes, got {moment!r}")
    return moment.astimezone(UTC)


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
    gap: each one ends where the next begins. No interval starts before ``start`` or
    after ``end`` (an interval that starts at or before ``end`` may end after it).
    Arguments must be aware datetimes; every datetime returned is aware UTC.

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

        The iterator ends after the last interval that starts at or before ``end``;
        without an ``end`` it never ends, so take what you need (``itertools.islice``).
        """

    @abstractmethod
    def latest_complete(self, now: datetime) -> DataInterval | None:
        """The latest interval that has ended by ``now`` (``run_after <= now``), or None.

        With ``catchup=False`` this is the only interval the scheduler runs. None when no
        interval within the bounds has ended yet.
        """

    def next_after(self, moment: datetime) -> DataInterval | None:
        """The first interval whose start is strictly after ``moment``, or None past ``end``."""
        return next(self.intervals_from(_utc(moment) + _TICK), None)

    def intervals_between(
        self, first_logical: datetime, last_logical: datetime
    ) -> list[DataInterval]:
        """The intervals whose logical date is in ``[first_logical, last_logical]``.

        Inclusive on both ends, oldest first: with ``catchup=True`` the scheduler asks for
        every interval from the first missed one to ``latest_complete(now)``.
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
    def _boundaries_after(self, moment: datetime) -> Iterator[datetime]:
        """The boundaries strictly after ``moment``, strictly increasing, in UTC."""

    @abstractmethod
    def _boundary_before(self, moment: datetime) -> datetime | None:
        """The last boundary strictly before ``moment`` (UTC), or None if there is none."""

    @abstractmethod
    def interval_starting_at(self, moment: datetime) -> DataInterval:
        """One period from ``moment``, for a run started by hand for that logical date.

        Ignores ``start`` and ``end``; ``moment`` need not be a boundary.
        """

    @abstractmethod
    def interval_ending_at(self, moment: datetime) -> DataInterval:
        """One period of the schedule ending at ``moment``, for a run started by hand now.

        Ignores ``start`` and ``end``; ``moment`` need not be a boundary.
        """

    def _boundary_after(self, moment: datetime) -> datetime | None:
        return next(self._boundaries_after(moment), None)

    def intervals_from(self, moment: datetime) -> Iterator[DataInterval]:
        lower = _utc(moment) if self.start is None else max(_utc(moment), self.start)
        boundaries = self._boundaries_after(lower - _TICK)
        previous = next(boundaries, None)
        if previous is None:
            return
        for boundary in boundaries:
            if self._past_end(previous):
                return
            yield DataInterval(start=previous, end=boundary)
            previous = boundary

    def latest_complete(self, now: datetime) -> DataInterval | None:
        last_end = self._boundary_before(_utc(now) + _TICK)  # the last boundary <= now
        begin = None if last_end is None else self._boundary_before(last_end)
        if begin is not None and self.end is not None and begin > self.end:
            # Past the end: the last interval that starts at or before it has ended too.
            begin = self._boundary_before(self.end + _TICK)
        if begin is None or (self.start is not None and begin < self.start):
            return None
        following = self._boundary_after(begin)
        return None if following is None else DataInterval(start=begin, end=following)


class CronTimetable(PeriodicTimetable):
    """Intervals between consecutive fire times of a cron expression in a time zone.

    Daylight saving follows Debian cron (as ``cronsim`` implements it) for expressions
    whose minute and hour fields do not start with ``*``: a fire time that does not exist
    (clocks spring forward) fires at the next existing local time, and one that exists
    twice (clocks fall back) fires once, the first time. Expressions with ``*`` in the
    minute or hour field follow elapsed time: ``0 * * * *`` fires every real hour.
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

    @property
    def description(self) -> str:
        if self.expression.startswith("@"):
            return f"{self.expression} ({self.cron})"
        return repr(self.cron)

    def _boundaries_after(self, moment: datetime) -> Iterator[datetime]:
        # cronsim works on wall-clock time for fixed-time expressions, so in the repeated
        # hour of a fall-back day it may start from the first (earlier) occurrence of a
        # time, and a skipped time and the next existing one may both land on the same
        # instant: keep only instants after the last one given.
        last = moment
        for fire in CronSim(self.cron, moment.astimezone(self.zone)):
            fire_utc = fire.astimezone(UTC)
            if fire_utc > last:
                yield fire_utc
                last = fire_utc

    def _boundary_before(self, moment: datetime) -> datetime | None:
        candidate = None
        for fire in CronSim(self.cron, moment.astimezone(self.zone), reverse=True):
            fire_utc = fire.astimezone(UTC)
            if fire_utc < moment:
                candidate = fire_utc
                break
        if candidate is None:
            return None
        # The forward sequence defines the boundaries (its DST fix-ups included): walk it
        # from the candidate so both directions always agree.
        for boundary in self._boundaries_after(candidate):
            if boundary >= moment:
                break
            candidate = boundary
        return candidate

    def interval_starting_at(self, moment: datetime) -> DataInterval:
        start = _utc(moment)
        end = self._boundary_after(start)
        return DataInterval(start=start, end=end if end is not None else start)

    def interval_ending_at(self, moment: datetime) -> DataInterval:
        end = _utc(moment)
        previous = self._boundary_before(end)
        following = None if previous is None else self._boundary_after(previous)
        if previous is None or following is None:
            return DataInterval(start=end, end=end)
        return DataInterval(start=end - (following - previous), end=end)


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

    def _boundaries_after(self, moment: datetime) -> Iterator[datetime]:
        boundary = self.anchor + ((moment - self.anchor) // self.delta + 1) * self.delta
        while True:
            yield boundary
            boundary += self.delta

    def _boundary_before(self, moment: datetime) -> datetime:
        periods = -((self.anchor - moment) // self.delta)  # ceil((moment - anchor) / delta)
        return self.anchor + (periods - 1) * self.delta

    def interval_starting_at(self, moment: datetime) -> DataInterval:
        return DataInterval(start=moment, end=moment + self.delta)

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


def check_cron(expression: str) -> str:
    """The five-field cron expression ``expression`` stands for (presets expanded).

    Raises:
        DefinitionError: an unknown preset, or an expression cronsim rejects.
    """
    cron = PRESETS.get(expression.strip().lower(), expression.strip())
    fields = cron.split()
    if cron.startswith("@"):
        reason = "unknown preset"
    elif len(fields) != 5:
        reason = f"it has {len(fields)} field(s)"
    else:
        try:
            CronSim(cron, EPOCH)
        except CronSimError as exc:
            reason = str(exc).lower()
        else:
            return " ".join(fields)
    raise DefinitionError(f"invalid schedule {expression!r}: {reason}; {_EXPECTED}")


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
