"""Data intervals: which span of time a run covers. Pure functions of their inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from headwater.errors import ConfigError
from headwater.schedules.local_time import to_utc
from headwater.schedules.timetables import ONCE, DataInterval, PeriodicTimetable, timetable_for

__all__ = ["DataInterval", "manual_interval", "parse_logical_date"]


def parse_logical_date(value: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    """Parse ``--date``: an ISO date or datetime; naive values are in ``zone``.

    A naive local time that clocks skip (spring forward) means the next existing local
    time, the end of the gap; one that happens twice (fall back) means its first
    occurrence, as a fixed-time cron schedule fires. Give an offset to name the second.

    Returns the aware UTC datetime and whether only a date (no time) was given.

    Raises:
        ConfigError: not an ISO date or datetime, or outside years 1 to 9999 in UTC.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"invalid date {value!r}; use an ISO date such as 2026-01-05 "
            "or a datetime such as 2026-01-05T02:00:00+00:00"
        ) from None
    date_only = len(value.strip()) == 10
    where = zone.key if parsed.tzinfo is None else str(parsed.tzinfo)
    try:
        moment = to_utc(parsed, zone) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None:
        side = "before 0001-01-01T00:00" if parsed.year == 1 else "after 9999-12-31T23:59:59"
        raise ConfigError(
            f"date {value!r} is out of range: in {where} it falls {side} UTC, and headwater "
            "keeps times in UTC; use a date within years 1 to 9999 in UTC"
        )
    return moment, date_only


def manual_interval(
    schedule: object,
    zone: ZoneInfo,
    *,
    now: datetime,
    logical_date: datetime | date | None = None,
) -> DataInterval:
    """The interval of a run started by hand.

    With a logical date: the interval that starts there and lasts until the schedule's
    next fire time (one ``timedelta`` for a fixed interval; a day when the pipeline has no
    schedule or ``@once``). Without: one period of the schedule ending now (empty when
    there is no schedule). A date alone means midnight in ``zone`` (when clocks skip
    midnight, the first local time of that day).

    Raises:
        ConfigError: the interval would end past year 9999, or a date alone whose
            midnight falls outside years 1 to 9999 in UTC.
    """
    once = isinstance(schedule, str) and schedule.strip().lower() == ONCE
    timetable = (
        timetable_for(schedule, zone)
        if isinstance(schedule, (str, timedelta)) and not once
        else None  # no schedule, @once, or an event schedule: no periods to follow
    )
    periodic = timetable if isinstance(timetable, PeriodicTimetable) else None
    if logical_date is None:
        if periodic is not None:
            return periodic.interval_ending_at(now)
        return DataInterval(start=now, end=now)
    start = _logical_start(logical_date, zone)
    interval = periodic.interval_starting_at(start) if periodic is not None else _a_day_from(start)
    if interval is None:
        raise ConfigError(
            f"logical date {start.isoformat()} is too late: its data interval would end "
            "after 9999-12-31, the last date headwater can keep; use an earlier date"
        )
    return interval


def _logical_start(logical_date: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(logical_date, datetime):
        return logical_date.astimezone(UTC)
    midnight = datetime(logical_date.year, logical_date.month, logical_date.day)  # noqa: DTZ001
    try:
        start = to_utc(midnight, zone)
    except OverflowError:
        start = None
    if start is None:
        raise ConfigError(
            f"date {logical_date.isoformat()!r} is out of range: in {zone.key} its midnight "
            "falls outside years 1 to 9999 in UTC, where headwater keeps times"
        )
    return start


def _a_day_from(start: datetime) -> DataInterval | None:
    try:
        return DataInterval(start=start, end=start + timedelta(days=1))
    except OverflowError:
        return None
