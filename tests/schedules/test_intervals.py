"""``manual_interval``: the interval of a run started by hand, from the schedule's timetable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import ConfigError
from headwater.schedules.intervals import manual_interval, parse_logical_date
from headwater.schedules.timetables import DataInterval

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


# -- local times that do not exist, or exist twice ----------------------------------------


def test_a_naive_date_in_a_spring_forward_gap_is_the_next_existing_local_time() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: the next existing local time is 03:00
    moment, date_only = parse_logical_date("2026-03-08T02:30", NEW_YORK)

    assert moment == datetime(2026, 3, 8, 7, tzinfo=UTC)  # 03:00 EDT
    assert not date_only


def test_a_naive_date_repeated_by_fall_back_is_its_first_occurrence() -> None:
    first, _ = parse_logical_date("2026-11-01T01:30", NEW_YORK)
    second, _ = parse_logical_date("2026-11-01T01:30-05:00", NEW_YORK)

    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert second == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # named by its offset


def test_a_date_whose_midnight_does_not_exist_starts_at_the_next_existing_time() -> None:
    # Santiago springs forward at midnight: 2026-09-06 starts at 01:00 -03
    santiago = ZoneInfo("America/Santiago")

    moment, _ = parse_logical_date("2026-09-06", santiago)
    interval = manual_interval("@daily", santiago, now=NOW, logical_date=date(2026, 9, 6))

    assert moment == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert interval.start == moment
    assert interval.end == datetime(2026, 9, 7, 3, tzinfo=UTC)


# -- the ends of the calendar -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "zone", "where", "side"),
    [
        ("0001-01-01", "Pacific/Chatham", "Pacific/Chatham", "before 0001-01-01T00:00 UTC"),
        (
            "9999-12-31T23:00",
            "America/New_York",
            "America/New_York",
            "after 9999-12-31T23:59:59 UTC",
        ),
        ("9999-12-31T23:00-05:00", "UTC", "UTC-05:00", "after 9999-12-31T23:59:59 UTC"),
    ],
)
def test_a_date_outside_the_range_of_utc_times_is_a_config_error(
    value: str, zone: str, where: str, side: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_logical_date(value, ZoneInfo(zone))

    assert str(caught.value) == (
        f"date {value!r} is out of range: in {where} it falls {side}, and headwater keeps "
        "times in UTC; use a date within years 1 to 9999 in UTC"
    )


def test_year_one_in_utc_is_a_valid_logical_date() -> None:
    moment, _ = parse_logical_date("0001-01-01", ZoneInfo("UTC"))

    interval = manual_interval("@daily", ZoneInfo("UTC"), now=NOW, logical_date=moment)

    assert interval == DataInterval(start=moment, end=moment + timedelta(days=1))


@pytest.mark.parametrize("schedule", ["@daily", "0 0 * * *", timedelta(hours=6), None, "@once"])
def test_an_interval_that_would_end_after_year_9999_is_a_config_error(
    schedule: str | timedelta | None,
) -> None:
    last_day = datetime(9999, 12, 31, 20, tzinfo=UTC)

    with pytest.raises(ConfigError) as caught:
        manual_interval(schedule, ZoneInfo("UTC"), now=NOW, logical_date=last_day)

    assert str(caught.value) == (
        "logical date 9999-12-31T20:00:00+00:00 is too late: its data interval would end "
        "after 9999-12-31, the last date headwater can keep; use an earlier date"
    )
