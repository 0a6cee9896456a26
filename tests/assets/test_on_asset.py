"""``schedule=on_asset(key)``: a run each time the asset is materialized, none doubled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from headwater import Context, on_asset, pipeline, task
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.scheduling.scheduler import Scheduler


@task(outlets=["orders_cleaned"])
def produce() -> list[int]:
    return [1, 2]


@task
def consume(ctx: Context) -> str:
    return f"{ctx.params['asset']}:{ctx.params['partition']}"


@pipeline
def producer() -> None:
    produce()


@pipeline(schedule=on_asset("orders_cleaned"), max_active_runs=10)
def consumer() -> None:
    consume()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-10T00:30:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


@pytest.mark.postgres
def test_each_materialization_after_the_pipeline_watches_starts_one_run(
    runtime: Runtime, clock: FakeClock
) -> None:
    runtime.run(producer, logical_date=datetime(2026, 1, 1, tzinfo=UTC))
    ticker = Scheduler(
        runtime.store, lambda: {"consumer": consumer}, clock=clock, owner=runtime.owner
    )
    # what was materialized before the pipeline watched the asset is not an event
    assert ticker.tick(clock.now()).created == []
    runtime.run(producer, logical_date=datetime(2026, 1, 2, tzinfo=UTC))
    runtime.run(producer, logical_date=datetime(2026, 1, 3, tzinfo=UTC))
    created = ticker.tick(clock.now()).created
    assert [run.pipeline_id for run in created] == ["consumer", "consumer"]
    assert all(run.params["asset"] == "orders_cleaned" for run in created)
    assert ticker.tick(clock.now()).created == []  # none handled twice
