"""Schedules across daylight-saving changes, in three zones (dates of 2026).

America/New_York: clocks go 02:00 → 03:00 on 03-08, and 02:00 → 01:00 on 11-01.
Europe/Paris: 02:00 → 03:00 on 03-29, and 03:00 → 02:00 on 10-25.
Australia/Sydney: 02:00 → 03:00 on 10-04, and 03:00 → 02:00 on 04-05.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from headwater.schedules.timetables import DataInterval, Timetable, timetable_for
from tests.schedules.deadline import deadline

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
SYDNEY = ZoneInfo("Australia/Sydney")

SPRING_FORWARD = {NEW_YORK: date(2026, 3, 8), PARIS: date(2026, 3, 29), SYDNEY: date(2026, 10, 4)}
FALL_BACK = {NEW_YORK: date(2026, 11, 1), PARIS: date(2026, 10, 25), SYDNEY: date(2026, 4, 5)}
# A local time that exists twice on the fall-back day
REPEATED = {NEW_YORK: "30 1 * * *", PARIS: "30 2 * * *", SYDNEY: "30 2 * * *"}
ZONES = [NEW_YORK, PARIS, SYDNEY]


def timetable(schedule: str, zone: ZoneInfo) -> Timetable:
    made = timetable_for(schedule, zone)
    assert made is not None
    return made


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def on_local_day(schedule: Timetable, day: date, zone: ZoneInfo) -> list[DataInterval]:
    """The intervals whose start falls on ``day`` in ``zone``."""
    following = midnight(day + timedelta(days=1), zone)
    between = schedule.intervals_between(midnight(day, zone), following)
    return [i for i in between if i.start < following]


def local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="minutes")


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (NEW_YORK, datetime(2026, 3, 8, 7, tzinfo=UTC)),  # 03:00 EDT
        (PARIS, datetime(2026, 3, 29, 1, tzinfo=UTC)),  # 03:00 CEST
        (SYDNEY, datetime(2026, 10, 3, 16, tzinfo=UTC)),  # 03:00 AEDT
    ],
    ids=str,
)
def test_a_daily_time_skipped_by_spring_forward_runs_once_at_the_next_existing_time(
    zone: ZoneInfo, expected: datetime
) -> None:
    day = SPRING_FORWARD[zone]
    schedule = timetable("30 2 * * *", zone)

    intervals = on_local_day(schedule, day, zone)

    # 02:30 does not exist that day: the one run is at 03:00, the first time after the gap
    assert [i.start for i in intervals] == [expected]
    assert local(expected, zone)[11:16] == "03:00"
    (day_before,) = on_local_day(schedule, day - timedelta(days=1), zone)
    (day_after,) = on_local_day(schedule, day + timedelta(days=1), zone)
    assert day_before.end == intervals[0].start
    assert intervals[0].end == day_after.start
    assert local(day_after.start, zone)[11:16] == "02:30"
    assert intervals[0].end - intervals[0].start == timedelta(hours=23, minutes=30)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (NEW_YORK, datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # 01:30 EDT, not 01:30 EST
        (PARIS, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # 02:30 CEST, not 02:30 CET
        (SYDNEY, datetime(2026, 4, 4, 15, 30, tzinfo=UTC)),  # 02:30 AEDT, not 02:30 AEST
    ],
    ids=str,
)
def test_a_daily_time_repeated_by_fall_back_runs_once(zone: ZoneInfo, expected: datetime) -> None:
    day = FALL_BACK[zone]
    schedule = timetable(REPEATED[zone], zone)

    intervals = on_local_day(schedule, day, zone)

    # the first occurrence only; the interval lasts until the same time the next day
    assert [i.start for i in intervals] == [expected]
    assert intervals[0].end - intervals[0].start == timedelta(hours=25)
    assert schedule.next_after(expected) == DataInterval(
        start=intervals[0].end, end=intervals[0].end + timedelta(days=1)
    )
    # asked from inside the second copy of the repeated hour, the next run is the next day
    inside_second_copy = expected + timedelta(hours=1, minutes=10)
    assert schedule.next_after(inside_second_copy) == schedule.next_after(expected)
    assert schedule.latest_complete(inside_second_copy) == DataInterval(
        start=expected - timedelta(days=1), end=expected
    )


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_hourly_counts_real_hours_across_both_changes(zone: ZoneInfo) -> None:
    hourly = timetable("@hourly", zone)

    spring = on_local_day(hourly, SPRING_FORWARD[zone], zone)
    fall = on_local_day(hourly, FALL_BACK[zone], zone)

    assert len(spring) == 23
    assert len(fall) == 25
    for interval in [*spring, *fall]:
        assert interval.end - interval.start == timedelta(hours=1)
    assert len({i.start for i in fall}) == 25  # the repeated hour is two distinct intervals


def local_times(schedule: str, day: date) -> list[str]:
    intervals = on_local_day(timetable(schedule, NEW_YORK), day, NEW_YORK)
    return [local(i.start, NEW_YORK)[11:] for i in intervals]


def test_a_skipped_time_whose_next_existing_time_is_a_fire_time_runs_once() -> None:
    # 01:00, 02:00 (skipped: runs at 03:00) and 03:00 are one run at 03:00 that day
    assert local_times("0 1-3 * * *", date(2026, 3, 8)) == ["01:00-05:00", "03:00-04:00"]
    assert local_times("0 1-3 * * *", date(2026, 11, 1)) == [
        "01:00-04:00",
        "02:00-05:00",
        "03:00-05:00",
    ]


def test_a_star_in_the_minute_or_hour_field_follows_elapsed_time() -> None:
    # The catch-up rule applies only to fixed minutes and hours: with a star, local times
    # that do not exist are skipped, and local times that exist twice match twice.
    assert local_times("*/15 2 * * *", date(2026, 3, 8)) == []
    assert local_times("0 */2 * * *", date(2026, 3, 8))[:2] == ["00:00-05:00", "04:00-04:00"]
    assert local_times("*/30 1 * * *", date(2026, 11, 1)) == [
        "01:00-04:00",
        "01:30-04:00",
        "01:00-05:00",
        "01:30-05:00",
    ]
    assert local_times("0 1 * * *", date(2026, 11, 1)) == ["01:00-04:00"]


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize(
    "schedule", ["@hourly", "@daily", "30 2 * * *", "30 1 * * *", "15 */3 * * *", "@weekly"]
)
def test_intervals_never_overlap_or_leave_gaps_for_a_year(zone: ZoneInfo, schedule: str) -> None:
    intervals = timetable(schedule, zone).intervals_between(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )

    assert intervals
    for interval in intervals:
        assert interval.start < interval.end
    for earlier, later in pairwise(intervals):
        assert earlier.end == later.start


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize("schedule", ["@hourly", "30 2 * * *", "30 1 * * *", "*/20 * * * *"])
def test_latest_complete_and_next_after_agree_around_each_change(
    zone: ZoneInfo, schedule: str
) -> None:
    # Given moments every 10 minutes through both change days
    schedule_table = timetable(schedule, zone)
    for day in (SPRING_FORWARD[zone], FALL_BACK[zone]):
        moment = midnight(day, zone).astimezone(UTC) - timedelta(hours=2)
        last = moment + timedelta(hours=30)
        while moment < last:
            # When asked what has ended and what starts next
            latest = schedule_table.latest_complete(moment)
            following = schedule_table.next_after(moment)
            # Then the latest complete interval has ended and the one after it has not
            assert latest is not None
            assert following is not None
            assert latest.run_after <= moment
            after_latest = schedule_table.next_after(latest.start)
            assert after_latest is not None
            assert after_latest.start == latest.end
            assert after_latest.run_after > moment
            # and the next interval is the first to start after now
            assert following.start > moment
            upcoming = schedule_table.intervals_between(latest.end, following.start)
            assert upcoming[-1] == following
            assert all(i.start <= moment for i in upcoming[:-1])
            moment += timedelta(minutes=10)


# -- Pacific/Chatham: a 45-minute shift at 02:45 local standard time ---------------------
# Clocks go 03:45 → 02:45 on 2026-04-05 (at 2026-04-04T14:00Z): 02:45–03:44 happens twice.
# Clocks go 02:45 → 03:45 on 2026-09-27 (at 2026-09-26T14:00Z) and on 2027-09-26 (at
# 2027-09-25T14:00Z): 02:45–03:44 does not exist.

CHATHAM = ZoneInfo("Pacific/Chatham")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def starts_from(schedule: Timetable, moment: datetime, count: int) -> list[datetime]:
    with deadline(5):
        return [i.start for i in islice(schedule.intervals_from(moment), count)]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # 03:45 exists once, after the repeated 02:45–03:44: 15:00Z; then every 3 real hours
        ("45 */3 * * *", [utc(2026, 4, 4, 15), utc(2026, 4, 4, 18), utc(2026, 4, 4, 21)]),
        # 03:00 CHADT is 13:15Z; 03:00–03:30 happen again at 14:15Z–14:45Z
        ("*/15 */3 * * *", [utc(2026, 4, 4, 13, 15), utc(2026, 4, 4, 13, 30)]),
        ("*/10 3-5 * * *", [utc(2026, 4, 4, 13, 15), utc(2026, 4, 4, 13, 25)]),
    ],
)
def test_a_schedule_across_a_45_minute_fall_back_does_not_hang(
    schedule: str, expected: list[datetime]
) -> None:
    table = timetable(schedule, CHATHAM)

    # Given the moment 2 hours before clocks fall back, When asked for what comes next
    found = starts_from(table, utc(2026, 4, 4, 12), len(expected))
    with deadline(5):
        latest = [
            table.latest_complete(utc(2026, 4, 4, 12) + timedelta(minutes=m))
            for m in range(0, 360, 7)
        ]

    # Then the answers come, and they are the fire times of the rule
    assert found == expected
    assert all(i is not None for i in latest)


def test_a_matching_time_just_after_a_spring_forward_gap_fires() -> None:
    # 2027-09-26 is a Sunday; 00:00–00:45 CHAST fire, 03:00–03:30 do not exist, and
    # 03:45 CHADT exists and matches (hour 3, minute 45): it fires, at the gap's end.
    table = timetable("*/15 */3 * * SUN", CHATHAM)

    found = starts_from(table, utc(2027, 9, 25, 11), 7)

    assert [local(s, CHATHAM) for s in found] == [
        "2027-09-26T00:00+12:45",
        "2027-09-26T00:15+12:45",
        "2027-09-26T00:30+12:45",
        "2027-09-26T00:45+12:45",
        "2027-09-26T03:45+13:45",
        "2027-09-26T06:00+13:45",
        "2027-09-26T06:15+13:45",
    ]


def test_an_elapsed_time_schedule_fires_at_both_occurrences_of_a_repeated_time() -> None:
    table = timetable("*/15 2 * * *", CHATHAM)

    found = starts_from(table, utc(2026, 4, 4, 12), 6)

    # 02:45 happens twice on 2026-04-05, at 13:00Z (CHADT) and at 14:00Z (CHAST)
    assert [local(s, CHATHAM) for s in found] == [
        "2026-04-05T02:00+13:45",
        "2026-04-05T02:15+13:45",
        "2026-04-05T02:30+13:45",
        "2026-04-05T02:45+13:45",
        "2026-04-05T02:45+12:45",
        "2026-04-06T02:00+12:45",
    ]


def test_a_fixed_time_schedule_keeps_the_debian_rules_in_chatham() -> None:
    # a repeated 02:45 fires once, the first time; a skipped 03:00 fires at 03:45 CHADT
    fall = starts_from(timetable("45 2 * * *", CHATHAM), utc(2026, 4, 4), 2)
    spring = starts_from(timetable("0 3 * * *", CHATHAM), utc(2026, 9, 26), 2)

    assert [local(s, CHATHAM) for s in fall] == ["2026-04-05T02:45+13:45", "2026-04-06T02:45+12:45"]
    assert [local(s, CHATHAM) for s in spring] == [
        "2026-09-27T03:45+13:45",
        "2026-09-28T03:00+13:45",
    ]


def test_latest_complete_never_returns_an_interval_that_has_not_ended() -> None:
    table = timetable("45 */3 * * *", CHATHAM)
    now = utc(2026, 9, 26, 14, 40)

    with deadline(5):
        latest = table.latest_complete(now)

    # 00:45 CHAST (12:00Z), then 03:45 CHADT (14:00Z), the first time after the gap
    assert latest == DataInterval(start=utc(2026, 9, 26, 12), end=utc(2026, 9, 26, 14))
    assert latest.run_after <= now
