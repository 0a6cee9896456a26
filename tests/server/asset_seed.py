"""A pipelines folder of assets, and a store seeded by materializing them for real.

Shared by the REST API tests of assets and the web UI tests of the assets pages.
``orders_raw`` and ``orders_cleaned`` are daily from 2016 (3,657 partitions on
2026-01-05), ``finance/summary`` is unpartitioned and ``regions`` has static partitions.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from headwater.accounts import create_token
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.config import Settings
from headwater.engine.assets import asset_records
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval
from headwater.scheduling.registry import PipelineRegistry
from headwater.testing import FakeClock
from tests.ui.live import USERS, LiveServer, serve

NOW = "2026-01-05T06:00:00+00:00"
DAYS = ("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04")
EMPTY_DAY = "2026-01-03"  # orders_raw has no rows that day: not_empty refuses orders_cleaned
PARTITIONS = 3657  # 2016-01-01 to 2026-01-04

SOURCE = f'''
from datetime import timedelta

from headwater import Context, DailyPartitions, StaticPartitions, asset, asset_check, not_empty

DAILY = DailyPartitions(start="2016-01-01", timezone="UTC")


@asset(partitions=DAILY, group="sales", freshness=timedelta(hours=26))
def orders_raw(ctx: Context) -> list[dict]:
    """Orders as the shop exports them."""
    if ctx.partition_key == "{EMPTY_DAY}":
        return []
    return [{{"day": ctx.partition_key, "amount": 5}}, {{"day": ctx.partition_key, "amount": -1}}]


@asset(partitions=DAILY, group="sales", checks=[not_empty()])
def orders_cleaned(orders_raw: list[dict]) -> list[dict]:
    """Orders with a positive amount."""
    return [row for row in orders_raw if row["amount"] > 0]


@asset_check(asset="orders_cleaned", blocking=False)
def amounts_positive(orders_cleaned) -> bool:
    return all(row["amount"] > 0 for row in orders_cleaned)


@asset(group="reports", key_prefix="finance", deps=["orders_cleaned"], freshness=timedelta(hours=1))
def summary() -> dict:
    """The totals the finance team reads."""
    return {{"ok": True}}


@asset(group="reports", partitions=StaticPartitions(["eu", "us"]))
def regions(ctx: Context) -> list[str]:
    return [ctx.partition_key or ""]
'''


def write_folder(root: Path) -> Path:
    folder = root / "asset_pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sales.py").write_text(textwrap.dedent(SOURCE))
    return folder


def seed(settings: Settings, folder: Path, clock: FakeClock) -> PipelineRegistry:
    """Record the folder's assets and materialize them: orders for ``DAYS`` (the empty
    day refused by not_empty), the summary once, and orders_raw's last day again five
    minutes later, so that orders_cleaned's last day is stale."""
    registry = PipelineRegistry(folder)
    registry.refresh()
    graph = registry.catalog.graph
    source = str(folder.resolve())
    runtime = Runtime(settings, clock=clock)
    try:
        runtime.store.upsert_assets(asset_records(graph, clock.now()))
        daily = materialize_pipeline(
            graph, [("orders_raw",), ("orders_cleaned",)], source_file=source
        )
        for day in DAYS:
            drive(runtime, daily, day)
        drive(runtime, materialize_pipeline(graph, [("finance", "summary")], source_file=source))
        clock.advance(timedelta(minutes=5))
        drive(runtime, materialize_pipeline(graph, [("orders_raw",)], source_file=source), DAYS[-1])
    finally:
        runtime.close()
    return registry


def drive(runtime: Runtime, pipeline: AssetPipeline, day: str | None = None) -> None:
    """Run ``pipeline`` for the partition ``day`` (of time) to its end, as the CLI does."""
    window = (
        None if day is None or pipeline.partitions is None else pipeline.partitions.time_window(day)
    )
    interval = None if window is None else DataInterval(start=window[0], end=window[1])
    record = runtime.create_run(pipeline, interval=interval, partition_key=day, replace=True)
    runtime.engine(pipeline).drive(record.run_id)


@dataclass
class AssetApi:
    """A live server over the seeded store, with a bearer token per user."""

    live: LiveServer
    clock: FakeClock
    registry: PipelineRegistry
    folder: Path
    tokens: dict[str, str]

    def client(self, user: str | None) -> httpx.Client:
        headers = {} if user is None else {"Authorization": f"Bearer {self.tokens[user]}"}
        return httpx.Client(base_url=self.live.url, headers=headers, timeout=30)


@contextmanager
def asset_server(settings: Settings, root: Path, *, loaded: bool = True) -> Iterator[AssetApi]:
    """Seed a store in ``root`` and serve it on a FakeClock at ``NOW`` (plus five
    minutes); ``loaded`` False: the server is started without the pipelines folder."""
    clock = FakeClock(NOW)
    folder = write_folder(root)
    registry = seed(settings, folder, clock)
    with serve(settings, folder if loaded else None) as live:
        live.context.clock = clock
        tokens = {name: create_token(live.store, name, clock.now())[0] for name in USERS}
        yield AssetApi(live=live, clock=clock, registry=registry, folder=folder, tokens=tokens)
