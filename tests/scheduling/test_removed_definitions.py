"""A pipeline or an asset taken out of the code is marked removed by the loader that reads
the folder, and only then: a file that fails to import, or breaks the asset graph, removes
nothing. A removed pipeline is not listed, gauged nor watched; defined again, it is back.
Processes recording the same definitions at once all succeed."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from headwater.alerts.watchers import watch_all
from headwater.assets.definition import Asset
from headwater.assets.graph import AssetGraph
from headwater.config import Settings
from headwater.engine.assets import asset_records
from headwater.metrics.collector import StoreCollector
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.service import RegistryLoader
from headwater.store.sql import asset_reads
from headwater.store.sql import assets as asset_queries
from headwater.store.sql.schema import assets as assets_table
from headwater.store.sql.store import SqlStore
from headwater.testing import FakeClock
from tests.conftest import copy_migrated
from tests.scheduling.test_registry import write
from tests.ui.live import serve

pytestmark = pytest.mark.postgres

ASSETS = """\
from datetime import timedelta
from headwater import asset
{body}
"""


PIPELINES = """\
from datetime import timedelta
from headwater import pipeline, task

@task
def step() -> None:
    pass
{body}
"""


def pipelines_of(*names: str) -> str:
    return PIPELINES.format(
        body="".join(
            f"\n@pipeline(schedule='@hourly', start='2026-01-01', deadline=timedelta(minutes=5),"
            f" freshness=timedelta(hours=1))\ndef {name}() -> None:\n    step()\n"
            for name in names
        )
    )


def assets_of(*names: str) -> str:
    return ASSETS.format(
        body="".join(
            f"\n@asset(freshness=timedelta(hours=1))\ndef {name}() -> int:\n    return 1\n"
            for name in names
        )
    )


def defined(store: SqlStore) -> list[str]:
    with store.engine.connect() as connection:
        return [record.asset_key for record in asset_queries.list_assets(connection)]


def removed_at(store: SqlStore, key: str) -> object:
    with store.engine.connect() as connection:
        record = asset_queries.get_asset(connection, key)
    assert record is not None
    return record.removed_at


def loader_of(folder: Path, store: SqlStore, clock: FakeClock) -> RegistryLoader:
    loader = RegistryLoader(PipelineRegistry(folder), 60, store, clock)
    loader.refresh()
    return loader


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    found = tmp_path / "pipelines"
    found.mkdir()
    write(found / "sales.py", assets_of("orders", "refunds"))
    write(found / "finance.py", assets_of("ledger"))
    write(found / "jobs.py", pipelines_of("hourly_orders", "hourly_refunds"))
    return found


def pipeline_ids(store: SqlStore) -> list[str]:
    return [record.pipeline_id for record in store.list_pipelines()]


def test_an_asset_taken_out_of_its_file_is_removed_and_defined_again_when_back(
    folder: Path, store: SqlStore
) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    loader = loader_of(folder, store, clock)
    assert defined(store) == ["ledger", "orders", "refunds"]

    # When refunds is taken out of sales.py
    clock.advance(60)
    write(folder / "sales.py", assets_of("orders"), bump=1)
    loader.refresh()

    # Then it is removed (kept, with its history, but not listed), the others stay
    assert defined(store) == ["ledger", "orders"]
    assert removed_at(store, "refunds") == clock.now()
    with store.engine.connect() as connection:
        assert asset_reads.removed_keys(connection) == {"refunds"}
        assert asset_reads.asset_count(connection) == 2
        assert [r.asset_key for r in asset_reads.assets_page(connection, limit=10)] == [
            "ledger",
            "orders",
        ]

    # And put back, it is defined again
    write(folder / "sales.py", assets_of("orders", "refunds"), bump=2)
    loader.refresh()
    assert defined(store) == ["ledger", "orders", "refunds"]
    assert removed_at(store, "refunds") is None


def test_a_deleted_file_removes_its_assets(folder: Path, store: SqlStore) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    loader = loader_of(folder, store, clock)
    (folder / "finance.py").unlink()
    loader.refresh()
    assert defined(store) == ["orders", "refunds"]
    assert removed_at(store, "ledger") == clock.now()


def test_a_missing_folder_removes_nothing(folder: Path, store: SqlStore) -> None:
    # a folder unmounted, or being replaced by a deployment, is not code without definitions
    loader = loader_of(folder, store, FakeClock("2026-01-05T06:00:00+00:00"))
    folder.rename(folder.with_name("elsewhere"))
    loader.refresh()
    assert loader.registry.pipelines == {}
    assert defined(store) == ["ledger", "orders", "refunds"]
    assert pipeline_ids(store) == ["hourly_orders", "hourly_refunds"]


def test_a_file_that_fails_to_import_or_breaks_the_graph_removes_nothing(
    folder: Path, store: SqlStore
) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    loader_of(folder, store, clock)
    # When a new process starts while sales.py fails to import and finance.py defines a
    # key another file defines too (the graph leaves finance.py out)
    write(folder / "sales.py", "raise RuntimeError('broken on purpose')\n", bump=1)
    write(folder / "other.py", assets_of("ledger"), bump=1)
    restarted = loader_of(folder, store, clock)
    assert sorted(restarted.registry.errors) == [(folder / "sales.py").resolve()]
    assert restarted.registry.catalog.errors  # a duplicate key: one file left out

    # Then nothing is removed: a broken file is not an empty one
    assert defined(store) == ["ledger", "orders", "refunds"]


def test_another_folders_assets_are_left_alone(
    folder: Path, tmp_path: Path, store: SqlStore
) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    loader_of(folder, store, clock)
    elsewhere = tmp_path / "other-team"
    elsewhere.mkdir()
    write(elsewhere / "team.py", assets_of("events"))
    loader_of(elsewhere, store, clock)
    assert defined(store) == ["events", "ledger", "orders", "refunds"]


def test_a_pipeline_taken_out_of_its_file_is_removed_and_no_longer_watched(
    folder: Path, store: SqlStore
) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    loader = loader_of(folder, store, clock)
    assert pipeline_ids(store) == ["hourly_orders", "hourly_refunds"]

    # When hourly_refunds is taken out of jobs.py
    write(folder / "jobs.py", pipelines_of("hourly_orders"), bump=1)
    loader.refresh()

    # Then it is removed: kept (with its runs), but neither listed, gauged nor watched
    assert pipeline_ids(store) == ["hourly_orders"]
    assert store.get_pipeline("hourly_refunds").removed_at == clock.now()
    assert [r.pipeline_id for r in store.list_pipelines(removed=True)] == [
        "hourly_orders",
        "hourly_refunds",
    ]
    clock.advance(timedelta(days=1))  # both far past their deadline and freshness
    opened = watch_all(store, {}, clock.now(), scheduler_down_after=timedelta(days=9))
    assert opened
    assert all("hourly_refunds" not in key for key in opened)
    assert any("hourly_orders" in key for key in opened)
    gauges = {
        (family.name, sample.labels.get("pipeline"))
        for family in StoreCollector(store, clock).collect()
        for sample in family.samples
    }
    assert ("headwater_pipeline_paused", "hourly_orders") in gauges
    assert ("headwater_pipeline_paused", "hourly_refunds") not in gauges

    # And put back, it is defined again
    write(folder / "jobs.py", pipelines_of("hourly_orders", "hourly_refunds"), bump=2)
    loader.refresh()
    assert pipeline_ids(store) == ["hourly_orders", "hourly_refunds"]
    assert store.get_pipeline("hourly_refunds").removed_at is None


def test_a_pipeline_of_a_file_that_fails_to_import_is_kept(folder: Path, store: SqlStore) -> None:
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    loader = loader_of(folder, store, clock)
    write(folder / "jobs.py", "raise RuntimeError('broken on purpose')\n", bump=1)
    loader.refresh()
    assert "hourly_orders" not in loader.registry.pipelines  # no new runs while it fails
    assert pipeline_ids(store) == ["hourly_orders", "hourly_refunds"]
    (folder / "jobs.py").unlink()
    loader.refresh()
    assert pipeline_ids(store) == []


def test_the_server_lists_a_removed_pipeline_no_more_and_says_when_it_was_removed(
    folder: Path, tmp_path: Path, migrated_sqlite: bytes
) -> None:
    settings = Settings.for_home(copy_migrated(tmp_path / "home", migrated_sqlite))
    store = SqlStore.from_settings(settings)
    try:
        clock = FakeClock("2026-01-05T06:00:00+00:00")
        loader = loader_of(folder, store, clock)
        write(folder / "jobs.py", pipelines_of("hourly_orders"), bump=1)
        loader.refresh()
    finally:
        store.close()
    with serve(settings, None) as live, live.client("vera") as client:
        listed = client.get("/api/v1/pipelines").json()
        shown = client.get("/api/v1/pipelines/hourly_refunds").json()
        page = client.get("/").text
        removed_page = client.get("/pipelines/hourly_refunds").text
    assert [item["pipeline_id"] for item in listed["items"]] == ["hourly_orders"]
    assert shown["removed_at"] == "2026-01-05T06:00:00+00:00"
    assert 'data-pipeline="hourly_orders"' in page
    assert 'data-pipeline="hourly_refunds"' not in page
    assert "Removed from the code on" in removed_page


def test_processes_recording_the_same_new_assets_at_once_all_succeed(store: SqlStore) -> None:
    # a scheduler and a server starting at once on one folder: both find the assets new
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    graph = AssetGraph([Asset(lambda: 1, key=f"k{i}") for i in range(50)])
    records = asset_records(graph, clock.now())
    for round_ in range(5):
        start = threading.Barrier(3)
        errors: list[BaseException] = []

        def record(start: threading.Barrier = start, errors: list[BaseException] = errors) -> None:
            start.wait()
            try:
                store.upsert_assets(records)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=record) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"round {round_}"
        assert len(defined(store)) == 50
        with store.engine.begin() as connection:  # new again for the next round
            connection.execute(assets_table.delete())
