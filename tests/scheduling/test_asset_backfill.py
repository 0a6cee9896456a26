"""Backfills of asset partitions: what they plan from the partitions' status, and how
they advance, k runs at a time, in a scheduler or in the foreground."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headwater import (
    Context,
    DailyPartitions,
    MonthlyPartitions,
    StaticPartitions,
    asset,
    asset_check,
)
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.engine.host import EngineHost
from headwater.errors import ConfigError
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.scheduling.asset_backfill import (
    AssetReprocess,
    PartitionState,
    Redo,
    backfill_partitions,
    backfill_pipeline,
    combine,
    partition_action,
    partition_interval,
    plan_partitions,
    record_asset_backfill,
    selection_partitions,
)
from headwater.scheduling.asset_backfill_advance import (
    AssetBackfillProgress,
    BackfillPipelines,
    advance_asset_backfill,
    asset_backfill_progress,
)
from headwater.scheduling.asset_backfill_runner import AssetBackfillRunner
from headwater.scheduling.backfill import Action
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.scheduler import Scheduler
from headwater.store.records import BackfillRecord, RunRecord

DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")
REGIONS = StaticPartitions(["eu", "us", "asia"])
FAILING: set[str] = set()  # the partitions of 'events' that fail, for the test running


@asset(partitions=DAILY)
def events(ctx: Context) -> list[str]:
    return [] if ctx.partition_key in FAILING else [ctx.partition_key or ""]


@asset_check(asset="events", blocking=True)
def has_events(events: list[str]) -> bool:
    return bool(events)  # refused: the partition is failed, and what reads it not tried


@asset(partitions=DAILY)
def counts(events: list[str]) -> int:
    return len(events)


@asset(partitions=REGIONS)
def regional(ctx: Context) -> str:
    return ctx.partition_key or ""


@asset
def rates() -> dict[str, float]:
    return {"eur": 1.1}


@asset(partitions=MonthlyPartitions(start="2026-01-01"), deps=["counts"])
def monthly() -> int:
    return 1


GRAPH = AssetGraph([events, counts, regional, rates, monthly], [has_events])
BOTH = [("events",), ("counts",)]
NOW = datetime(2026, 1, 10, 0, 30, tzinfo=UTC)


def days(*numbers: int) -> list[str]:
    return [f"2026-01-{n:02d}" for n in numbers]


def pipeline_of(*keys: tuple[str, ...]) -> AssetPipeline:
    return materialize_pipeline(GRAPH, list(keys or BOTH), source_file=__file__)


@pytest.fixture(autouse=True)
def nothing_fails() -> Iterator[None]:
    FAILING.clear()
    yield
    FAILING.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.isoformat())


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def materialize(runtime: Runtime, pipe: AssetPipeline, partition: str) -> RunRecord:
    """``headwater materialize`` of one partition, in this process."""
    assert pipe.partitions is not None
    interval = partition_interval(pipe.partitions, partition, now=runtime.clock.now())
    record = runtime.create_run(pipe, interval=interval, partition_key=partition, replace=True)
    return runtime.engine(pipe).drive(record.run_id)


def drive(runtime: Runtime, clock: FakeClock, pipe: AssetPipeline, runs: list[RunRecord]) -> None:
    host = EngineHost(
        runtime.store,
        ThreadExecutor(4, clock=clock),
        clock=clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=runtime.owner,
    )
    for run in runs:
        host.add(pipe, run)  # takes the lease: runs made by a backfill have none
    host.start()
    try:
        host.run_until_done()
    finally:
        host.shutdown()


def run_to_the_end(
    runtime: Runtime, clock: FakeClock, pipe: AssetPipeline, backfill: BackfillRecord
) -> AssetBackfillProgress:
    """Advance the backfill and drive its runs here until it ends."""
    progress = advance_asset_backfill(runtime.store, pipe, backfill, clock=clock)
    while not progress.finished or progress.backfill.state == "running":
        drive(runtime, clock, pipe, progress.created)
        clock.advance(timedelta(seconds=1))
        progress = advance_asset_backfill(runtime.store, pipe, backfill, clock=clock)
    return progress


def reprocess(text: str) -> AssetReprocess:
    return AssetReprocess.parse(text)


# planning: pure


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # missing, failed, all, missing+stale, failed+stale
        ("missing", ["run", "run", "run", "run", "run"]),
        ("failed", ["skip", "redo", "redo", "skip", "redo"]),
        ("stale", ["skip", "skip", "redo", "redo", "redo"]),
        ("materialized", ["skip", "skip", "redo", "skip", "skip"]),
    ],
)
def test_the_choice_and_the_status_decide_what_happens_to_a_partition(
    status: str, expected: list[str]
) -> None:
    state = PartitionState(status=status, materialized_at=NOW - timedelta(days=1))
    choices = ["missing", "failed", "all", "missing+stale", "failed+stale"]
    actions = [partition_action(state, reprocess(c), since=NOW).value for c in choices]
    assert actions == expected


def test_a_partition_on_its_way_or_written_since_the_backfill_began_is_skipped() -> None:
    state = PartitionState(status="missing")
    assert partition_action(state, reprocess("all"), since=NOW, active=True) is Action.SKIP
    fresh = PartitionState(status="materialized", materialized_at=NOW + timedelta(minutes=1))
    assert partition_action(fresh, reprocess("all"), since=NOW) is Action.SKIP


def test_a_partition_has_the_worst_status_and_the_oldest_time_of_its_assets() -> None:
    old, new = NOW - timedelta(days=2), NOW - timedelta(days=1)
    combined = combine(
        [
            PartitionState(status="materialized", materialized_at=new, run_id="r2"),
            PartitionState(status="stale", materialized_at=old, run_id="r1"),
        ]
    )
    assert combined == PartitionState(status="stale", materialized_at=old, run_id="r1")
    # an asset failed, so the one reading it was never tried: the partition failed
    failed = combine([PartitionState(status="failed"), PartitionState(status="missing")])
    assert failed.status == "failed"
    assert combine([]).status == "missing"


def test_the_choice_reads_back_as_stored() -> None:
    assert AssetReprocess(redo=Redo.FAILED, stale=True).value == "failed+stale"
    assert reprocess("failed+stale") == AssetReprocess(redo=Redo.FAILED, stale=True)
    assert reprocess("all") == AssetReprocess(redo=Redo.ALL)


def test_a_time_partition_runs_over_its_window_and_others_from_now() -> None:
    window = partition_interval(DAILY, "2026-01-02", now=NOW, offset=3)
    assert (window.start, window.end) == (
        datetime(2026, 1, 2, tzinfo=UTC),
        datetime(2026, 1, 3, tzinfo=UTC),
    )
    static = partition_interval(REGIONS, "us", now=NOW, offset=3)
    assert static.start == static.end == NOW + timedelta(microseconds=3)


# the partitions and the assets asked for


def test_partitions_must_have_ended_and_be_within_the_definition() -> None:
    assert backfill_partitions(DAILY, "2026-01-08..", now=NOW, dynamic={}) == days(8, 9)
    with pytest.raises(
        ConfigError, match=r"partition '2026-01-10' .* has not ended yet.*'2026-01-09'"
    ):
        backfill_partitions(DAILY, "2026-01-01..2026-01-12", now=NOW, dynamic={})
    with pytest.raises(
        ConfigError, match=r"--partitions '2025-12-31\.\.2026-01-02': .*before the first"
    ):
        backfill_partitions(DAILY, "2025-12-31..2026-01-02", now=NOW, dynamic={})
    assert backfill_partitions(REGIONS, "eu..us", now=NOW, dynamic={}) == ["eu", "us"]


def test_assets_are_backfilled_only_partitioned_alike() -> None:
    with pytest.raises(ConfigError, match=r"asset 'rates' is not partitioned.*materialize rates"):
        selection_partitions(GRAPH, [("rates",)], [("rates",)], "'rates'")
    with pytest.raises(ConfigError, match=r"'counts' --downstream: .*partitioned differently"):
        selection_partitions(
            GRAPH, [("counts",), ("monthly",)], [("counts",)], "'counts' --downstream"
        )
    # an unpartitioned asset upstream is materialized whole by each run
    assert selection_partitions(GRAPH, [("rates",), ("events",)], [("events",)], "x") == DAILY


# planning: from the store


def test_the_plan_follows_the_status_of_each_partition(runtime: Runtime, clock: FakeClock) -> None:
    # Given 01-02 materialized, 01-03 failed, 01-04 only half there, and 01-05 stale
    pipe = pipeline_of()
    FAILING.add("2026-01-03")
    assert materialize(runtime, pipe, "2026-01-02").state == "success"
    failed = materialize(runtime, pipe, "2026-01-03")
    assert failed.state == "failed"
    assert materialize(runtime, pipeline_of(("events",)), "2026-01-04").state == "success"
    assert materialize(runtime, pipe, "2026-01-05").state == "success"
    clock.advance(timedelta(minutes=1))
    assert materialize(runtime, pipeline_of(("events",)), "2026-01-05").state == "success"
    clock.advance(timedelta(minutes=1))

    def plan(choice: str) -> list[str]:
        steps = plan_partitions(
            runtime.store,
            pipe,
            days(1, 2, 3, 4, 5),
            reprocess(choice),
            now=clock.now(),
            since=clock.now(),
        )
        return [step.action.value for step in steps]

    steps = plan_partitions(
        runtime.store,
        pipe,
        days(1, 2, 3, 4, 5),
        reprocess("missing"),
        now=clock.now(),
        since=clock.now(),
    )
    assert [step.state.status for step in steps] == [
        "missing",
        "materialized",
        "failed",
        "missing",
        "stale",
    ]
    assert steps[2].existing is not None
    assert steps[2].existing.run_id == failed.run_id  # the run of its window, to reset
    assert plan("missing") == ["run", "skip", "skip", "run", "skip"]
    assert plan("failed") == ["run", "skip", "redo", "run", "skip"]
    assert plan("missing+stale") == ["run", "skip", "skip", "run", "redo"]
    assert plan("all") == ["run", "redo", "redo", "run", "redo"]


def test_a_time_partition_is_materialized_again_in_its_own_run(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a failed partition
    pipe = pipeline_of()
    FAILING.add("2026-01-03")
    failed = materialize(runtime, pipe, "2026-01-03")
    FAILING.clear()

    # When a backfill of --failed runs over it and its neighbours
    backfill = record_asset_backfill(
        runtime.store, pipe, days(2, 3, 4), now=clock.now(), reprocess=reprocess("failed")
    )
    progress = run_to_the_end(runtime, clock, pipe, backfill)

    # Then the failed partition ran again in the same run, the others in runs of their own
    assert progress.backfill.state == "success"
    assert [run.partition_key for run in progress.runs] == days(2, 3, 4)
    assert progress.runs[1].run_id == failed.run_id
    assert len(runtime.store.get_tries(failed.run_id, "events")) == 2
    assert [run.logical_date for run in progress.runs] == [
        datetime(2026, 1, day, tzinfo=UTC) for day in (2, 3, 4)
    ]
    assert {run.backfill_id for run in progress.runs} == {backfill.backfill_id}
    assert len(runtime.store.list_runs(pipe.pipeline_id)) == 3


def test_other_partitions_get_a_new_run_each_time(runtime: Runtime, clock: FakeClock) -> None:
    pipe = pipeline_of(("regional",))
    first = run_to_the_end(
        runtime,
        clock,
        pipe,
        record_asset_backfill(runtime.store, pipe, ["eu", "us", "asia"], now=clock.now()),
    )
    assert [run.partition_key for run in first.runs] == ["eu", "us", "asia"]
    again = record_asset_backfill(
        runtime.store, pipe, ["eu", "us", "asia"], now=clock.now(), reprocess=reprocess("all")
    )
    second = run_to_the_end(runtime, clock, pipe, again)
    assert second.backfill.state == "success"
    assert [run.partition_key for run in second.runs] == ["eu", "us", "asia"]
    assert not {run.run_id for run in first.runs} & {run.run_id for run in second.runs}
    assert len({run.logical_date for run in runtime.store.list_runs(pipe.pipeline_id)}) == 6


def test_a_running_backfill_of_the_same_partitions_of_an_asset_is_refused(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipe = pipeline_of()
    running = record_asset_backfill(runtime.store, pipe, days(1, 2, 3), now=clock.now())
    with pytest.raises(
        ConfigError, match=rf"asset 'events' already has a running backfill .*{running.backfill_id}"
    ):
        record_asset_backfill(runtime.store, pipeline_of(("events",)), days(3, 4), now=clock.now())
    with pytest.raises(ConfigError, match=r"--max-active-runs must be 1 or more, got 0"):
        record_asset_backfill(runtime.store, pipe, days(5), now=clock.now(), max_active_runs=0)
    # other partitions, or other assets, are free
    record_asset_backfill(runtime.store, pipe, days(4, 5), now=clock.now())
    record_asset_backfill(runtime.store, pipeline_of(("regional",)), ["eu"], now=clock.now())


def test_a_recorded_backfill_builds_its_pipeline_again_from_the_graph(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipe = pipeline_of()
    record = record_asset_backfill(runtime.store, pipe, days(1, 2), now=clock.now())
    assert (record.partitions, record.asset_selection) == (tuple(days(1, 2)), ("events", "counts"))
    assert (record.start_date, record.end_date) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert backfill_pipeline(GRAPH, record, "folder").pipeline_id == pipe.pipeline_id
    smaller = AssetGraph([events, regional], [has_events])
    with pytest.raises(ConfigError, match=r"asset 'counts' is no longer defined under folder"):
        backfill_pipeline(smaller, record, "folder")


# advancing


def test_a_scheduler_advances_a_detached_asset_backfill_k_runs_at_a_time(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a detached backfill of five partitions, two at a time, newest first
    pipe = pipeline_of()
    scheduler = Scheduler(
        runtime.store, lambda: {pipe.pipeline_id: pipe}, clock=clock, owner=runtime.owner
    )
    backfill = record_asset_backfill(
        runtime.store, pipe, days(1, 2, 3, 4, 5), now=clock.now(), max_active_runs=2, reverse=True
    )

    # When the scheduler ticks and drives what it claims, until the backfill ends
    order: list[str | None] = []
    for _ in range(10):
        result = scheduler.tick(clock.now())
        order.extend(run.partition_key for run in result.created)
        current = runtime.store.get_backfill(backfill.backfill_id)
        assert (
            len(asset_backfill_progress(runtime.store, pipe, current, now=clock.now()).active) <= 2
        )
        drive(runtime, clock, pipe, [run for _, run in result.claimed])
        clock.advance(timedelta(seconds=1))
        if runtime.store.get_backfill(backfill.backfill_id).state != "running":
            break

    # Then each partition ran once, newest first, and the backfill succeeded
    assert order == days(5, 4, 3, 2, 1)
    assert runtime.store.get_backfill(backfill.backfill_id).state == "success"


def test_a_cancelled_asset_backfill_starts_no_more_runs(runtime: Runtime, clock: FakeClock) -> None:
    pipe = pipeline_of()
    backfill = record_asset_backfill(runtime.store, pipe, days(1, 2, 3, 4), now=clock.now())
    started = advance_asset_backfill(runtime.store, pipe, backfill, clock=clock).created
    assert len(started) == 2
    cancelled = runtime.store.cancel_backfill(backfill.backfill_id, clock.now(), "test")
    assert sorted(cancelled) == sorted(run.run_id for run in started)  # queued: cancelled too
    progress = asset_backfill_progress(
        runtime.store, pipe, runtime.store.get_backfill(backfill.backfill_id), now=clock.now()
    )
    assert progress.finished
    assert len(progress.runs) == 2


def test_the_scheduler_gets_the_pipeline_of_each_running_asset_backfill(
    tmp_path: Path, runtime: Runtime, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    source = (
        "from headwater import asset, StaticPartitions\n\n"
        "@asset(partitions=StaticPartitions(['a', 'b']))\n"
        "def letters(ctx) -> str:\n"
        "    return ctx.partition_key\n"
    )
    (folder / "letters.py").write_text(source)
    registry = PipelineRegistry(folder)
    registry.refresh()
    pipelines = BackfillPipelines(registry, runtime.store)
    assert pipelines() == registry.pipelines  # no backfill: the folder's pipelines
    keys = list(registry.catalog.graph.assets)
    pipe = materialize_pipeline(registry.catalog.graph, keys, source_file=str(folder))
    backfill = record_asset_backfill(runtime.store, pipe, ["a", "b"], now=clock.now())

    found = pipelines()[pipe.pipeline_id]
    assert isinstance(found, AssetPipeline)
    assert pipelines()[pipe.pipeline_id] is found  # built once per graph

    # the asset's file is gone: the backfill waits, said once
    (folder / "letters.py").unlink()
    registry.refresh()
    with caplog.at_level(logging.ERROR, logger="headwater.scheduler"):
        assert pipe.pipeline_id not in pipelines()
        assert pipe.pipeline_id not in pipelines()
    assert [r.getMessage() for r in caplog.records] == [
        f"backfill {backfill.backfill_id}: asset 'letters' is no longer defined under "
        f"{folder.resolve()}; define it again, or cancel the backfill with 'headwater "
        f"backfills cancel {backfill.backfill_id}'"
    ]


# the foreground runner


class Gauge:
    """How many tries run at once, and the most ever."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.barrier = threading.Barrier(2, timeout=20)


GAUGE = Gauge()


@asset(partitions=DAILY)
def pairs(ctx: Context) -> str:
    with GAUGE.lock:
        GAUGE.now += 1
        GAUGE.peak = max(GAUGE.peak, GAUGE.now)
    try:
        GAUGE.barrier.wait()  # only returns once two runs are running together
    finally:
        with GAUGE.lock:
            GAUGE.now -= 1
    return ctx.partition_key or ""


@pytest.fixture
def gauge() -> Gauge:
    global GAUGE
    GAUGE = Gauge()
    return GAUGE


def test_the_runner_keeps_exactly_k_runs_going(settings: Settings, gauge: Gauge) -> None:
    pipe = materialize_pipeline(AssetGraph([pairs], []), [("pairs",)], source_file=__file__)
    runtime = Runtime(settings)
    try:
        backfill = record_asset_backfill(
            runtime.store, pipe, days(1, 2, 3, 4, 5, 6), now=runtime.clock.now(), max_active_runs=2
        )
        seen: list[int] = []
        progress = AssetBackfillRunner(
            runtime, pipe, backfill, poll=0.05, on_progress=lambda p: seen.append(len(p.active))
        ).run()
    finally:
        runtime.close()
    assert progress.backfill.state == "success"
    assert [run.state for run in progress.runs] == ["success"] * 6
    assert gauge.peak == 2  # two at once (the barrier needs them), never three
    assert max(seen) <= 2


def test_an_interrupted_runner_leaves_the_backfill_to_a_scheduler(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipe = pipeline_of()
    backfill = record_asset_backfill(runtime.store, pipe, days(1, 2, 3, 4), now=clock.now())

    def interrupt(progress: object) -> None:
        raise KeyboardInterrupt

    runner = AssetBackfillRunner(runtime, pipe, backfill, on_progress=interrupt)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    record = runtime.store.get_backfill(backfill.backfill_id)
    assert record.state == "running"
    assert dataclasses.replace(record, lease_expires_at=None) == record  # let go
    scheduler = Scheduler(runtime.store, lambda: {pipe.pipeline_id: pipe}, clock=clock, owner="s2")
    clock.advance(timedelta(seconds=1))
    claimed = scheduler.tick(clock.now()).claimed
    assert [run.partition_key for _, run in claimed] == days(1, 2)
