"""Local times and the instants they stand for, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from headwater.schedules.local_time import gap_end, occurrences, to_utc, wall_clock_bounds

NEW_YORK = ZoneInfo("America/New_York")
CHATHAM = ZoneInfo("Pacific/Chatham")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def local(*fields: int) -> datetime:
    return datetime(*fields)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        (NEW_YORK, local(2026, 3, 8, 1, 30), (utc(2026, 3, 8, 6, 30),)),
        (NEW_YORK, local(2026, 3, 8, 2, 30), ()),  # skipped
        (NEW_YORK, local(2026, 11, 1, 1, 30), (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))),
        # Chatham repeats 02:45–03:44 on 2026-04-05 and skips it on 2026-09-27
        (CHATHAM, local(2026, 4, 5, 3, 0), (utc(2026, 4, 4, 13, 15), utc(2026, 4, 4, 14, 15))),
        (CHATHAM, local(2026, 4, 5, 3, 45), (utc(2026, 4, 4, 15),)),
        (CHATHAM, local(2026, 9, 27, 3, 0), ()),
    ],
)
def test_a_local_time_stands_for_none_one_or_two_instants(
    zone: ZoneInfo, wall: datetime, expected: tuple[datetime, ...]
) -> None:
    assert occurrences(wall, zone) == expected


def test_a_skipped_local_time_is_read_as_the_end_of_its_gap() -> None:
    assert gap_end(local(2026, 3, 8, 2, 30), NEW_YORK) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert gap_end(local(2026, 9, 27, 3, 0), CHATHAM) == utc(2026, 9, 26, 14)  # 03:45 CHADT
    assert gap_end(local(2026, 9, 27, 3, 44, 59, 999999), CHATHAM) == utc(2026, 9, 26, 14)
    assert gap_end(local(2026, 9, 27, 2, 44, 59, 999999), CHATHAM) is None  # before the gap
    assert gap_end(local(2026, 3, 8, 1, 30), NEW_YORK) is None  # it exists
    assert to_utc(local(2026, 3, 8, 2, 30), NEW_YORK) == utc(2026, 3, 8, 7)
    assert to_utc(local(2026, 11, 1, 1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_outside_the_range_of_datetimes_there_is_no_instant() -> None:
    assert occurrences(local(1, 1, 1), CHATHAM) == ()
    assert to_utc(local(1, 1, 1), CHATHAM) is None
    assert occurrences(local(9999, 12, 31, 23), NEW_YORK) == ()


def test_the_wall_clock_bounds_cover_a_repeated_hour_and_a_gap_ending_now() -> None:
    # at the first 01:30 EDT, the second 01:30 (EST) is still to come: low is 00:30
    assert wall_clock_bounds(utc(2026, 11, 1, 5, 30), NEW_YORK) == (
        local(2026, 11, 1, 0, 30),
        local(2026, 11, 1, 1, 30),
    )
    # at the end of New York's gap (03:00 EDT), 02:30 fires now under cron's rule
    assert wall_clock_bounds(utc(2026, 3, 8, 7), NEW_YORK)[0] == local(2026, 3, 8, 2)
    # past the range of local times
    last = datetime.max.replace(tzinfo=UTC)
    assert wall_clock_bounds(last, CHATHAM) == (datetime.max, datetime.max)
