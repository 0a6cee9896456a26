"""Data intervals: which span of time a run covers. Pure functions of their inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from headwater.errors import ConfigError

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DataInterval:
    """``[start, end)`` in UTC; the logical date is its start."""

    start: datetime
    end: datetime

    @property
    def logical_date(self) -> datetime:
        return self.start


def _next_fire(schedule: str, zone: ZoneInfo, after: datetime) -> datetime:
    from croniter import croniter

    expression = PRESETS.get(schedule, schedule)
    fire: datetime = croniter(expression, after.astimezone(zone)).get_next(datetime)
    return fire.astimezone(UTC)


def _prev_fire(schedule: str, zone: ZoneInfo, before: datetime) -> datetime:
    from croniter import croniter

    expression = PRESETS.get(schedule, schedule)
    fire: datetime = croniter(expression, before.astimezone(zone)).get_prev(datetime)
    return fire.astimezone(UTC)


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
    schedule: str | timedelta | None,
    zone: ZoneInfo,
    *,
    now: datetime,
    logical_date: datetime | date | None = None,
) -> DataInterval:
    """The interval of a run started by hand.

    With a logical date: the interval that starts there and lasts one period of the
    schedule (a day when the pipeline has no schedule). Without: the interval of one
    period ending now (empty when there is no schedule).
    """
    is_cron = isinstance(schedule, str) and schedule != "@once"
    if logical_date is not None:
        if not isinstance(logical_date, datetime):
            logical_date = datetime(
                logical_date.year, logical_date.month, logical_date.day, tzinfo=zone
            )
        start = logical_date.astimezone(UTC)
        if isinstance(schedule, timedelta):
            return DataInterval(start=start, end=start + schedule)
        if is_cron:
            assert isinstance(schedule, str)
            return DataInterval(start=start, end=_next_fire(schedule, zone, start))
        return DataInterval(start=start, end=start + timedelta(days=1))
    if isinstance(schedule, timedelta):
        return DataInterval(start=now - schedule, end=now)
    if is_cron:
        assert isinstance(schedule, str)
        previous = _prev_fire(schedule, zone, now)
        period = _next_fire(schedule, zone, previous) - previous
        return DataInterval(start=now - period, end=now)
    return DataInterval(start=now, end=now)
