"""Per-process counters and histograms: what the engine committed, counted once."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from headwater import Context, pipeline, task
from headwater.config import Settings
from headwater.metrics.exposition import metrics_registry, render
from headwater.metrics.instruments import (
    LOOP_DURATION,
    PIPELINE_DURATION,
    PIPELINE_TASKS,
    RUNS_FINISHED,
    SCHEDULE_DELAY,
    TASK_RETRIES,
    TRY_DURATION,
    EngineMetrics,
    HostSnapshot,
)
from headwater.runtime import Runtime
from headwater.store.records import Batch, RunRecord, RunUpdate
from headwater.testing import FakeClock
from tests.metrics.conftest import BOUNDED_LABELS, label_sets, parse, value
from tests.waiting import wait_until


@task
def extract() -> int:
    return 1


@task(retries=1, retry_delay=10)
def flaky(value: int, ctx: Context) -> int:
    if ctx.try_number == 1:
        raise ConnectionError("the database is not up yet")
    return value


@task
def boom() -> int:
    raise ValueError("boom")


@task
def after_boom(value: int) -> int:
    return value


@pipeline
def mixed() -> None:
    flaky(extract())
    after_boom(boom())


def engine_metrics(runtime: Runtime) -> EngineMetrics:
    engine = runtime.current_engine
    assert engine is not None
    assert engine.host is not None
    return engine.host.metrics


def test_a_run_counts_its_tasks_tries_retries_and_duration_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a run where one task succeeds after a retry 10 s later and another fails
    run = runtime.run(mixed)
    assert run.state == "failed"
    metrics = engine_metrics(runtime)

    # Then each final task state is counted once, and the retry
    assert metrics.values(PIPELINE_TASKS) == {
        ("mixed", "extract", "success"): 1,
        ("mixed", "flaky", "success"): 1,
        ("mixed", "boom", "failed"): 1,
        ("mixed", "after_boom", "upstream_failed"): 1,
    }
    assert metrics.values(TASK_RETRIES) == {("mixed", "flaky"): 1}
    assert metrics.values(RUNS_FINISHED) == {("mixed", "failed"): 1}
    # the run took exactly the retry's delay on the fake clock
    (duration,) = metrics.histogram(PIPELINE_DURATION).values()
    assert (duration.count, duration.sum) == (1, 10.0)
    tries = metrics.histogram(TRY_DURATION)
    assert {labels: h.count for labels, h in tries.items()} == {
        ("mixed", "success"): 2,
        ("mixed", "failed"): 2,
    }
    assert metrics.histogram(SCHEDULE_DELAY) == {}  # a run started by hand has none


def test_a_run_that_is_run_again_counts_again(runtime: Runtime) -> None:
    runtime.run(mixed)
    first = engine_metrics(runtime)
    runtime.run(mixed)  # a new engine: its own counters
    assert engine_metrics(runtime) is not first
    assert engine_metrics(runtime).values(RUNS_FINISHED) == {("mixed", "failed"): 1}


def test_the_exposition_has_the_documented_names_and_bounded_labels(runtime: Runtime) -> None:
    runtime.run(mixed)
    metrics = engine_metrics(runtime)
    metrics.tick(0.004, runtime.clock.now())
    metrics.delivery("oncall", "sent")

    families = parse(render(metrics_registry(engine=metrics, process=False)).decode())

    assert value(families, "headwater_runs_finished_total", pipeline="mixed", state="failed") == 1
    assert (
        value(
            families,
            "headwater_pipeline_tasks_total",
            pipeline="mixed",
            task="boom",
            state="failed",
        )
        == 1
    )
    assert value(families, "headwater_task_retries_total", pipeline="mixed", task="flaky") == 1
    count = "headwater_pipeline_duration_seconds_count"
    assert value(families, count, pipeline="mixed", state="failed") == 1
    bucket = "headwater_pipeline_duration_seconds_bucket"
    assert value(families, bucket, pipeline="mixed", state="failed", le="5.0") == 0
    assert value(families, bucket, pipeline="mixed", state="failed", le="15.0") == 1
    assert value(families, bucket, pipeline="mixed", state="failed", le="+Inf") == 1
    assert value(families, "headwater_scheduler_loop_duration_seconds_count") == 1
    assert value(families, "headwater_scheduler_last_tick_timestamp_seconds") == (
        runtime.clock.now().timestamp()
    )
    assert value(families, "headwater_alert_deliveries_total", channel="oncall", outcome="sent")
    # the host's queues, read at the scrape: nothing runs any more
    assert value(families, "headwater_tries_running") == 0
    assert value(families, "headwater_tries_ready") == 0
    for labels in label_sets(families):
        assert set(labels) <= BOUNDED_LABELS


def scheduled_run(started_at: str | None = None) -> RunRecord:
    clock = FakeClock("2026-01-02T00:00:00+00:00")
    day = clock.now()
    return RunRecord(
        run_id="daily__2026-01-01",
        pipeline_id="daily",
        logical_date=day - timedelta(days=1),
        data_interval_start=day - timedelta(days=1),
        data_interval_end=day,
        params={},
        state="queued",
        run_type="scheduled",
        triggered_by="scheduler",
        source_file=None,
        created_at=day,
        started_at=None if started_at is None else FakeClock(started_at).now(),
    )


@pytest.mark.parametrize(
    ("started_before", "delays"),
    [(None, [(1, 90.0)]), ("2026-01-02T00:01:00+00:00", [])],
    ids=["first-start", "resumed"],
)
def test_schedule_delay_is_counted_at_a_scheduled_runs_first_start_only(
    started_before: str | None, delays: list[tuple[int, float]]
) -> None:
    # Given a daily run whose interval ended at midnight, started at 00:01:30
    run = scheduled_run(started_before)
    start = FakeClock("2026-01-02T00:01:30+00:00").now()
    metrics = EngineMetrics()
    update = RunUpdate(run_id=run.run_id, expected=("queued",), state="running", started_at=start)

    metrics.committed(run, Batch(run_update=update))

    histogram = metrics.histogram(SCHEDULE_DELAY)
    assert [(h.count, h.sum) for h in histogram.values()] == delays
    # and the run's duration counts from that start
    end = RunUpdate(
        run_id=run.run_id,
        expected=("running",),
        state="success",
        ended_at=start + timedelta(seconds=30),
    )
    metrics.committed(run, Batch(run_update=end))
    (duration,) = metrics.histogram(PIPELINE_DURATION).values()
    assert duration.sum == 30.0


def test_loop_durations_fall_in_their_buckets() -> None:
    metrics = EngineMetrics()
    clock = FakeClock()
    for seconds in (0.0005, 0.02, 0.02, 30.0):
        metrics.tick(seconds, clock.now())
    (histogram,) = metrics.histogram(LOOP_DURATION).values()
    assert histogram.count == 4
    assert histogram.counts[0] == 1  # ≤ 1 ms
    assert histogram.counts[3] == 2  # ≤ 25 ms
    assert histogram.counts[-1] == 1  # above every bound


RELEASE = threading.Event()


@task(pool="warehouse")
def hold() -> int:
    RELEASE.wait(30)
    return 1


@pipeline
def pooled() -> None:
    hold.override(task_id="first")()
    hold.override(task_id="second")()


def test_a_scrape_sees_the_tries_running_and_waiting_for_pool_slots(tmp_path: Path) -> None:
    # Given a pool of one slot and two tasks needing it: one runs, one waits
    runtime = Runtime(Settings.for_home(tmp_path))
    runtime.store.set_pool("warehouse", 1, None, runtime.clock.now())
    RELEASE.clear()
    driving = threading.Thread(target=runtime.run, args=(pooled,))
    driving.start()
    try:

        def snapshot() -> HostSnapshot | None:
            engine = runtime.current_engine
            host = None if engine is None else engine.host
            return None if host is None else host.metrics.hosts()[0]

        # Then a scrape, from another thread than the engine's, sees both
        wait_until(
            lambda: (
                snapshot() == HostSnapshot(running=1, ready=0, waiting_for_slots={"warehouse": 1})
            )
        )
    finally:
        RELEASE.set()
        driving.join(timeout=30)
        runtime.close()
    assert snapshot() == HostSnapshot(running=0, ready=0, waiting_for_slots={})
