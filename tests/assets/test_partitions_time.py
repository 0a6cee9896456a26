"""Time partitions: keys, windows across daylight-saving changes, bounds and bad keys.

Changes of 2026 used below:
America/New_York: 02:00 → 03:00 on 03-08 and 02:00 → 01:00 on 11-01.
Europe/Paris: 02:00 → 03:00 on 03-29 and 03:00 → 02:00 on 10-25.
Australia/Lord_Howe (half an hour): 02:00 → 02:30 on 10-04 and 02:00 → 01:30 on 04-05.
America/Santiago (at midnight): 24:00 → 23:00 on 04-04 and 00:00 → 01:00 on 09-06.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headwater.assets.partitions import (
    DailyPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    PartitionError,
    TimePartitions,
    WeeklyPartitions,
)
from headwater.assets.partitions.days import DailyPeriods
from headwater.assets.partitions.periods import KeyCache
from headwater.errors import DefinitionError


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- keys and windows of each unit --------------------------------------------------------


def test_daily_keys_are_the_days_that_have_ended_by_now() -> None:
    days = DailyPartitions(start="2026-01-01", timezone="UTC")
    assert days.keys(now=utc(2026, 1, 4)) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert days.keys(now=utc(2026, 1, 3, 23, 59)) == ["2026-01-01", "2026-01-02"]
    assert days.keys(now=utc(2025, 12, 31)) == []


def test_each_unit_has_its_key_format_and_window() -> None:
    now = utc(2026, 3, 1)
    hourly = HourlyPartitions("2026-02-28T22:00")
    assert hourly.keys(now=now) == ["2026-02-28-22:00", "2026-02-28-23:00"]
    assert hourly.time_window("2026-02-28-23:00") == (utc(2026, 2, 28, 23), utc(2026, 3, 1))
    weekly = WeeklyPartitions("2026-01-05")
    assert weekly.keys(now=utc(2026, 1, 26)) == ["2026-01-05", "2026-01-12", "2026-01-19"]
    assert weekly.time_window("2026-01-05") == (utc(2026, 1, 5), utc(2026, 1, 12))
    monthly = MonthlyPartitions("2025-11-01")
    assert monthly.keys(now=now) == ["2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01"]
    assert monthly.time_window("2026-02-01") == (utc(2026, 2, 1), utc(2026, 3, 1))


def test_the_first_partition_is_the_first_period_that_starts_at_or_after_start() -> None:
    assert WeeklyPartitions("2026-01-01").keys(now=utc(2026, 1, 12)) == ["2026-01-05"]
    assert MonthlyPartitions("2026-01-15").keys(now=utc(2026, 3, 1)) == ["2026-02-01"]
    assert HourlyPartitions("2026-01-01T13:30").keys(now=utc(2026, 1, 1, 15)) == [
        "2026-01-01-14:00"
    ]
    # an aware start is an instant: midnight UTC is 01:00 in Paris, after that day began
    paris = DailyPartitions(datetime(2026, 1, 1, tzinfo=UTC), timezone="Europe/Paris")
    assert paris.keys(now=utc(2026, 1, 3)) == ["2026-01-02"]


def test_start_and_end_may_be_dates_datetimes_or_text_and_are_compared_by_value() -> None:
    assert DailyPartitions(date(2026, 1, 1)) == DailyPartitions("2026-01-01")
    assert DailyPartitions(datetime(2026, 1, 1)) == DailyPartitions("2026-01-01T00:00")
    assert hash(DailyPartitions("2026-01-01")) == hash(TimePartitions("daily", "2026-01-01"))
    assert DailyPartitions("2026-01-01") != DailyPartitions("2026-01-01", timezone="Europe/Paris")
    assert DailyPartitions("2026-01-01") != HourlyPartitions("2026-01-01")


def test_end_excludes_its_moment_and_lists_keys_without_now() -> None:
    january = DailyPartitions("2026-01-01", end="2026-02-01")
    assert len(january.keys()) == 31
    assert january.keys()[-1] == "2026-01-31"
    assert january.keys(now=utc(2027, 1, 1)) == january.keys()
    assert january.keys(now=utc(2026, 1, 3)) == ["2026-01-01", "2026-01-02"]
    assert january.key_of(utc(2026, 2, 1)) is None
    assert january.last_complete_key(utc(2027, 1, 1)) == "2026-01-31"


def test_keys_without_now_or_end_say_to_give_now() -> None:
    with pytest.raises(PartitionError, match="daily from 2026-01-01 in UTC has no end: give"):
        DailyPartitions("2026-01-01").keys()


def test_end_offset_adds_the_partition_in_progress_or_leaves_out_the_last() -> None:
    now = utc(2026, 1, 3, 12)
    assert DailyPartitions("2026-01-01", end_offset=1).keys(now=now)[-1] == "2026-01-03"
    assert DailyPartitions("2026-01-01", end_offset=-1).keys(now=now) == ["2026-01-01"]
    # the end bounds it still
    bounded = DailyPartitions("2026-01-01", end="2026-01-03", end_offset=5)
    assert bounded.keys(now=now) == ["2026-01-01", "2026-01-02"]


def test_key_of_last_complete_key_and_keys_between() -> None:
    days = DailyPartitions("2026-01-01")
    assert days.key_of(utc(2026, 1, 2, 12)) == "2026-01-02"
    assert days.key_of(utc(2025, 12, 31, 23)) is None
    assert days.last_complete_key(utc(2026, 1, 1, 12)) is None
    assert days.last_complete_key(utc(2026, 1, 3)) == "2026-01-02"  # what @daily runs then
    assert days.keys_between(utc(2026, 1, 2, 12), utc(2026, 1, 4)) == ["2026-01-02", "2026-01-03"]
    assert days.keys_between(utc(2025, 6, 1), utc(2026, 1, 2)) == ["2026-01-01"]
    assert days.keys_between(utc(2026, 1, 4), utc(2026, 1, 4)) == []


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware datetimes"):
        DailyPartitions("2026-01-01").key_of(datetime(2026, 1, 2))


# --- daylight saving ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "window"),
    [
        ("Europe/Paris", "2026-03-29", (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))),  # 23 h
        ("Europe/Paris", "2026-10-25", (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))),  # 25 h
        ("America/New_York", "2026-11-01", (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))),
        # midnight does not exist: the day starts at the end of the gap, 01:00 -03
        ("America/Santiago", "2026-09-06", (utc(2026, 9, 6, 4), utc(2026, 9, 7, 3))),
        ("America/Santiago", "2026-09-05", (utc(2026, 9, 5, 4), utc(2026, 9, 6, 4))),
        # 23:00 to 24:00 happens twice the day before midnight comes
        ("America/Santiago", "2026-04-04", (utc(2026, 4, 4, 3), utc(2026, 4, 5, 4))),
        ("Australia/Lord_Howe", "2026-04-05", (utc(2026, 4, 4, 13), utc(2026, 4, 5, 13, 30))),
    ],
)
def test_a_day_runs_from_local_midnight_to_local_midnight(
    zone: str, day: str, window: tuple[datetime, datetime]
) -> None:
    days = DailyPartitions("2026-01-01", timezone=zone)
    assert days.time_window(day) == window
    assert days.key_of(window[0]) == day
    assert days.key_of(window[1] - timedelta(microseconds=1)) == day


def test_a_week_and_a_month_follow_the_wall_clock_across_a_change() -> None:
    weekly = WeeklyPartitions("2026-01-05", timezone="America/New_York")
    assert weekly.time_window("2026-03-02") == (utc(2026, 3, 2, 5), utc(2026, 3, 9, 4))
    monthly = MonthlyPartitions("2026-01-01", timezone="Europe/Paris")
    assert monthly.time_window("2026-03-01") == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))


def test_the_repeated_hour_gives_two_partitions_keyed_with_their_utc_offsets() -> None:
    hours = HourlyPartitions("2026-11-01", timezone="America/New_York")
    assert hours.keys(now=utc(2026, 11, 1, 9)) == [
        "2026-11-01-00:00",
        "2026-11-01-01:00-04:00",
        "2026-11-01-01:00-05:00",
        "2026-11-01-02:00",
        "2026-11-01-03:00",
    ]
    assert hours.time_window("2026-11-01-01:00-04:00") == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 6))
    assert hours.time_window("2026-11-01-01:00-05:00") == (utc(2026, 11, 1, 6), utc(2026, 11, 1, 7))
    assert hours.key_of(utc(2026, 11, 1, 6, 30)) == "2026-11-01-01:00-05:00"
    paris = HourlyPartitions("2026-10-25", timezone="Europe/Paris")
    assert paris.keys(now=utc(2026, 10, 25, 2))[-2:] == [
        "2026-10-25-02:00+02:00",
        "2026-10-25-02:00+01:00",
    ]


def test_the_skipped_hour_has_no_partition_and_the_one_before_lasts_an_hour() -> None:
    hours = HourlyPartitions("2026-03-08", timezone="America/New_York")
    assert hours.keys(now=utc(2026, 3, 8, 8))[1:] == ["2026-03-08-01:00", "2026-03-08-03:00"]
    assert hours.time_window("2026-03-08-01:00") == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))


def test_lord_howe_hours_around_its_half_hour_changes_last_90_minutes() -> None:
    hours = HourlyPartitions("2026-01-01", timezone="Australia/Lord_Howe")
    # 01:00 +11:00 until 02:00 +10:30 (clocks went from 02:00 back to 01:30 between)
    assert hours.time_window("2026-04-05-01:00") == (utc(2026, 4, 4, 14), utc(2026, 4, 4, 15, 30))
    # 01:00 +10:30 until 03:00 +11:00 (clocks went from 02:00 to 02:30): no 02:00
    assert hours.time_window("2026-10-04-01:00") == (
        utc(2026, 10, 3, 14, 30),
        utc(2026, 10, 3, 16),
    )
    assert "2026-10-04-02:00" not in hours.keys(now=utc(2026, 10, 4))


def test_santiago_hours_start_at_01_00_when_midnight_is_skipped() -> None:
    hours = HourlyPartitions("2026-09-05", timezone="America/Santiago")
    keys = hours.keys_between(utc(2026, 9, 6, 2), utc(2026, 9, 6, 6))  # 22:00 -04 to 03:00 -03
    assert keys == [
        "2026-09-05-22:00",
        "2026-09-05-23:00",
        "2026-09-06-01:00",
        "2026-09-06-02:00",
    ]


def test_a_day_a_zone_skipped_has_no_partition() -> None:
    # Samoa moved west of the date line: 2011-12-29 23:59:59 was followed by 2011-12-31
    days = DailyPartitions("2011-12-28", timezone="Pacific/Apia")
    now = utc(2011, 12, 31, 10)  # 2012-01-01 00:00 +14:00
    assert days.keys(now=now) == ["2011-12-28", "2011-12-29", "2011-12-31"]
    with pytest.raises(PartitionError, match="the clocks of Pacific/Apia skip that whole period"):
        days.check_key("2011-12-30")


def test_the_last_complete_key_is_the_interval_a_schedule_firing_now_processes() -> None:
    days = DailyPartitions("2026-01-01", timezone="Europe/Paris")
    assert days.last_complete_key(utc(2026, 3, 29, 22)) == "2026-03-29"  # local midnight
    assert days.last_complete_key(utc(2026, 3, 29, 21, 59)) == "2026-03-28"


# --- keys people give ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partitions", "key", "message"),
    [
        (
            DailyPartitions("2026-01-01"),
            "2026-13-01",
            "partition key '2026-13-01' is not a key of daily from 2026-01-01 in UTC: it is not "
            "a date (month must be in 1..12); expected YYYY-MM-DD such as 2026-01-01",
        ),
        (
            DailyPartitions("2026-01-01"),
            "2025-12-31",
            "partition key '2025-12-31' is not a key of daily from 2026-01-01 in UTC: it is "
            "before the first partition, 2026-01-01; expected YYYY-MM-DD such as 2026-01-01",
        ),
        (
            DailyPartitions("2026-01-01", end="2026-02-01"),
            "2026-02-01",
            "it is after the last partition, 2026-01-31",
        ),
        (DailyPartitions("2026-01-01"), "20260101", "it is not a date written YYYY-MM-DD"),
        (
            WeeklyPartitions("2026-01-05"),
            "2026-01-07",
            "2026-01-07 is a Wednesday, and weeks start on Monday (that week is 2026-01-05); "
            "expected YYYY-MM-DD, the Monday the week starts on, such as 2026-01-05",
        ),
        (
            MonthlyPartitions("2026-01-01"),
            "2026-02-15",
            "2026-02-15 is not the first day of a month (that month is 2026-02-01)",
        ),
        (
            HourlyPartitions("2026-01-01"),
            "2026-01-01 13:00",
            "it is not an hour written YYYY-MM-DD-HH:00; expected YYYY-MM-DD-HH:00 such as "
            "2026-01-01-00:00",
        ),
        (HourlyPartitions("2026-01-01"), "2026-01-01-13:30", "13:30 is not the start of an hour"),
        (
            HourlyPartitions("2026-01-01", timezone="America/New_York"),
            "2026-03-08-02:00",
            "2026-03-08 02:00 does not exist in America/New_York: clocks skip it",
        ),
        (
            HourlyPartitions("2026-01-01", timezone="America/New_York"),
            "2026-11-01-01:00",
            "2026-11-01 01:00 happens twice in America/New_York (clocks fall back): name one "
            "with its UTC offset, '2026-11-01-01:00-04:00' or '2026-11-01-01:00-05:00'",
        ),
        (
            HourlyPartitions("2026-01-01", timezone="America/New_York"),
            "2026-11-01-01:00+02:00",
            "has UTC offset -04:00 or -05:00, not +02:00",
        ),
    ],
)
def test_a_bad_key_names_the_definition_the_key_and_the_expected_format(
    partitions: TimePartitions, key: str, message: str
) -> None:
    with pytest.raises(PartitionError) as raised:
        partitions.check_key(key)
    assert message in str(raised.value)


def test_a_key_with_the_offset_it_does_not_need_is_read_and_written_without_it() -> None:
    hours = HourlyPartitions("2026-01-01", timezone="Europe/Paris")
    assert hours.check_key("2026-01-01-13:00+01:00") == "2026-01-01-13:00"


def test_key_range_is_inclusive_and_refuses_a_backward_range() -> None:
    days = DailyPartitions("2026-01-01")
    assert days.key_range("2026-01-30", "2026-02-02") == [
        "2026-01-30",
        "2026-01-31",
        "2026-02-01",
        "2026-02-02",
    ]
    assert days.key_range("2026-01-05", "2026-01-05") == ["2026-01-05"]
    with pytest.raises(PartitionError, match=r"2026-01-05\.\.2026-01-01 .* goes backward"):
        days.key_range("2026-01-05", "2026-01-01")


def test_parse_range_reads_one_key_a_range_or_an_open_end() -> None:
    days = DailyPartitions("2026-01-01")
    now = utc(2026, 1, 4)
    assert days.parse_range(" 2026-01-02 ") == ["2026-01-02"]
    assert days.parse_range("2026-01-02..2026-01-03") == ["2026-01-02", "2026-01-03"]
    assert days.parse_range("2026-01-02..", now=now) == ["2026-01-02", "2026-01-03"]
    assert days.parse_range("..2026-01-02", now=now) == ["2026-01-01", "2026-01-02"]
    with pytest.raises(PartitionError, match=r"holds '\.\.' more than once"):
        days.parse_range("2026-01-01..2026-01-02..2026-01-03")
    with pytest.raises(PartitionError, match="there is no partition yet"):
        days.parse_range("2026-01-02..", now=utc(2026, 1, 1))


# --- definitions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: TimePartitions("dayly", "2026-01-01"),
            "time partitions: unknown unit 'dayly'; use 'hourly', 'daily', 'weekly' or 'monthly'",
        ),
        (
            lambda: DailyPartitions("2026-01-01", timezone="Mars/Olympus"),
            "daily partitions: unknown timezone 'Mars/Olympus'; use an IANA name",
        ),
        (
            lambda: DailyPartitions("01/01/2026"),
            "daily partitions: start '01/01/2026' is not an ISO date or datetime",
        ),
        (
            lambda: DailyPartitions("2026-01-05", end="2026-01-05"),
            "daily from 2026-01-05 to 2026-01-05 in UTC: no daily partition fits between start "
            "and end",
        ),
        (
            lambda: DailyPartitions("2026-01-01", end_offset=True),
            "daily partitions: end_offset must be a whole number",
        ),
    ],
)
def test_a_bad_definition_says_what_to_change(make: object, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        make()  # type: ignore[operator]
    assert message in str(raised.value)


def test_describe_and_repr() -> None:
    paris = DailyPartitions("2026-01-01", timezone="Europe/Paris")
    assert paris.describe() == "daily from 2026-01-01 in Europe/Paris"
    bounded = HourlyPartitions("2026-01-01T06:00", end="2026-02-01", end_offset=1)
    assert (
        bounded.describe() == "hourly from 2026-01-01T06:00 to 2026-02-01 in UTC with end_offset 1"
    )
    assert repr(paris) == "TimePartitions('daily', start='2026-01-01', timezone='Europe/Paris')"


# --- cost ---------------------------------------------------------------------------------


def _best_of(runs: int, action: object) -> float:
    best = float("inf")
    for run in range(runs):
        began = time.perf_counter()
        action(run)  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best


def test_ten_years_of_daily_keys_are_listed_and_ranged_in_milliseconds() -> None:
    # each run takes a new range, so that nothing is remembered from the one before
    def listed(run: int) -> None:
        days = DailyPartitions(f"{2000 + run}-01-01", timezone="Europe/Paris")
        assert len(days.keys(now=utc(2010 + run, 1, 1))) >= 3650

    def ranged(run: int) -> None:
        days = DailyPartitions("2000-01-01", timezone="America/New_York")
        assert len(days.key_range(f"{2010 + run}-01-02", f"{2020 + run}-01-01")) >= 3652

    assert _best_of(5, listed) < 0.010
    assert _best_of(5, ranged) < 0.010


def test_definitions_are_cheap_to_make() -> None:
    # 10,000 assets, 10,000 definitions: nothing is listed until asked
    def made(run: int) -> None:
        for number in range(10_000):
            HourlyPartitions(f"2026-01-01T{number % 24:02d}:00", timezone="Europe/Paris")

    assert _best_of(2, made) < 0.5


def test_the_key_cache_keeps_long_lists_up_to_a_number_of_keys() -> None:
    cache = KeyCache(most_keys=250, shortest=100)
    days = DailyPeriods(ZoneInfo("UTC"))
    lists = {first: tuple(f"k{number}" for number in range(100)) for first in (1, 2, 3)}
    for first, keys in lists.items():
        cache.put(days, first, first + 99, keys)
    cache.put(days, 9, 10, ("short", "list"))
    assert cache.get(days, 1, 100) is None  # the oldest went to make room
    assert cache.get(days, 2, 101) == lists[2]
    assert cache.get(days, 3, 102) == lists[3]
    assert cache.get(days, 9, 10) is None
