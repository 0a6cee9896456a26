"""A paused pipeline gets no scheduled runs; unpaused, it catches up as its catchup says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.engine.runs import create_run, record_pipeline
from headwater.runtime import Runtime
from tests.scheduling.test_scheduler import daily, logical_dates, scheduler_for


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-10T00:30:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def test_paused_no_scheduled_runs_manual_ones_still_run_unpaused_only_the_latest(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipeline = daily()
    scheduler = scheduler_for(runtime, clock, pipeline)
    scheduler.tick(clock.now())
    assert logical_dates(runtime, "daily") == ["2026-01-09"]
    runtime.store.set_paused("daily", True)

    clock.advance(timedelta(days=3))
    manual = create_run(
        runtime.store,
        pipeline,
        clock=clock,
        logical_date=date(2025, 12, 20),
        run_type="manual",
        triggered_by="test",
    )
    result = scheduler.tick(clock.now())
    assert result.created == []
    # runs already made, and manual ones, are claimed and driven as usual
    assert {run.run_id for _, run in result.claimed} >= {manual.run_id}

    runtime.store.set_paused("daily", False)
    created = scheduler.tick(clock.now()).created
    # no stampede: without catchup only the latest complete interval
    assert [f"{run.logical_date:%Y-%m-%d}" for run in created] == ["2026-01-12"]


def test_unpaused_with_catchup_the_missed_intervals_come_at_most_max_active_runs_at_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipeline = daily(pipeline_id="caught", catchup=True, max_active_runs=2)
    record_pipeline(runtime.store, pipeline, clock.now())
    runtime.store.set_paused("caught", True)
    scheduler = scheduler_for(runtime, clock, pipeline)
    assert scheduler.tick(clock.now()).created == []
    clock.advance(timedelta(days=5))
    assert scheduler.tick(clock.now()).created == []
    runtime.store.set_paused("caught", False)
    created = scheduler.tick(clock.now()).created
    assert [f"{run.logical_date:%Y-%m-%d}" for run in created] == ["2026-01-01", "2026-01-02"]
