"""Time partitions over a few years, in zones with every kind of clock change.

For any stretch of time, the partitions overlapping it have windows that follow each
other without gap or overlap and strictly increase; every key reads back (key, window,
key); and the windows start exactly where the wall clock says: an hour at each instant
that reads ``HH:00``, a day at the first instant of each new local date. The wall clock is
read every 15 minutes, the resolution of these zones' changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.assets.partitions import TimePartitions

# The zones, and when their clocks changed in 2026 (UTC)
CHANGES = {
    "UTC": [],
    "Europe/Paris": [datetime(2026, 3, 29, 1), datetime(2026, 10, 25, 1)],
    "America/New_York": [datetime(2026, 3, 8, 7), datetime(2026, 11, 1, 6)],
    # by half an hour
    "Australia/Lord_Howe": [datetime(2026, 4, 4, 15), datetime(2026, 10, 3, 15, 30)],
    # at midnight
    "America/Santiago": [datetime(2026, 4, 5, 3), datetime(2026, 9, 6, 4)],
}
ZONES = sorted(CHANGES)
SPANS = {
    "hourly": timedelta(days=3),
    "daily": timedelta(days=20),
    "weekly": timedelta(weeks=12),
    "monthly": timedelta(days=200),
}
STEP = timedelta(minutes=15)
TICK = timedelta(microseconds=1)
ANY_TIME = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31))


def _zone_and_time(zone: str) -> st.SearchStrategy[tuple[str, datetime]]:
    """A zone and a time, at random or up to 47 hours before one of its changes."""
    near = [_before(change) for change in CHANGES[zone]]
    return st.tuples(st.just(zone), st.one_of(ANY_TIME, *near))


def _before(change: datetime) -> st.SearchStrategy[datetime]:
    steps = st.integers(min_value=0, max_value=47 * 4)
    return steps.map(lambda count: change - count * STEP)


ZONE_AND_TIME = st.sampled_from(ZONES).flatmap(_zone_and_time)


@settings(max_examples=50, deadline=None)
@given(case=ZONE_AND_TIME, unit=st.sampled_from(sorted(SPANS)))
def test_windows_follow_each_other_and_keys_read_back(
    case: tuple[str, datetime], unit: str
) -> None:
    zone, begin = case
    partitions = TimePartitions(unit, "2023-06-01", timezone=zone)
    start = begin.replace(tzinfo=UTC)
    end = start + SPANS[unit]
    keys = partitions.keys_between(start, end)
    windows = [partitions.time_window(key) for key in keys]
    assert len(set(keys)) == len(keys)
    assert windows[0][0] <= start < windows[0][1]
    assert windows[-1][0] < end <= windows[-1][1]
    for (_, previous_end), (following_start, _) in pairwise(windows):
        assert previous_end == following_start
    for key, (window_start, window_end) in zip(keys, windows, strict=True):
        assert window_start < window_end
        assert partitions.check_key(key) == key
        assert partitions.key_of(window_start) == key
        assert partitions.key_of(window_end - TICK) == key
        assert partitions.last_complete_key(window_end) == key
    assert partitions.key_range(keys[0], keys[-1]) == keys
    assert partitions.keys(now=windows[-1][1])[-len(keys) :] == keys


@settings(max_examples=50, deadline=None)
@given(case=ZONE_AND_TIME, unit=st.sampled_from(["hourly", "daily"]))
def test_windows_start_where_the_wall_clock_says(case: tuple[str, datetime], unit: str) -> None:
    zone, begin = case
    partitions = TimePartitions(unit, "2023-06-01", timezone=zone)
    start = begin.replace(tzinfo=UTC, minute=0, second=0, microsecond=0)
    end = start + (timedelta(days=2) if unit == "hourly" else timedelta(days=6))
    starts = {partitions.time_window(key)[0] for key in partitions.keys_between(start, end)}
    expected = _wall_clock_starts(unit, ZoneInfo(zone), start - timedelta(days=2), end)
    assert {moment for moment in starts if start <= moment < end} == {
        moment for moment in expected if start <= moment < end
    }


def _wall_clock_starts(unit: str, zone: ZoneInfo, start: datetime, end: datetime) -> set[datetime]:
    """Read the wall clock every 15 minutes: the hours that read HH:00, the new dates."""
    found: set[datetime] = set()
    latest_date = None
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        if unit == "hourly" and local.minute == 0:
            found.add(moment)
        if unit == "daily":
            if latest_date is not None and local.date() > latest_date:
                found.add(moment)
            latest_date = max(latest_date or local.date(), local.date())
        moment += STEP
    return found
