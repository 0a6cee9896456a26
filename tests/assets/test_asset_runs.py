"""Asset pipelines run by the engine: values through IO managers, materializations and
checks recorded with the try's success, blocking checks that stop what reads the data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headwater import Context, DailyPartitions, asset, asset_check, not_empty
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import materialize_pipeline
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval
from headwater.store.sql import assets as queries
from headwater.testing import FakeClock

DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")


@asset(checks=[not_empty()])
def numbers(ctx: Context) -> list[int]:
    return [int(ctx.params.get("n", 3)) * i for i in range(1, 4)]


@asset(retries=2)
def total(numbers: list[int]) -> dict[str, int]:
    return {"total": sum(numbers)}


@asset_check(asset="numbers", blocking=True)
def all_positive(numbers: list[int]) -> tuple[bool, str]:
    return all(n > 0 for n in numbers), f"smallest is {min(numbers)}"


@asset(partitions=DAILY)
def daily_events(ctx: Context) -> list[dict[str, str]]:
    assert ctx.partition_window is not None
    return [{"day": ctx.partition_key or "", "start": ctx.partition_window[0].isoformat()}]


@asset(partitions=DAILY)
def daily_counts(daily_events: list[dict[str, str]]) -> int:
    return len(daily_events)


GRAPH = AssetGraph([numbers, total, daily_events, daily_counts], [all_positive])


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=FakeClock("2026-01-05T06:00:00+00:00"))
    yield runtime
    runtime.close()


def materialize(runtime: Runtime, keys: list[tuple[str, ...]], executor: str = "thread", **run):
    pipeline = materialize_pipeline(GRAPH, keys, source_file=__file__)
    record = runtime.create_run(pipeline, **run)
    return runtime.engine(pipeline, executor=executor).drive(record.run_id)


def stored(runtime: Runtime, key: str) -> list:
    with runtime.store.asset_connection() as connection:
        return queries.materializations(connection, key)


@pytest.mark.postgres
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_chain_of_assets_writes_values_and_records_materializations(
    runtime: Runtime, executor: str
) -> None:
    run = materialize(runtime, [("numbers",), ("total",)], executor)
    assert run.state == "success"
    (made,) = stored(runtime, "total")
    assert made.status == "materialized"
    assert made.run_id == run.run_id
    path = Path(made.metadata["path"])
    assert json.loads(path.read_text()) == {"total": 18}  # loaded numbers through its IO manager
    (first,) = stored(runtime, "numbers")
    assert first.metadata["row_count"] == 3
    with runtime.store.asset_connection() as connection:
        checks = queries.check_results(connection, "numbers")
    assert {(c.check_name, c.passed) for c in checks} == {
        ("not_empty", True),
        ("all_positive", True),
    }


@pytest.mark.postgres
def test_a_blocking_check_that_fails_writes_nothing_and_stops_what_reads_it(
    runtime: Runtime,
) -> None:
    good = materialize(runtime, [("numbers",), ("total",)])
    assert good.state == "success"
    before = Path(stored(runtime, "numbers")[0].metadata["path"]).read_text()
    bad = materialize(
        runtime,
        [("numbers",), ("total",)],
        params={"n": -1},
        logical_date=datetime(2026, 1, 4, tzinfo=UTC),
    )
    assert bad.state == "failed"
    states = {t.task_id: t.state for t in runtime.store.get_task_instances(bad.run_id)}
    assert states == {"numbers": "failed", "total": "upstream_failed"}
    tries = runtime.store.get_tries(bad.run_id, "numbers")
    assert len(tries) == 1  # a refused value is not retried
    assert "all_positive" in (tries[0].error or "")
    assert "smallest is -3" in (tries[0].error or "")
    refused = stored(runtime, "numbers")[0]
    assert refused.status == "failed"
    assert refused.run_id == bad.run_id
    # what readers see is still the last good value
    assert Path(stored(runtime, "numbers")[1].metadata["path"]).read_text() == before


@pytest.mark.postgres
def test_a_partition_is_written_once_however_often_it_is_materialized(runtime: Runtime) -> None:
    window = DAILY.time_window("2026-01-02")
    assert window == (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
    interval = DataInterval(start=window[0], end=window[1])
    keys = [("daily_events",), ("daily_counts",)]
    first = materialize(runtime, keys, interval=interval, partition_key="2026-01-02")
    again = materialize(runtime, keys, interval=interval, partition_key="2026-01-02", replace=True)
    assert first.state == again.state == "success"
    assert first.run_id == again.run_id  # the same partition's run, reset
    made = stored(runtime, "daily_events")
    assert [m.partition_key for m in made] == ["2026-01-02", "2026-01-02"]
    path = Path(made[0].metadata["path"])
    assert path.name.startswith("2026-01-02")
    assert json.loads(path.read_text()) == [
        {"day": "2026-01-02", "start": "2026-01-02T00:00:00+00:00"}
    ]
    assert len(list(path.parent.iterdir())) == 1
