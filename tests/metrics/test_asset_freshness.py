"""``headwater_data_freshness_seconds{asset=...}``: read from the store at scrape time, for
assets really materialized on a FakeClock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.samples import Sample

from headwater.asset_status import NewestByAsset, data_end
from headwater.assets.jobs import materialize_pipeline
from headwater.assets.partitions import DailyPartitions, MultiPartitions, StaticPartitions
from headwater.config import Settings
from headwater.metrics.exposition import metrics_registry, render
from headwater.runtime import Runtime
from headwater.store.sql.asset_reads import NewestData
from headwater.store.sql.schema import asset_materializations
from headwater.store.sql.store import SqlStore
from headwater.testing import FakeClock
from tests.metrics.conftest import BOUNDED_LABELS, label_sets, parse, value
from tests.server.asset_seed import NOW, drive, seed, write_folder

FRESHNESS = "headwater_data_freshness_seconds"


def scrape(store: SqlStore, clock: FakeClock) -> dict[str, list[Sample]]:
    registry = metrics_registry(store=store, clock=clock, process=False)
    return parse(render(registry).decode())


def materialized(store: SqlStore, row_id: int, key: str, at: datetime) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            asset_materializations.insert().values(
                id=row_id,
                asset_key=key,
                partition_key="",
                status="materialized",
                run_id="r",
                task_id=key,
                try_number=1,
                created_at=at,
                metadata="{}",
            )
        )


def test_each_asset_is_as_fresh_as_its_newest_data(tmp_path: Path) -> None:
    settings = Settings.for_home(tmp_path / "home")
    clock = FakeClock(NOW)
    registry = seed(settings, write_folder(tmp_path), clock)  # the clock ends at 06:05
    # an old partition written an hour later does not make the asset any fresher
    clock.advance(timedelta(hours=1))
    runtime = Runtime(settings, clock=clock)
    graph = registry.catalog.graph
    raw = materialize_pipeline(graph, [("orders_raw",)], source_file=str(registry.folder))
    drive(runtime, raw, "2025-06-01")
    runtime.close()
    store = SqlStore.from_settings(settings)
    metrics = metrics_registry(store=store, clock=clock, process=False)
    families = parse(render(metrics).decode())
    again = parse(render(metrics).decode())  # definitions and newest data kept from the first
    store.close()
    assert again == families
    since_midnight = 7 * 3600 + 300.0  # the end of 2026-01-04's window, at 07:05
    assert value(families, FRESHNESS, asset="orders_raw") == since_midnight
    assert value(families, FRESHNESS, asset="orders_cleaned") == since_midnight
    assert value(families, FRESHNESS, asset="finance/summary") == 3600 + 300.0  # written 06:00
    assert value(families, FRESHNESS, asset="regions") == math.inf  # never materialized
    for labels in label_sets(families):
        assert set(labels) <= BOUNDED_LABELS


@pytest.mark.postgres
def test_the_newest_data_is_read_again_only_since_the_last_scrape(store: SqlStore) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    now = clock.now()
    newest = NewestByAsset()
    materialized(store, 10, "a", now - timedelta(minutes=30))
    materialized(store, 20, "b", now - timedelta(minutes=1))
    with store.engine.connect() as connection:
        assert sorted(newest.read(connection, now)) == ["a", "b"]
    # a row of a lower id committed after row 20 was read (PostgreSQL hands ids out
    # before the commit): found, since rows of the last minutes are read again
    materialized(store, 15, "c", now - timedelta(minutes=1))
    with store.engine.connect() as connection:
        assert sorted(newest.read(connection, now)) == ["a", "b", "c"]
    # newer data of a known asset replaces what was kept
    clock.advance(timedelta(minutes=20))
    materialized(store, 30, "a", clock.now())
    with store.engine.connect() as connection:
        assert newest.read(connection, clock.now())["a"].materialized_at == clock.now()
    # a row older than the window, committed that late, waits for the hourly full read
    materialized(store, 5, "d", now - timedelta(hours=2))
    with store.engine.connect() as connection:
        assert "d" not in newest.read(connection, clock.now())
        clock.advance(timedelta(hours=1))
        found = newest.read(connection, clock.now())
    assert sorted(found) == ["a", "b", "c", "d"]
    assert found["a"].materialized_at == now + timedelta(minutes=20)


def test_the_newest_window_of_a_time_dimension_among_others() -> None:
    partitions = MultiPartitions(
        {"region": StaticPartitions(["eu", "us"]), "day": DailyPartitions(start="2026-01-01")}
    )
    newest = NewestData(
        asset_key="sales",
        materialized_at=datetime(2026, 1, 9, tzinfo=UTC),
        greatest_partition="us|2026-01-01",  # greatest in text order, not the newest
    )
    keys = ["eu|2026-01-03", "us|2026-01-01", "eu|2026-01-02"]
    assert data_end(newest, partitions, keys) == datetime(2026, 1, 4, tzinfo=UTC)
    assert data_end(newest, None) == datetime(2026, 1, 9, tzinfo=UTC)
