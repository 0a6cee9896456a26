"""``manual_interval``: the interval of a run started by hand, from the schedule's timetable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headwater.scheduling.intervals import manual_interval
from headwater.scheduling.timetables import DataInterval

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 8, 17, tzinfo=UTC)  # 13:00 EDT, the day clocks sprang forward


def test_with_a_logical_date_a_cron_run_lasts_until_the_next_fire_time() -> None:
    logical_date = datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK)

    interval = manual_interval("30 2 * * *", NEW_YORK, now=NOW, logical_date=logical_date)

    assert interval == DataInterval(
        start=logical_date, end=datetime(2026, 3, 8, 3, tzinfo=NEW_YORK)
    )


def test_a_date_alone_is_midnight_in_the_pipeline_zone() -> None:
    interval = manual_interval("@daily", NEW_YORK, now=NOW, logical_date=date(2026, 1, 5))

    assert interval.start == datetime(2026, 1, 5, 5, tzinfo=UTC)
    assert interval.end == datetime(2026, 1, 6, 5, tzinfo=UTC)


def test_without_a_logical_date_a_run_covers_the_current_period_ending_now() -> None:
    interval = manual_interval("@daily", NEW_YORK, now=NOW)

    # the current local day is 23 hours long
    assert interval == DataInterval(start=NOW - timedelta(hours=23), end=NOW)


def test_a_timedelta_run_lasts_one_delta() -> None:
    logical_date = datetime(2026, 1, 5, 3, 10, tzinfo=UTC)

    with_date = manual_interval(timedelta(hours=2), NEW_YORK, now=NOW, logical_date=logical_date)
    without = manual_interval(timedelta(hours=2), NEW_YORK, now=NOW)

    assert with_date == DataInterval(start=logical_date, end=logical_date + timedelta(hours=2))
    assert without == DataInterval(start=NOW - timedelta(hours=2), end=NOW)


@pytest.mark.parametrize("schedule", [None, "@once"])
def test_without_a_periodic_schedule_a_run_covers_a_day_or_nothing(schedule: str | None) -> None:
    logical_date = datetime(2026, 1, 5, tzinfo=UTC)

    with_date = manual_interval(schedule, NEW_YORK, now=NOW, logical_date=logical_date)
    without = manual_interval(schedule, NEW_YORK, now=NOW)

    assert with_date == DataInterval(start=logical_date, end=logical_date + timedelta(days=1))
    assert without == DataInterval(start=NOW, end=NOW)
