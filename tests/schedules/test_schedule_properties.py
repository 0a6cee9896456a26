"""Cron timetables around every daylight-saving change of 2026 and 2027, in zones that shift
by an hour, by 45 minutes (Chatham) and by 30 minutes (Lord Howe), at night, at midnight
(Santiago) or twice a year around Ramadan (Casablanca).

For every change and every expression: each computation ends within a time limit, the
fire times are those of the documented rule (checked minute by minute against a
brute-force reading of the zone's clock), boundaries strictly increase, intervals leave
no gap, and ``latest_complete``, ``intervals_from`` and ``next_after`` agree, with
``latest_complete(now)`` always an interval that has ended by ``now``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from headwater.schedules.cron import check_cron
from headwater.schedules.timetables import CronTimetable, DataInterval
from tests.schedules.deadline import deadline

# One zone of each kind of change (Paris, Sydney and Havana shift like New York and
# Santiago; tests/schedules/test_daylight_saving.py covers Paris and Sydney by example)
ZONES = [
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/New_York",
    "America/Santiago",
    "Africa/Casablanca",
]
EXPRESSIONS = [
    # a star in the minute or hour field: elapsed time
    "45 */3 * * *",
    "*/15 */3 * * *",
    "*/10 3-5 * * *",
    "*/15 */3 * * SUN",
    "*/15 2 * * *",
    "0 */2 * * *",
    "30 */2 * * *",
    "* 2 * * *",
    "*/20 * * * *",
    "@hourly",
    # a fixed minute and hour: cron's daylight-saving rules
    "30 2 * * *",
    "45 2 * * *",
    "0 3 * * *",
    "0 1-4 * * *",
    "0,30 0-3 * * *",
    "15 0 * * *",
    "@daily",
]
MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)
CHECKED = timedelta(hours=2)  # fire times are checked against the clock within T ± 2 h
SEEN = timedelta(days=8)  # the intervals compared start within T - 8 days, T + 2 days


def transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """The instants (UTC) where ``zone``'s offset changes, found from zoneinfo."""
    found = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    while moment < stop:
        following = moment + timedelta(hours=6)
        if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = moment, following
            while high - low > MINUTE:  # every change of these years is on a whole minute
                middle = low + (high - low) // 2
                same = middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            found.append(high.replace(second=0, microsecond=0))
        moment = following
    return found


def cases() -> Iterator[tuple[str, datetime]]:
    for name in ZONES:
        for change in transitions(ZoneInfo(name), 2026, 2027):
            yield name, change


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def expected_fire_times(expression: str, zone: ZoneInfo, change: datetime) -> list[datetime]:
    """The rule, read off the clock minute by minute around ``change``.

    Elapsed time: every instant whose local time matches. Fixed time: for each matching
    local time, the first instant whose local time is at or after it (its only or first
    occurrence; for a time that does not exist, the first time after the gap).
    """
    cron = check_cron(expression)
    parsed = CronSim(cron, datetime(2000, 1, 1))

    def matches(local: datetime) -> bool:
        return (
            local.minute in parsed.minutes
            and local.hour in parsed.hours
            and local.month in parsed.months
            and parsed.match_day(local.date())
        )

    instants = [change - CHECKED - 2 * CHECKED + k * MINUTE for k in range(60 * 12 + 1)]
    walls = [wall(instant, zone) for instant in instants]
    minute_field, hour_field = cron.split()[:2]
    if minute_field.startswith("*") or hour_field.startswith("*"):
        fires = {i for i, w in zip(instants, walls, strict=True) if matches(w)}
    else:
        fires = set()
        local = min(walls)
        while local <= max(walls):
            if matches(local):
                fires.add(next(i for i, w in zip(instants, walls, strict=True) if w >= local))
            local += MINUTE
    return sorted(f for f in fires if change - CHECKED <= f <= change + CHECKED)


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize(("zone_name", "change"), list(cases()), ids=str)
def test_a_cron_timetable_around_a_daylight_saving_change(
    zone_name: str, change: datetime, expression: str
) -> None:
    zone = ZoneInfo(zone_name)
    timetable = CronTimetable(expression, zone)

    with deadline(10):
        seen = list(
            takewhile(
                lambda i: i.start <= change + timedelta(days=2),
                timetable.intervals_from(change - SEEN),
            )
        )

    # the fire times are those of the rule; boundaries increase and intervals are contiguous
    boundaries = [seen[0].start] + [i.end for i in seen]
    near = [b for b in boundaries if change - CHECKED <= b <= change + CHECKED]
    assert near == expected_fire_times(expression, zone, change)
    assert all(earlier < later for earlier, later in pairwise(boundaries))
    assert all(earlier.end == later.start for earlier, later in pairwise(seen))

    # latest_complete, next_after and intervals_from agree, at and around each boundary
    moments = [change + k * timedelta(minutes=30) for k in range(-6, 7)]
    closest = [b for b in near if abs(b - change) <= timedelta(minutes=75)]
    next_to_change = [b for b in near if b <= change][-1:] + [b for b in near if b > change][:1]
    sample = {*closest[:: len(closest) // 12 + 1], *next_to_change}  # about a dozen
    moments += [b + delta for b in sample for delta in (-TICK, timedelta(0), TICK)]
    with deadline(20):
        for now in moments:
            check_agreement(timetable, seen, now)


def check_agreement(timetable: CronTimetable, seen: list[DataInterval], now: datetime) -> None:
    latest = timetable.latest_complete(now)
    ended = [i for i in seen if i.end <= now]
    assert latest == ended[-1], now
    assert latest.run_after <= now
    assert timetable.next_after(now) == next(i for i in seen if i.start > now), now
    assert next(timetable.intervals_from(now)) == next(i for i in seen if i.start >= now), now
    assert timetable.next_after(latest.start) == next(i for i in seen if i.start == latest.end)
