"""Timetables: the data intervals of cron, preset, timedelta and @once schedules.

Every test uses fixed datetimes; nothing reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from headwater import DefinitionError, pipeline, task
from headwater.schedules.timetables import (
    CronTimetable,
    DataInterval,
    DeltaTimetable,
    OnceTimetable,
    Timetable,
    timetable_for,
)

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
SYDNEY = ZoneInfo("Australia/Sydney")


UTC_ZONE = ZoneInfo("UTC")


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def starts(timetable: Timetable, moment: datetime, count: int) -> list[datetime]:
    return [interval.start for interval in islice(timetable.intervals_from(moment), count)]


def cron(expression: str, zone: ZoneInfo = UTC_ZONE, **bounds: datetime) -> Timetable:
    timetable = timetable_for(expression, zone, bounds.get("start"), bounds.get("end"))
    assert timetable is not None
    return timetable


# -- cron expressions and presets ---------------------------------------------------------


def test_a_cron_interval_runs_from_one_fire_time_to_the_next() -> None:
    timetable = cron("0 2 * * *")

    first, second = islice(timetable.intervals_from(utc(2026, 1, 1)), 2)

    assert first == DataInterval(start=utc(2026, 1, 1, 2), end=utc(2026, 1, 2, 2))
    assert second.start == first.end
    # the run for 2026-01-01 02:00 is known by that date and due once its interval ended
    assert first.logical_date == utc(2026, 1, 1, 2)
    assert first.run_after == utc(2026, 1, 2, 2)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("@hourly", [utc(2026, 1, 1, 0), utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]),
        ("@daily", [utc(2026, 1, 1), utc(2026, 1, 2), utc(2026, 1, 3)]),
        ("@midnight", [utc(2026, 1, 1), utc(2026, 1, 2), utc(2026, 1, 3)]),
        # 2026-01-01 is a Thursday; weeks start on Sunday at midnight
        ("@weekly", [utc(2026, 1, 4), utc(2026, 1, 11), utc(2026, 1, 18)]),
        ("@monthly", [utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)]),
        ("@yearly", [utc(2026, 1, 1), utc(2027, 1, 1), utc(2028, 1, 1)]),
        ("@annually", [utc(2026, 1, 1), utc(2027, 1, 1), utc(2028, 1, 1)]),
    ],
)
def test_each_preset_cuts_time_into_its_periods(preset: str, expected: list[datetime]) -> None:
    timetable = cron(preset)

    intervals = list(islice(timetable.intervals_from(utc(2026, 1, 1)), 3))

    assert [i.start for i in intervals] == expected
    assert [i.end for i in intervals[:-1]] == expected[1:]


def test_cron_fields_are_evaluated_in_the_pipeline_zone() -> None:
    timetable = cron("0 9 * * MON-FRI", PARIS)

    # Friday 2026-01-02 09:00 in Paris, then Monday 2026-01-05
    assert starts(timetable, utc(2026, 1, 2), 2) == [utc(2026, 1, 2, 8), utc(2026, 1, 5, 8)]


def test_every_returned_datetime_is_utc() -> None:
    timetable = cron("@daily", SYDNEY, start=datetime(2026, 1, 1, tzinfo=SYDNEY))

    intervals = [
        *islice(timetable.intervals_from(datetime(2026, 1, 1, tzinfo=SYDNEY)), 2),
        timetable.latest_complete(datetime(2026, 2, 1, tzinfo=SYDNEY)),
        timetable.next_after(datetime(2026, 2, 1, tzinfo=SYDNEY)),
    ]

    for interval in intervals:
        assert interval is not None
        assert interval.start.tzinfo is UTC
        assert interval.end.tzinfo is UTC
    assert intervals[0] is not None
    assert intervals[0].start == utc(2025, 12, 31, 13)  # midnight in Sydney, UTC+11


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timetables need aware datetimes"):
        cron("@daily").next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("61 * * * *", "bad minute"),
        ("0 25 * * *", "bad hour"),
        ("0 0 30 2 *", "bad day-of-month"),
        ("* * * *", "it has 4 field(s)"),
        ("0 0 0 * * *", "it has 6 field(s)"),
        ("@fortnightly", "unknown preset"),
        ("every day", "it has 2 field(s)"),
    ],
)
def test_an_invalid_cron_expression_is_a_definition_error(schedule: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        timetable_for(schedule, NEW_YORK)

    assert str(caught.value) == (
        f"invalid schedule {schedule!r}: {reason}; expected a cron expression of five fields "
        "(minute hour day-of-month month day-of-week) such as '0 2 * * *', or one of the "
        "presets @hourly, @daily, @weekly, @monthly, @yearly, @once"
    )


def test_an_invalid_cron_expression_fails_the_pipeline_definition() -> None:
    @task
    def extract() -> int:
        return 1

    with pytest.raises(DefinitionError) as caught:

        @pipeline(schedule="0 2 * * 8")
        def nightly() -> None:
            extract()

    message = str(caught.value)
    assert message.startswith(f"pipeline 'nightly' ({__file__}:")
    assert "invalid schedule '0 2 * * 8': bad day-of-week" in message


def test_a_pipeline_keeps_its_timetable() -> None:
    @task
    def extract() -> int:
        return 1

    @pipeline(schedule="30 2 * * *", timezone="America/New_York", start="2026-03-01")
    def nightly() -> None:
        extract()

    @pipeline
    def by_hand() -> None:
        extract()

    assert isinstance(nightly.timetable, CronTimetable)
    assert nightly.timetable.zone == NEW_YORK
    assert nightly.timetable.start == datetime(2026, 3, 1, tzinfo=NEW_YORK)
    assert by_hand.timetable is None
    assert timetable_for(None, NEW_YORK) is None


# -- timedelta and @once ------------------------------------------------------------------


def test_a_timedelta_schedule_counts_elapsed_time_from_the_start() -> None:
    timetable = timetable_for(timedelta(hours=5), PARIS, utc(2026, 1, 1, 1, 30))

    assert isinstance(timetable, DeltaTimetable)
    assert timetable.description == "every 5:00:00"
    assert starts(timetable, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 1, 1, 30),
        utc(2026, 1, 1, 6, 30),
        utc(2026, 1, 1, 11, 30),
    ]
    assert timetable.latest_complete(utc(2026, 1, 1, 11)) == DataInterval(
        start=utc(2026, 1, 1, 1, 30), end=utc(2026, 1, 1, 6, 30)
    )
    assert timetable.latest_complete(utc(2026, 1, 1, 1, 29)) is None


def test_a_timedelta_schedule_without_a_start_is_aligned_on_the_epoch() -> None:
    timetable = timetable_for(timedelta(hours=1), PARIS)

    assert timetable is not None
    assert starts(timetable, utc(2026, 1, 1, 0, 20), 2) == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]
    assert timetable.next_after(utc(2026, 1, 1, 1)) == DataInterval(
        start=utc(2026, 1, 1, 2), end=utc(2026, 1, 1, 3)
    )


def test_a_timedelta_schedule_ignores_daylight_saving() -> None:
    start = datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK)
    timetable = timetable_for(timedelta(days=1), NEW_YORK, start)

    assert timetable is not None
    second = list(islice(timetable.intervals_from(start), 2))[1]
    assert second.end - second.start == timedelta(hours=24)
    assert second.start.astimezone(NEW_YORK).hour == 3  # 24 hours later is 03:30 EDT


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(hours=-1)])
def test_a_timedelta_schedule_must_be_positive(delta: timedelta) -> None:
    with pytest.raises(DefinitionError, match="a timedelta schedule must be positive"):
        timetable_for(delta, PARIS)


def test_once_has_a_single_empty_interval_due_at_the_start() -> None:
    timetable = timetable_for("@once", PARIS, datetime(2026, 6, 1, 8, tzinfo=PARIS))
    only = DataInterval(start=utc(2026, 6, 1, 6), end=utc(2026, 6, 1, 6))

    assert isinstance(timetable, OnceTimetable)
    assert only.run_after == only.logical_date == utc(2026, 6, 1, 6)
    assert list(timetable.intervals_from(utc(2026, 1, 1))) == [only]
    assert list(timetable.intervals_from(utc(2026, 6, 1, 6))) == [only]
    assert list(timetable.intervals_from(utc(2026, 6, 1, 7))) == []
    assert timetable.latest_complete(utc(2026, 6, 1, 5, 59)) is None
    assert timetable.latest_complete(utc(2026, 6, 1, 6)) == only
    assert timetable.latest_complete(utc(2030, 1, 1)) == only
    assert timetable.next_after(utc(2026, 6, 1, 5)) == only
    assert timetable.next_after(utc(2026, 6, 1, 6)) is None
    assert timetable.intervals_between(utc(2026, 6, 1, 6), utc(2026, 6, 1, 6)) == [only]
    assert timetable.intervals_between(utc(2026, 1, 1), utc(2026, 6, 1)) == []


def test_once_needs_a_start() -> None:
    with pytest.raises(DefinitionError, match="schedule '@once' needs a start"):
        timetable_for("@once", PARIS)


def test_an_end_before_the_start_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError) as caught:
        timetable_for("@daily", PARIS, utc(2026, 2, 1), utc(2026, 1, 1))

    assert (
        str(caught.value)
        == "end 2026-01-01T00:00:00+00:00 is before start 2026-02-01T00:00:00+00:00"
    )


# -- start and end ------------------------------------------------------------------------


def test_no_interval_starts_before_the_start() -> None:
    timetable = cron("0 2 * * *", start=utc(2026, 1, 1, 3))

    assert starts(timetable, utc(2025, 12, 1), 1) == [utc(2026, 1, 2, 2)]
    assert timetable.next_after(utc(2025, 12, 1)) == DataInterval(
        start=utc(2026, 1, 2, 2), end=utc(2026, 1, 3, 2)
    )


def test_a_start_on_a_fire_time_is_the_first_logical_date() -> None:
    timetable = cron("0 2 * * *", start=utc(2026, 1, 1, 2))

    assert starts(timetable, utc(2025, 12, 1), 1) == [utc(2026, 1, 1, 2)]


def test_no_interval_starts_after_the_end() -> None:
    timetable = cron("@daily", start=utc(2026, 1, 1), end=utc(2026, 1, 3))

    intervals = list(timetable.intervals_from(utc(2025, 1, 1)))

    # the interval starting at the end is included, although it ends after it
    assert [i.start for i in intervals] == [utc(2026, 1, 1), utc(2026, 1, 2), utc(2026, 1, 3)]
    assert intervals[-1].end == utc(2026, 1, 4)
    assert timetable.next_after(utc(2026, 1, 3)) is None


# -- latest_complete (catchup off), intervals_between (catchup on), next_after -----------


def test_latest_complete_is_the_last_interval_that_has_ended() -> None:
    timetable = cron("0 2 * * *")

    mid_interval = timetable.latest_complete(utc(2026, 1, 5, 13))
    at_the_boundary = timetable.latest_complete(utc(2026, 1, 5, 2))
    just_before = timetable.latest_complete(utc(2026, 1, 5, 1, 59, 59, 999999))

    assert mid_interval == DataInterval(start=utc(2026, 1, 4, 2), end=utc(2026, 1, 5, 2))
    assert at_the_boundary == mid_interval
    assert just_before == DataInterval(start=utc(2026, 1, 3, 2), end=utc(2026, 1, 4, 2))


def test_latest_complete_respects_the_start_and_the_end() -> None:
    timetable = cron("@daily", start=utc(2026, 1, 10), end=utc(2026, 1, 20))

    # the first interval, [01-10, 01-11), has not ended yet
    assert timetable.latest_complete(utc(2026, 1, 10, 23)) is None
    assert timetable.latest_complete(utc(2026, 1, 11)) == DataInterval(
        start=utc(2026, 1, 10), end=utc(2026, 1, 11)
    )
    # long after the end: the last interval, the one starting at the end
    assert timetable.latest_complete(utc(2027, 1, 1)) == DataInterval(
        start=utc(2026, 1, 20), end=utc(2026, 1, 21)
    )


def test_intervals_between_is_inclusive_on_both_ends() -> None:
    timetable = cron("@daily")

    intervals = timetable.intervals_between(utc(2026, 1, 1), utc(2026, 1, 4))

    assert [i.logical_date for i in intervals] == [
        utc(2026, 1, 1),
        utc(2026, 1, 2),
        utc(2026, 1, 3),
        utc(2026, 1, 4),
    ]
    assert timetable.intervals_between(utc(2026, 1, 1, 1), utc(2026, 1, 2, 23)) == [
        DataInterval(start=utc(2026, 1, 2), end=utc(2026, 1, 3))
    ]
    assert timetable.intervals_between(utc(2026, 1, 4), utc(2026, 1, 1)) == []


def test_catching_up_runs_every_missed_interval_since_the_start_oldest_first() -> None:
    timetable = cron("0 6 * * *", NEW_YORK, start=datetime(2026, 1, 1, tzinfo=NEW_YORK))
    now = datetime(2026, 1, 4, 7, tzinfo=NEW_YORK)

    latest = timetable.latest_complete(now)
    assert latest is not None
    missed = timetable.intervals_between(utc(2000, 1, 1), latest.logical_date)

    assert [i.start.astimezone(NEW_YORK).day for i in missed] == [1, 2, 3]
    assert all(i.run_after <= now for i in missed)


def test_next_after_is_strictly_after() -> None:
    timetable = cron("@hourly")

    assert timetable.next_after(utc(2026, 1, 1, 3)) == DataInterval(
        start=utc(2026, 1, 1, 4), end=utc(2026, 1, 1, 5)
    )
    assert timetable.next_after(utc(2026, 1, 1, 2, 59, 59, 999999)) == DataInterval(
        start=utc(2026, 1, 1, 3), end=utc(2026, 1, 1, 4)
    )
