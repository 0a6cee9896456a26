"""Data intervals: which span of time a run covers. Pure functions of their inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from headwater.errors import ConfigError
from headwater.scheduling.timetables import ONCE, DataInterval, PeriodicTimetable, timetable_for

__all__ = ["DataInterval", "manual_interval", "parse_logical_date"]


def parse_logical_date(value: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    """Parse ``--date``: an ISO date or datetime; naive values are in ``zone``.

    Returns the aware UTC datetime and whether only a date (no time) was given.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"invalid date {value!r}; use an ISO date such as 2026-01-05 "
            "or a datetime such as 2026-01-05T02:00:00+00:00"
        ) from None
    date_only = len(value.strip()) == 10
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC), date_only


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
    there is no schedule). A date alone means midnight in ``zone``.
    """
    once = isinstance(schedule, str) and schedule.strip().lower() == ONCE
    timetable = (
        timetable_for(schedule, zone)
        if isinstance(schedule, (str, timedelta)) and not once
        else None  # no schedule, @once, or an event schedule: no periods to follow
    )
    periodic = timetable if isinstance(timetable, PeriodicTimetable) else None
    if logical_date is not None:
        if not isinstance(logical_date, datetime):
            logical_date = datetime(
                logical_date.year, logical_date.month, logical_date.day, tzinfo=zone
            )
        start = logical_date.astimezone(UTC)
        if periodic is not None:
            return periodic.interval_starting_at(start)
        return DataInterval(start=start, end=start + timedelta(days=1))
    if periodic is not None:
        return periodic.interval_ending_at(now)
    return DataInterval(start=now, end=now)
