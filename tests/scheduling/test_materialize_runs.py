"""Runs of ``materialize.*`` pipelines, which no file defines, are found again by a
scheduler: rebuilt from the asset keys recorded with the pipeline and the folder's asset
graph. And a loaded folder's assets are recorded in the store."""

from __future__ import annotations

import textwrap
from pathlib import Path

from headwater.assets.jobs import materialize_pipeline
from headwater.config import Settings
from headwater.engine.runs import create_run
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.scheduler import Scheduler
from headwater.scheduling.service import RegistryLoader
from headwater.store.sql import assets as asset_queries
from headwater.store.sql.store import SqlStore
from headwater.testing import FakeClock

ASSETS = """
from headwater import DailyPartitions, asset

@asset(partitions=DailyPartitions(start="2026-01-01"), group="sales")
def orders(ctx) -> int:
    return 1

@asset(partitions=DailyPartitions(start="2026-01-01"), group="sales")
def totals(orders: int) -> int:
    return orders
"""


def folder_with_assets(tmp_path: Path) -> PipelineRegistry:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "sales.py").write_text(textwrap.dedent(ASSETS))
    registry = PipelineRegistry(folder)
    registry.refresh()
    return registry


def test_a_queued_materialize_run_is_claimed_with_its_pipeline_made_again(
    tmp_path: Path,
) -> None:
    registry = folder_with_assets(tmp_path)
    store = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    # Given a run queued by the server for a pipeline of two assets that no file defines
    made = materialize_pipeline(
        registry.catalog.graph,
        [("orders",), ("totals",)],
        source_file=str(registry.folder.resolve()),
    )
    run = create_run(store, made, clock=clock, partition_key="2026-01-02")
    blind = Scheduler(store, lambda: registry.pipelines, clock=clock, owner="blind")
    seeing = Scheduler(
        store,
        lambda: registry.pipelines,
        clock=clock,
        owner="seeing",
        resolve=lambda pipeline_id: registry.resolve(pipeline_id, store),
    )
    # When schedulers tick: one without the resolver, then one with it
    assert blind.tick(clock.now()).claimed == []
    ((pipeline, claimed),) = seeing.tick(clock.now()).claimed
    # Then the second claims it, with the pipeline made again from the recorded keys
    assert claimed.run_id == run.run_id
    assert pipeline.pipeline_id == made.pipeline_id
    assert [node.task_id for node in pipeline.plan.nodes] == ["orders", "totals"]
    assert registry.resolve(made.pipeline_id, store) is pipeline  # kept while unchanged
    store.close()


def test_a_materialize_pipeline_of_assets_the_folder_lost_is_not_made(tmp_path: Path) -> None:
    registry = folder_with_assets(tmp_path)
    store = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    clock = FakeClock("2026-01-05T06:00:00+00:00")
    (tmp_path / "elsewhere").mkdir()
    other = PipelineRegistry(tmp_path / "elsewhere")  # a folder without these assets
    other.refresh()
    made = materialize_pipeline(
        registry.catalog.graph, [("totals",)], source_file=str(registry.folder)
    )
    create_run(store, made, clock=clock, partition_key="2026-01-02")
    assert other.resolve(made.pipeline_id, store) is None
    assert registry.resolve("materialize.unknown", store) is None
    assert registry.resolve("not_materialize", store) is None
    store.close()


def test_the_loader_records_the_folders_assets(tmp_path: Path) -> None:
    registry = folder_with_assets(tmp_path)
    store = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    loader = RegistryLoader(registry, 60, store, FakeClock("2026-01-05T06:00:00+00:00"))
    loader.start()
    loader.stop()
    with store.asset_connection() as connection:
        recorded = asset_queries.list_assets(connection)
    assert [(a.asset_key, a.group_name) for a in recorded] == [
        ("orders", "sales"),
        ("totals", "sales"),
    ]
    assert recorded[1].definition["upstream"] == ["orders"]
    store.close()
