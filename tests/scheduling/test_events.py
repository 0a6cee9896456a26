"""Event schedules: one run per new file, one run per upstream success; none lost or doubled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headwater import Context, after, on_file, pipeline, task
from headwater.authoring.pipeline import Pipeline
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.scheduling.scheduler import Scheduler


@task
def read(ctx: Context) -> str:
    return str(ctx.params.get("path", ""))


@task
def fails() -> None:
    raise RuntimeError("upstream broke")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-10T00:30:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def file_pipeline(folder: Path) -> Pipeline:
    @pipeline(schedule=on_file(str(folder / "*.csv")), max_active_runs=10)
    def ingest() -> None:
        read()

    return ingest


def scheduler(
    runtime: Runtime, clock: FakeClock, *pipelines: Pipeline, owner: str = ""
) -> Scheduler:
    by_id = {p.pipeline_id: p for p in pipelines}
    return Scheduler(runtime.store, lambda: by_id, clock=clock, owner=owner or runtime.owner)


def test_each_new_file_starts_one_run_with_its_path(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("1")
    (tmp_path / "b.csv").write_text("2")
    (tmp_path / "ignored.txt").write_text("3")
    ingest = file_pipeline(tmp_path)
    ticker = scheduler(runtime, clock, ingest)

    created = ticker.tick(clock.now()).created

    assert sorted(run.params["path"] for run in created) == [
        str((tmp_path / "a.csv").resolve()),
        str((tmp_path / "b.csv").resolve()),
    ]
    assert {run.run_type for run in created} == {"event"}
    assert ticker.tick(clock.now()).created == []  # seen already
    (tmp_path / "c.csv").write_text("4")
    assert [run.params["path"] for run in ticker.tick(clock.now()).created] == [
        str((tmp_path / "c.csv").resolve())
    ]


def test_a_file_written_again_is_a_new_event(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    target = tmp_path / "a.csv"
    target.write_text("1")
    ticker = scheduler(runtime, clock, file_pipeline(tmp_path))
    assert len(ticker.tick(clock.now()).created) == 1
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(ticker.tick(clock.now()).created) == 1


def test_files_that_arrived_while_no_scheduler_ran_are_not_lost(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    ingest = file_pipeline(tmp_path)
    assert scheduler(runtime, clock, ingest).tick(clock.now()).created == []
    for name in ("x.csv", "y.csv", "z.csv"):
        (tmp_path / name).write_text(name)  # the scheduler is down meanwhile
    restarted = scheduler(runtime, clock, ingest, owner="restarted")
    assert len(restarted.tick(clock.now()).created) == 3


def test_two_schedulers_handle_each_file_once(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    for index in range(5):
        (tmp_path / f"{index}.csv").write_text(str(index))
    ingest = file_pipeline(tmp_path)
    one = scheduler(runtime, clock, ingest, owner="one")
    two = scheduler(runtime, clock, ingest, owner="two")
    created = one.tick(clock.now()).created + two.tick(clock.now()).created
    assert len(created) == 5
    assert len(runtime.store.list_runs("ingest")) == 5


def test_a_successful_upstream_run_starts_the_downstream_pipeline_for_its_date(
    runtime: Runtime, clock: FakeClock
) -> None:
    @pipeline(schedule="@daily", start="2026-01-01")
    def upstream() -> None:
        read()

    @pipeline(schedule=after("upstream"))
    def downstream() -> None:
        read()

    day = datetime(2026, 1, 7, tzinfo=UTC)
    runtime.run(upstream, logical_date=day)
    ticker = scheduler(runtime, clock, downstream)

    created = ticker.tick(clock.now()).created

    assert [(run.pipeline_id, run.logical_date) for run in created] == [("downstream", day)]
    assert created[0].data_interval_end == datetime(2026, 1, 8, tzinfo=UTC)
    assert ticker.tick(clock.now()).created == []


def test_a_failed_upstream_run_starts_nothing(runtime: Runtime, clock: FakeClock) -> None:
    @pipeline
    def upstream() -> None:
        fails()

    @pipeline(schedule=after("upstream"))
    def downstream() -> None:
        read()

    runtime.run(upstream, logical_date=datetime(2026, 1, 7, tzinfo=UTC))
    assert scheduler(runtime, clock, downstream).tick(clock.now()).created == []


def test_an_upstream_success_for_a_date_that_already_ran_is_consumed(
    runtime: Runtime, clock: FakeClock
) -> None:
    @pipeline
    def upstream() -> None:
        read()

    @pipeline(schedule=after("upstream"))
    def downstream() -> None:
        read()

    day = datetime(2026, 1, 7, tzinfo=UTC)
    runtime.run(downstream, logical_date=day)  # run by hand first
    runtime.run(upstream, logical_date=day)
    ticker = scheduler(runtime, clock, downstream)
    assert ticker.tick(clock.now()).created == []
    assert len(runtime.store.list_runs("downstream")) == 1
