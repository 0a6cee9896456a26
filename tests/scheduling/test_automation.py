"""Declarative automation: assets that the scheduler materializes by itself, once per
upstream change or clock tick, throttled, with any number of schedulers."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headwater import Context, DailyPartitions, MultiPartitions, StaticPartitions, asset, cron
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.cli.materialize import create_partition_run
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.engine.runs import record_pipeline
from headwater.loader import load_folder
from headwater.runtime import Runtime
from headwater.scheduling.automation import RUNS_PER_ASSET, automation_pipelines
from headwater.scheduling.automation_rules import cron_partitions
from headwater.scheduling.scheduler import Scheduler
from headwater.store.records import RunRecord
from headwater.store.sql import assets as asset_queries
from headwater.store.sql.schema import asset_materializations
from headwater.store.sql.store import SqlStore
from tests.cli.conftest import store_of
from tests.cli.test_scheduler import SchedulerProcess
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

__all__ = ["store_of"]  # the fixture

DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")
REGIONS = StaticPartitions(["eu", "us"])


@asset(partitions=DAILY)
def raw(ctx: Context) -> list[str]:
    return [ctx.partition_key or ""]


@asset(partitions=DAILY, automation="on_upstream_update")
def cleaned(raw: list[str]) -> list[str]:
    return [day.upper() for day in raw]


@asset(partitions=REGIONS)
def sales(ctx: Context) -> int:
    return len(ctx.partition_key or "")


@asset(automation="on_upstream_update")
def sales_total(sales: dict[str, int]) -> int:
    return sum(sales.values())


@asset(partitions=DailyPartitions(start="2026-01-01", end_offset=1))
def live(ctx: Context) -> str:  # lists today's partition too
    return ctx.partition_key or ""


@asset(partitions=DAILY, automation="on_upstream_update")
def live_daily(live: str) -> str:
    return live


@asset(partitions=DAILY, automation=cron("0 6 * * *"))
def report(ctx: Context) -> str:
    return ctx.partition_key or ""


@asset(automation=cron("*/30 * * * *", timezone="Europe/Paris"))
def snapshot() -> int:
    return 1


_INDEX = itertools.count()  # materializations by hand at one instant, a microsecond apart
GRAPH = AssetGraph([raw, cleaned, sales, sales_total, live, live_daily, report, snapshot])
AUTOMATED = automation_pipelines(GRAPH, source_file=__file__)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-10T00:30:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def scheduler(store: SqlStore, clock: FakeClock, *asset_names: str, owner: str) -> Scheduler:
    chosen = {
        pipeline_id: pipeline
        for pipeline_id, pipeline in AUTOMATED.items()
        if pipeline.asset_keys[0][-1] in asset_names
    }
    return Scheduler(store, lambda: chosen, clock=clock, owner=owner)


def materialize(runtime: Runtime, name: str, partition: str | None = None) -> RunRecord:
    """Materialize one asset partition now, in this process, as ``headwater materialize``."""
    pipeline = materialize_pipeline(GRAPH, [(name,)], source_file=__file__)
    record = create_partition_run(runtime, pipeline, partition, next(_INDEX))
    return runtime.engine(pipeline).drive(record.run_id)


def drive(runtime: Runtime, claimed: list[tuple[object, RunRecord]]) -> list[str]:
    """Drive the claimed runs to their end; their final states."""
    states = []
    for pipeline, run in claimed:
        assert isinstance(pipeline, AssetPipeline)
        states.append(runtime.engine(pipeline).drive(run.run_id).state)
    return states


def record_materializations(runtime: Runtime, name: str, partitions: list[str]) -> None:
    """Successful materializations as the engine records them, without running (for volume)."""
    rows = [
        {
            "asset_key": name,
            "partition_key": partition,
            "status": "materialized",
            "run_id": "elsewhere",
            "task_id": name,
            "try_number": 1,
            "created_at": runtime.clock.now(),
            "metadata": "{}",
        }
        for partition in partitions
    ]
    with runtime.store.engine.begin() as connection:
        connection.execute(asset_materializations.insert(), rows)


def partitions_of(runs: list[RunRecord]) -> list[str | None]:
    return [run.partition_key for run in runs]


def days(first: int, last: int) -> list[str]:
    return [f"2026-01-{day:02d}" for day in range(first, last + 1)]


# on_upstream_update


@pytest.mark.postgres
def test_an_upstream_materialization_starts_one_run_of_the_partition_that_reads_it(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given raw's partition of Jan 2 materialized
    assert materialize(runtime, "raw", "2026-01-02").state == "success"
    ticker = scheduler(runtime.store, clock, "cleaned", owner=runtime.owner)
    # When the scheduler ticks
    result = ticker.tick(clock.now())
    # Then cleaned's partition of Jan 2 gets one run, which the scheduler drives
    (run,) = result.created
    assert run.pipeline_id == "materialize.cleaned"
    assert run.partition_key == "2026-01-02"
    assert run.run_type == "automation"
    assert run.triggered_by == "automation: raw 2026-01-02 was materialized"
    assert ticker.tick(clock.now()).created == []  # its run is queued: nothing more
    assert drive(runtime, result.claimed) == ["success"]
    with runtime.store.asset_connection() as connection:
        (made,) = asset_queries.materializations(connection, "cleaned")
    assert (made.partition_key, made.run_id) == ("2026-01-02", run.run_id)
    # And once materialized, it is up to date: no run until raw changes again
    clock.advance(60)
    assert ticker.tick(clock.now()).created == []
    assert materialize(runtime, "raw", "2026-01-02").state == "success"
    assert partitions_of(ticker.tick(clock.now()).created) == ["2026-01-02"]


def test_a_materialization_of_the_asset_itself_makes_it_up_to_date(
    runtime: Runtime, clock: FakeClock
) -> None:
    materialize(runtime, "raw", "2026-01-03")
    materialize(runtime, "cleaned", "2026-01-03")  # by hand, after raw
    ticker = scheduler(runtime.store, clock, "cleaned", owner=runtime.owner)
    assert ticker.tick(clock.now()).created == []


def test_a_failed_automation_run_is_not_retried_until_the_upstream_changes_again(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given cleaned's run for Jan 4, which fails (raw's value was not written: the
    # materialization is recorded, the file is gone)
    record_materializations(runtime, "raw", ["2026-01-04"])
    first = scheduler(runtime.store, clock, "cleaned", owner=runtime.owner)
    result = first.tick(clock.now())
    assert partitions_of(result.created) == ["2026-01-04"]
    assert drive(runtime, result.claimed) == ["failed"]
    # When a scheduler that knows nothing of it (restarted) ticks
    restarted = scheduler(runtime.store, clock, "cleaned", owner=runtime.owner)
    # Then the decision it recorded with its run is not taken again
    assert restarted.tick(clock.now()).created == []
    # until raw's partition is materialized again
    materialize(runtime, "raw", "2026-01-04")
    assert partitions_of(restarted.tick(clock.now()).created) == ["2026-01-04"]


@pytest.mark.postgres
def test_a_partition_waits_until_every_upstream_partition_it_reads_exists(
    runtime: Runtime, clock: FakeClock
) -> None:
    # sales_total is unpartitioned and reads both regions of sales
    ticker = scheduler(runtime.store, clock, "sales_total", owner=runtime.owner)
    materialize(runtime, "sales", "eu")
    assert ticker.tick(clock.now()).created == []
    materialize(runtime, "sales", "us")
    result = ticker.tick(clock.now())
    assert partitions_of(result.created) == [None]
    assert result.created[0].triggered_by == "automation: sales us was materialized"
    assert drive(runtime, result.claimed) == ["success"]
    # a change to either region makes it due again, once
    materialize(runtime, "sales", "eu")
    assert partitions_of(ticker.tick(clock.now()).created) == [None]
    assert ticker.tick(clock.now()).created == []


def test_a_partition_that_completes_with_time_alone_is_not_forgotten(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given today's partition of live materialized while the day is in progress
    record_materializations(runtime, "live", ["2026-01-10"])
    ticker = scheduler(runtime.store, clock, "live_daily", owner=runtime.owner)
    assert ticker.tick(clock.now()).created == []  # Jan 10 is not a partition of it yet
    # When the day ends, with nothing materialized since
    clock.advance(timedelta(days=1))
    # Then its partition of Jan 10 is due
    assert partitions_of(ticker.tick(clock.now()).created) == ["2026-01-10"]


@pytest.mark.postgres
def test_a_long_backlog_starts_a_few_runs_per_tick_oldest_first_up_to_max_active_runs(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given 3,000 partitions of raw materialized, and cleaned never
    clock.advance(timedelta(days=3000))
    keys = DAILY.keys(now=clock.now())[:3000]
    record_materializations(runtime, "raw", keys)
    ticker = scheduler(runtime.store, clock, "cleaned", owner=runtime.owner)
    # When the scheduler ticks: a few runs, the oldest partitions first
    assert partitions_of(ticker.tick(clock.now(), capacity=0).created) == keys[:RUNS_PER_ASSET]
    # Then more with each tick, never more than max_active_runs (16) at once
    created = RUNS_PER_ASSET
    for _ in range(10):
        created += len(ticker.tick(clock.now(), capacity=0).created)
    assert created == 16
    queued = runtime.store.list_runs("materialize.cleaned", limit=100)
    assert sorted(partitions_of(queued)) == keys[:16]


# cron


@pytest.mark.postgres
def test_a_cron_automation_materializes_the_newest_complete_partition_at_each_fire(
    runtime: Runtime, clock: FakeClock
) -> None:
    ticker = scheduler(runtime.store, clock, "report", owner=runtime.owner)
    # 00:30 on Jan 10: the last fire was 06:00 on Jan 9, when Jan 8 was the newest day
    (run,) = ticker.tick(clock.now()).created
    assert run.partition_key == "2026-01-08"
    assert run.triggered_by == (
        "automation: cron('0 6 * * *', timezone='UTC') at 2026-01-09T06:00:00+00:00"
    )
    assert ticker.tick(clock.now()).created == []
    clock.advance(timedelta(hours=5, minutes=29))
    assert ticker.tick(clock.now()).created == []
    clock.advance(timedelta(minutes=1))  # 06:00 on Jan 10
    assert partitions_of(ticker.tick(clock.now()).created) == ["2026-01-09"]
    restarted = scheduler(runtime.store, clock, "report", owner=runtime.owner)
    assert restarted.tick(clock.now()).created == []


def test_a_cron_fire_materializes_the_newest_complete_time_partition_of_each_kind() -> None:
    fire = datetime(2026, 1, 5, 6, tzinfo=UTC)
    assert cron_partitions(None, fire) == [None]
    assert cron_partitions(DAILY, fire) == ["2026-01-04"]
    assert cron_partitions(REGIONS, fire) == ["eu", "us"]
    by_day_and_region = MultiPartitions({"day": DAILY, "region": REGIONS})
    assert cron_partitions(by_day_and_region, fire) == ["2026-01-04|eu", "2026-01-04|us"]


def test_a_cron_automation_of_an_unpartitioned_asset_runs_it_whole_once_per_fire(
    runtime: Runtime, clock: FakeClock
) -> None:
    ticker = scheduler(runtime.store, clock, "snapshot", owner=runtime.owner)
    assert partitions_of(ticker.tick(clock.now()).created) == [None]
    clock.advance(timedelta(minutes=20))
    assert ticker.tick(clock.now()).created == []
    clock.advance(timedelta(minutes=10))
    assert partitions_of(ticker.tick(clock.now()).created) == [None]


# pause, max_active_runs, several schedulers


def test_a_paused_automation_pipeline_starts_nothing_until_resumed(
    runtime: Runtime, clock: FakeClock
) -> None:
    ticker = scheduler(runtime.store, clock, "snapshot", owner=runtime.owner)
    record_pipeline(runtime.store, AUTOMATED["materialize.snapshot"], clock.now())
    runtime.store.set_paused("materialize.snapshot", True)
    assert ticker.tick(clock.now()).created == []
    runtime.store.set_paused("materialize.snapshot", False)
    assert len(ticker.tick(clock.now()).created) == 1


@pytest.mark.postgres
def test_two_schedulers_ticking_at_once_start_each_decision_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given upstream changes for 12 partitions and a cron fire
    record_materializations(runtime, "raw", days(1, 9))
    stores = [SqlStore.from_settings(runtime.settings) for _ in range(2)]
    barrier = threading.Barrier(2, timeout=20)
    created: list[list[RunRecord]] = [[], []]

    def tick(index: int) -> None:
        ticker = scheduler(stores[index], clock, "cleaned", "report", owner=f"s{index}")
        barrier.wait()
        for _ in range(4):
            created[index].extend(ticker.tick(clock.now(), capacity=0).created)

    # When two schedulers tick over and over at the same moment
    threads = [threading.Thread(target=tick, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()

    # Then each decision was carried out exactly once, by one of them
    made = created[0] + created[1]
    assert sorted(partitions_of([r for r in made if r.pipeline_id == "materialize.cleaned"])) == (
        days(1, 9)
    )
    assert partitions_of([r for r in made if r.pipeline_id == "materialize.report"]) == [
        "2026-01-08"
    ]
    stored = runtime.store.list_runs("materialize.cleaned", limit=100)
    assert len(stored) == 9


# end to end: a real scheduler process

UPSTREAM_AND_AUTOMATED = """\
from headwater import asset

@asset
def readings() -> list[int]:
    return [1, 2, 3]

@asset(automation="on_upstream_update")
def readings_total(readings: list[int]) -> int:
    return sum(readings)
"""


def test_a_scheduler_process_materializes_an_asset_after_its_upstream_changes(
    tmp_path: Path,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    # Given a scheduler watching a folder with an automated asset
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "readings.py").write_text(UPSTREAM_AND_AUTOMATED)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    process = SchedulerProcess(command_server, home, pipelines, tmp_path)
    store = store_of()
    try:
        # When its upstream is materialized by hand
        _, catalog = load_folder(pipelines)
        pipeline = materialize_pipeline(catalog.graph, [("readings",)], source_file=str(pipelines))
        runtime = Runtime(Settings.for_home(home))
        try:
            run = runtime.create_run(pipeline)
            assert runtime.engine(pipeline).drive(run.run_id).state == "success"
        finally:
            runtime.close()
        # Then the scheduler materializes the asset that reads it, once
        wait_until(lambda: bool(store.newest_materializations("readings_total")), timeout=30)
    finally:
        process.stop()
    (made,) = store.newest_materializations("readings_total")
    (automated,) = store.list_runs("materialize.readings_total")
    assert (automated.run_id, automated.run_type) == (made.run_id, "automation")
