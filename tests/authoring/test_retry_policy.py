"""The backoff arithmetic: ``compute_retry_delay`` and how retry options are resolved."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from headwater.authoring.retry import TaskOptions, compute_retry_delay, resolve_options


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
