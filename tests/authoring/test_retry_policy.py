"""The backoff arithmetic: ``compute_retry_delay`` and how retry options are resolved."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.authoring.retry import MAX_RETRY_DELAY, compute_retry_delay, resolve_options
from headwater.errors import DefinitionError
from headwater.graph.options import TaskOptions


class _HighestDraw(random.Random):
    """A random source that always draws the top of the range, to test the cap on jitter."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("try_number", "seconds"),
    [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160)],
)
def test_delay_is_retry_delay_times_backoff_to_the_power_of_try_minus_one(
    try_number: int, seconds: float
) -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=10), retry_backoff=2.0)
    assert compute_retry_delay(options, try_number) == timedelta(seconds=seconds)


def test_a_backoff_of_one_keeps_the_delay_constant() -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=7))
    delays = [compute_retry_delay(options, n) for n in range(1, 6)]
    assert delays == [timedelta(seconds=7)] * 5


def test_the_delay_is_capped_by_max_retry_delay() -> None:
    options = TaskOptions(
        retry_delay=timedelta(seconds=10),
        retry_backoff=3.0,
        max_retry_delay=timedelta(seconds=60),
    )
    delays = [compute_retry_delay(options, n).total_seconds() for n in range(1, 5)]
    assert delays == [10, 30, 60, 60]


def test_a_fractional_backoff_is_exact() -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=4), retry_backoff=1.5)
    assert compute_retry_delay(options, 3) == timedelta(seconds=9)


def test_a_zero_delay_stays_zero_whatever_the_backoff() -> None:
    options = TaskOptions(retry_delay=timedelta(0), retry_backoff=10.0, retry_jitter=1.0)
    assert compute_retry_delay(options, 4, random.Random(1)) == timedelta(0)


@pytest.mark.parametrize("seed", range(50))
def test_jitter_adds_at_most_jitter_times_the_delay(seed: int) -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=10), retry_backoff=2.0, retry_jitter=0.5)
    delay = compute_retry_delay(options, 2, random.Random(seed)).total_seconds()
    assert 20 <= delay <= 30


def test_jitter_is_drawn_from_the_given_random_source() -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=10), retry_jitter=1.0)
    first = compute_retry_delay(options, 1, random.Random(7))
    again = compute_retry_delay(options, 1, random.Random(7))
    assert first == again
    assert timedelta(seconds=10) <= first <= timedelta(seconds=20)


def test_the_cap_applies_to_the_delay_with_its_jitter() -> None:
    options = TaskOptions(
        retry_delay=timedelta(seconds=10),
        retry_jitter=1.0,
        max_retry_delay=timedelta(seconds=15),
    )
    assert compute_retry_delay(options, 1, _HighestDraw()) == timedelta(seconds=15)


def test_without_cap_the_highest_jitter_doubles_a_jitter_of_one() -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=10), retry_jitter=1.0)
    assert compute_retry_delay(options, 1, _HighestDraw()) == timedelta(seconds=20)


def test_resolved_options_default_to_no_retry_and_a_thirty_second_delay() -> None:
    options = resolve_options({}, {}, "task 't'")
    assert options.retries == 0
    assert options.retry_delay == timedelta(seconds=30)
    assert options.retry_backoff == 1.0
    assert options.max_retry_delay is None
    assert options.retry_jitter == 0.0
    assert options.timeout is None


@pytest.mark.parametrize(("given", "factor"), [(True, 1.0), (False, 0.0), (None, 0.0), (2, 2.0)])
def test_retry_jitter_accepts_booleans_and_factors(given: object, factor: float) -> None:
    assert resolve_options({"retry_jitter": given}, {}, "task 't'").retry_jitter == factor


def test_explicit_options_win_over_defaults() -> None:
    options = resolve_options(
        {"retries": 1}, {"retries": 4, "retry_backoff": 2}, "pipeline 'p', task 't'"
    )
    assert options.retries == 1
    assert options.retry_backoff == 2.0


# Huge try numbers and options: the delay stays a timedelta within its caps.

durations = st.floats(min_value=0, max_value=MAX_RETRY_DELAY.total_seconds())


@settings(max_examples=300, deadline=None)
@given(
    try_number=st.one_of(st.integers(1, 5000), st.integers(1, 10**30)),
    retry_delay=durations,
    backoff=st.floats(min_value=1, max_value=1e6),
    cap=st.none() | durations.filter(lambda s: s >= 1e-6),
    jitter=st.floats(min_value=0, max_value=1e300),
    seed=st.integers(0, 2**32),
)
def test_the_delay_is_always_a_timedelta_within_its_caps(
    try_number: int,
    retry_delay: float,
    backoff: float,
    cap: float | None,
    jitter: float,
    seed: int,
) -> None:
    options = resolve_options(
        {
            "retry_delay": retry_delay,
            "retry_backoff": backoff,
            "max_retry_delay": cap,
            "retry_jitter": jitter,
        },
        {},
        "task 't'",
    )
    delay = compute_retry_delay(options, try_number, random.Random(seed))
    assert timedelta(0) <= delay <= MAX_RETRY_DELAY
    if cap is not None:
        assert delay <= timedelta(seconds=cap)
    exact = retry_delay * backoff ** min(try_number - 1, 10)
    if try_number <= 11 and jitter == 0 and exact < min(cap or math.inf, 3.15e7):
        # below the caps the delay is the plain formula (to timedelta's microseconds)
        assert abs(delay.total_seconds() - exact) <= 1e-6 * max(1.0, exact)


def test_thousands_of_retries_with_backoff_reach_the_cap_and_stay_there() -> None:
    # retries=2000, retry_backoff=2, max_retry_delay=10 minutes: 2**1024 overflowed a float
    options = resolve_options(
        {"retries": 2000, "retry_backoff": 2, "max_retry_delay": timedelta(minutes=10)},
        {},
        "task 't'",
    )
    delays = {compute_retry_delay(options, n) for n in (10, 1024, 1025, 2000, 10**9)}
    assert delays == {timedelta(minutes=10)}


def test_without_a_cap_the_delay_stops_at_a_year() -> None:
    options = TaskOptions(retry_delay=timedelta(seconds=30), retry_backoff=2.0)
    assert compute_retry_delay(options, 1025) == MAX_RETRY_DELAY == timedelta(days=365)


NOT_A_BACKOFF = r"retry_backoff must be a number of 1 or more .*, got (inf|nan)"
NOT_A_JITTER = r"retry_jitter must be True, False or a factor of 0 or more, got (inf|nan)"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("retry_delay", 1e20, "retry_delay must be a finite duration of at most 365 days"),
        ("retry_delay", timedelta.max, "retry_delay must be a duration of at most 365 days"),
        ("retry_delay", math.inf, "retry_delay must be a finite duration"),
        ("retry_delay", math.nan, "retry_delay must be a finite duration"),
        ("max_retry_delay", timedelta(days=366), "max_retry_delay must be a duration of at most"),
        ("timeout", 1e20, "timeout must be a finite duration, got 1e"),
        ("retry_backoff", math.inf, NOT_A_BACKOFF),
        ("retry_backoff", math.nan, NOT_A_BACKOFF),
        ("retry_jitter", math.nan, NOT_A_JITTER),
        ("retry_jitter", math.inf, NOT_A_JITTER),
        ("retry_backoff", 10**400, "retry_backoff must be a number of 1 or more"),
        ("retries", 2**63, "retries must be a whole number from 0 to 1000000, got 9223372"),
        ("pool_slots", 10**7, "pool_slots must be a whole number from 1 to 1000000, got 1000"),
    ],
)
def test_huge_and_non_finite_retry_options_are_refused(
    option: str, value: object, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        resolve_options({option: value}, {}, "task 't'")
