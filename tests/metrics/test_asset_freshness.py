"""``headwater_data_freshness_seconds{asset=...}``: read from the store at scrape time, for
assets really materialized on a FakeClock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.samples import Sample

from headwater.asset_status import data_end
from headwater.assets.jobs import materialize_pipeline
from headwater.assets.partitions import DailyPartitions, MultiPartitions, StaticPartitions
from headwater.config import Settings
from headwater.metrics.exposition import metrics_registry, render
from headwater.runtime import Runtime
from headwater.store.sql.asset_reads import NewestData
from headwater.store.sql.store import SqlStore
from headwater.testing import FakeClock
from tests.metrics.conftest import BOUNDED_LABELS, label_sets, parse, value
from tests.server.asset_seed import NOW, drive, seed, write_folder

FRESHNESS = "headwater_data_freshness_seconds"


def scrape(store: SqlStore, clock: FakeClock) -> dict[str, list[Sample]]:
    registry = metrics_registry(store=store, clock=clock, process=False)
    return parse(render(registry).decode())


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
    families = scrape(store, clock)
    again = scrape(store, clock)  # the definitions kept from the first scrape
    store.close()
    assert again == families
    since_midnight = 7 * 3600 + 300.0  # the end of 2026-01-04's window, at 07:05
    assert value(families, FRESHNESS, asset="orders_raw") == since_midnight
    assert value(families, FRESHNESS, asset="orders_cleaned") == since_midnight
    assert value(families, FRESHNESS, asset="finance/summary") == 3600 + 300.0  # written 06:00
    assert value(families, FRESHNESS, asset="regions") == math.inf  # never materialized
    for labels in label_sets(families):
        assert set(labels) <= BOUNDED_LABELS


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
