"""Partitioned assets in runs: windows of upstream partitions, dynamic partitions added at
run time, two-dimensional partitions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from headwater import (
    Context,
    DailyPartitions,
    DynamicPartitions,
    MultiPartitions,
    StaticPartitions,
    asset,
    last,
)
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import materialize_pipeline
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval
from headwater.store.sql import assets as queries
from headwater.testing import FakeClock

DAILY = DailyPartitions(start="2026-01-01")
FILES = DynamicPartitions("files")
REGIONS = MultiPartitions({"date": DAILY, "region": StaticPartitions(["eu", "us"])})


@asset(partitions=DAILY)
def visits(ctx: Context) -> list[dict[str, str]]:
    return [{"day": ctx.partition_key or ""}]


@asset(partitions=DAILY, partition_mappings={"visits": last(3)})
def visits_3d(visits: list[dict[str, str]]) -> list[str]:
    return [row["day"] for row in visits]


@asset
def inbox(ctx: Context) -> list[str]:
    ctx.add_partitions("files", ["a.csv", "b.csv"])
    return ["a.csv", "b.csv"]


@asset(partitions=FILES)
def parsed(ctx: Context) -> str:
    return f"parsed {ctx.partition_key}"


@asset(partitions=REGIONS)
def sales(ctx: Context) -> dict[str, object]:
    assert ctx.partition_window is not None
    return {"key": ctx.partition_key, "start": ctx.partition_window[0].isoformat()}


GRAPH = AssetGraph([visits, visits_3d, inbox, parsed, sales])


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=FakeClock("2026-01-10T06:00:00+00:00"))
    yield runtime
    runtime.close()


def run_partition(runtime: Runtime, keys: list[tuple[str, ...]], partition: str, **options):
    pipeline = materialize_pipeline(GRAPH, keys, source_file=__file__)
    record = runtime.create_run(pipeline, partition_key=partition, **options)
    return runtime.engine(pipeline).drive(record.run_id)


def daily(runtime: Runtime, keys: list[tuple[str, ...]], day: str):
    start, end = DAILY.time_window(day)
    return run_partition(runtime, keys, day, interval=DataInterval(start=start, end=end))


def stored(runtime: Runtime, key: str) -> list:
    with runtime.store.asset_connection() as connection:
        return queries.materializations(connection, key)


@pytest.mark.postgres
def test_a_window_mapping_loads_the_last_partitions_of_the_upstream(runtime: Runtime) -> None:
    for day in ("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"):
        assert daily(runtime, [("visits",)], day).state == "success"
    assert daily(runtime, [("visits_3d",)], "2026-01-04").state == "success"
    (made,) = stored(runtime, "visits_3d")
    assert made.partition_key == "2026-01-04"
    assert made.metadata["row_count"] == 3  # 02, 03 and 04: three partitions read as one list


@pytest.mark.postgres
def test_partitions_added_at_run_time_can_be_materialized(runtime: Runtime) -> None:
    pipeline = materialize_pipeline(GRAPH, [("inbox",)], source_file=__file__)
    record = runtime.create_run(pipeline)
    assert runtime.engine(pipeline).drive(record.run_id).state == "success"
    assert runtime.store.dynamic_keys(["files"]) == {"files": ("a.csv", "b.csv")}
    assert FILES.keys(dynamic=runtime.store.dynamic_keys(["files"])) == ["a.csv", "b.csv"]
    moment = datetime(2026, 1, 10, 7, tzinfo=UTC)
    for offset, key in enumerate(("a.csv", "b.csv")):
        at = moment.replace(microsecond=offset)
        run = run_partition(runtime, [("parsed",)], key, interval=DataInterval(start=at, end=at))
        assert run.state == "success"
    assert sorted(m.partition_key for m in stored(runtime, "parsed")) == ["a.csv", "b.csv"]


@pytest.mark.postgres
def test_each_region_of_a_day_is_its_own_partition(runtime: Runtime) -> None:
    for offset, region in enumerate(("eu", "us")):
        at = datetime(2026, 1, 10, 7, tzinfo=UTC).replace(microsecond=offset)
        run = run_partition(
            runtime,
            [("sales",)],
            f"2026-01-02|{region}",
            interval=DataInterval(start=at, end=at),
        )
        assert run.state == "success"
    made = {m.partition_key: m for m in stored(runtime, "sales")}
    assert set(made) == {"2026-01-02|eu", "2026-01-02|us"}
