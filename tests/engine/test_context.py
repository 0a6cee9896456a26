"""Context: what a running task is told about its run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from headwater import Context, pipeline, task
from headwater.runtime import Runtime
from headwater.testing import FakeClock, run_pipeline_test


@task
def upstream_ok() -> int:
    return 1


@task
def upstream_bad() -> int:
    raise RuntimeError("bad")


@task(trigger_rule="all_done", retries=1, retry_delay=0)
def describe(value: int | None, ctx: Context) -> dict[str, Any]:
    if ctx.try_number == 1:
        raise RuntimeError("first try fails, to show try_number")
    ctx.log.info("described %s", ctx.task_id)
    return {
        "run_id": ctx.run_id,
        "pipeline_id": ctx.pipeline_id,
        "task_id": ctx.task_id,
        "map_index": ctx.map_index,
        "try_number": ctx.try_number,
        "logical_date": ctx.logical_date.isoformat(),
        "data_interval_start": ctx.data_interval_start.isoformat(),
        "data_interval_end": ctx.data_interval_end.isoformat(),
        "ds": ctx.ds,
        "ds_nodash": ctx.ds_nodash,
        "params": dict(ctx.params),
        "upstream_states": dict(ctx.upstream_states),
        "value": value,
    }


@pipeline(schedule="@daily", params={"region": "eu", "limit": 10})
def daily() -> None:
    bad = upstream_bad()
    describe(upstream_ok()) << bad


def test_context_describes_the_run_the_interval_and_the_upstream(migrated_home: Path) -> None:
    run = run_pipeline_test(
        daily, date="2026-01-05", params={"limit": 5}, clock=FakeClock(), home=migrated_home
    )

    assert run.result("describe") == {
        "run_id": run.run_id,
        "pipeline_id": "daily",
        "task_id": "describe",
        "map_index": -1,
        "try_number": 2,
        "logical_date": "2026-01-05T00:00:00+00:00",
        "data_interval_start": "2026-01-05T00:00:00+00:00",
        "data_interval_end": "2026-01-06T00:00:00+00:00",
        "ds": "2026-01-05",
        "ds_nodash": "20260105",
        "params": {"region": "eu", "limit": 5},
        "upstream_states": {"upstream_ok": "success", "upstream_bad": "failed"},
        "value": 1,
    }


def test_the_run_record_keeps_the_interval_and_params(runtime: Runtime) -> None:
    run = runtime.run(daily, logical_date=datetime(2026, 1, 5, tzinfo=UTC), params={"region": "us"})

    assert run.logical_date == datetime(2026, 1, 5, tzinfo=UTC)
    assert run.data_interval_start == datetime(2026, 1, 5, tzinfo=UTC)
    assert run.data_interval_end == datetime(2026, 1, 6, tzinfo=UTC)
    assert run.params == {"region": "us", "limit": 10}


def test_an_hourly_interval_lasts_an_hour(migrated_home: Path) -> None:
    @task
    def interval(ctx: Context) -> float:
        return (ctx.data_interval_end - ctx.data_interval_start).total_seconds()

    @pipeline(schedule=timedelta(hours=1))
    def hourly() -> None:
        interval()

    run = run_pipeline_test(
        hourly, date="2026-01-05T03:00:00+00:00", clock=FakeClock(), home=migrated_home
    )

    assert run.result("interval") == 3600.0
    assert run.logical_date == datetime(2026, 1, 5, 3, tzinfo=UTC)


def test_without_a_date_a_run_covers_one_period_ending_now(migrated_home: Path) -> None:
    clock = FakeClock("2026-03-10T12:30:00+00:00")

    run = run_pipeline_test(daily, clock=clock, home=migrated_home)

    assert run.data_interval_end == clock.now()
    assert run.data_interval_start == clock.now() - timedelta(days=1)


def test_the_context_logger_writes_to_the_try_log(tmp_path: Path, migrated_home: Path) -> None:
    run = run_pipeline_test(daily, date="2026-01-05", clock=FakeClock(), home=migrated_home)

    log = tmp_path / "logs" / "daily" / run.run_id / "describe" / "try-2.log"
    assert "INFO described describe" in log.read_text()
    first = (tmp_path / "logs" / "daily" / run.run_id / "describe" / "try-1.log").read_text()
    assert "RuntimeError: first try fails, to show try_number" in first


def test_a_task_may_name_its_context_parameter_freely(migrated_home: Path) -> None:
    @task
    def named(context: Context, n: int) -> str:
        return f"{context.task_id}:{n}"

    @pipeline
    def free_name() -> None:
        named(n=4)

    run = run_pipeline_test(free_name, clock=FakeClock(), home=migrated_home)

    assert run.result("named") == "named:4"


def test_ds_keeps_the_zeros_of_early_years() -> None:
    ctx = Context(
        run_id="r",
        pipeline_id="p",
        task_id="t",
        map_index=-1,
        try_number=1,
        logical_date=datetime(1, 2, 3, tzinfo=UTC),
        data_interval_start=datetime(1, 2, 3, tzinfo=UTC),
        data_interval_end=datetime(1, 2, 4, tzinfo=UTC),
        params={},
        log=logging.getLogger("test"),
        upstream_states={},
    )
    assert (ctx.ds, ctx.ds_nodash) == ("0001-02-03", "00010203")
