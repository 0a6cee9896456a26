"""Cron on the wall clock, and the guards that make a broken sequence fail instead of loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import HeadwaterError
from headwater.schedules.cron import local_times_before, local_times_from
from headwater.schedules.timetables import CronTimetable, DataInterval, PeriodicTimetable


def test_local_times_are_read_without_a_zone_both_ways() -> None:
    start = datetime(2026, 3, 8, 1, 59)  # naive: a wall clock, with no gap in it

    assert list(islice(local_times_from("*/30 2 * * *", start), 2)) == [
        datetime(2026, 3, 8, 2),
        datetime(2026, 3, 8, 2, 30),
    ]
    assert next(local_times_from("0 2 * * *", datetime(2026, 3, 8, 2))) == datetime(2026, 3, 8, 2)
    assert next(local_times_before("0 2 * * *", datetime(2026, 3, 8, 2))) == datetime(2026, 3, 7, 2)


def test_local_times_stop_at_the_ends_of_the_calendar() -> None:
    assert list(local_times_from("0 0 * * *", datetime(9999, 12, 31, 0, 1))) == []
    assert list(local_times_before("0 0 * * *", datetime(1, 1, 1, 0, 0, 1))) == [datetime(1, 1, 1)]
    assert next(local_times_from("0 0 * * *", datetime.min)) == datetime.min


class Stuck(PeriodicTimetable):
    """A timetable that breaks the contract: its boundaries stand still."""

    @property
    def description(self) -> str:
        return "stuck"

    def _boundaries_from(self, moment: datetime) -> Iterator[datetime]:
        while True:
            yield moment

    def _boundary_before(self, moment: datetime) -> datetime | None:
        return None

    def interval_starting_at(self, moment: datetime) -> DataInterval | None:
        return None

    def interval_ending_at(self, moment: datetime) -> DataInterval:
        return DataInterval(start=moment, end=moment)


def test_boundaries_that_do_not_move_forward_fail_instead_of_looping() -> None:
    with pytest.raises(HeadwaterError) as caught:
        next(Stuck().intervals_from(datetime(2026, 1, 1, tzinfo=UTC)))

    assert str(caught.value) == (
        "schedule stuck: boundary 2026-01-01T00:00:00+00:00 does not follow "
        "2026-01-01T00:00:00+00:00; please report this bug"
    )


class NeverFires(CronTimetable):
    """A cron timetable whose matching local times would never fire."""

    def _fire_times(self, local: datetime) -> tuple[datetime, ...]:
        return ()


def test_local_times_that_never_fire_fail_after_a_bound() -> None:
    timetable = NeverFires("* * * * *", ZoneInfo("UTC"))

    with pytest.raises(HeadwaterError) as caught:
        timetable.next_after(datetime(2026, 1, 1, tzinfo=UTC))

    assert str(caught.value) == (
        "schedule '* * * * *' in UTC: no fire time near 2026-01-01T00:00:00.000001+00:00 "
        "after 10001 matching local times; please report this bug"
    )
