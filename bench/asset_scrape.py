"""The asset side of a large store: ``.venv/bin/python bench/asset_scrape.py``.

Seeds a fresh store with 10,000 assets (a tenth of them daily-partitioned, as
``bench/assets.py``'s graph) and 20 successful materializations each (200,000 rows), then
times, several times each:

- the freshness gauges of every asset (``StoreCollector``'s asset part of a ``/metrics``
  scrape): the first scrape of a process, then the next ones, each after 100 new
  materializations, as a scheduler writes them between two scrapes;
- the watchers' round of asset freshness (``watch_asset_freshness``), which alerts: the
  first of a process, then the next ones, each after 100 new materializations;
- the first page of ``GET /api/v1/assets`` (the store queries of the list).

SQLite in a temporary folder by default; ``--database-url`` for PostgreSQL (an empty
database: its tables are created, and emptied at the end).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from headwater.alerts.asset_freshness import watch_asset_freshness
from headwater.asset_status import NewestByAsset
from headwater.assets.partitions import DailyPartitions
from headwater.clock import SystemClock
from headwater.config import Settings
from headwater.metrics.collector import StoreCollector
from headwater.server.asset_documents import summaries
from headwater.store.records import AssetRecord
from headwater.store.sql import asset_reads
from headwater.store.sql.schema import asset_materializations, metadata
from headwater.store.sql.store import SqlStore

ASSETS, PER_ASSET, NEW_BETWEEN_SCRAPES = 10_000, 20, 100
DAILY = DailyPartitions(start="2020-01-01")
CLOCK = SystemClock()


def key_of(index: int) -> str:
    return f"group_{index // 100:03d}/asset_{index:05d}"


def seed(store: SqlStore) -> None:
    now = CLOCK.now()
    records = []
    for index in range(ASSETS):
        partitioned = index % 10 == 0
        definition = {
            "partitions": DAILY.to_json() if partitioned else None,
            "freshness_seconds": 26 * 3600,
        }
        records.append(
            AssetRecord(
                asset_key=key_of(index),
                group_name=f"group_{index // 100:03d}",
                description="",
                source_file=None,
                definition=definition,
                updated_at=now,
            )
        )
    store.upsert_assets(records)
    rows = []
    for index in range(ASSETS):
        for number in range(PER_ASSET):
            day = now - timedelta(days=PER_ASSET - number)
            rows.append(materialization(index, day, partitioned=index % 10 == 0))
    with store.engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(asset_materializations.insert(), rows[start : start + 20_000])
    with store.engine.begin() as connection:
        # the planner's statistics, as autovacuum would have them by now (and sqlite_stat1)
        connection.execute(sa.text("ANALYZE"))


def materialization(index: int, at: object, *, partitioned: bool) -> dict[str, object]:
    return {
        "asset_key": key_of(index),
        "partition_key": at.date().isoformat() if partitioned else "",  # type: ignore[attr-defined]
        "status": "materialized",
        "run_id": f"run-{index}",
        "task_id": key_of(index),
        "try_number": 1,
        "created_at": at,
        "metadata": "{}",
    }


def more(store: SqlStore, round_: int) -> None:
    """What a scheduler writes between two scrapes."""
    now = CLOCK.now()
    with store.engine.begin() as connection:
        connection.execute(
            asset_materializations.insert(),
            [
                materialization((round_ * NEW_BETWEEN_SCRAPES + i) % ASSETS, now, partitioned=False)
                for i in range(NEW_BETWEEN_SCRAPES)
            ],
        )


def timed(
    function: Callable[[], object], repeats: int, before: Callable[[int], None]
) -> list[float]:
    samples = []
    for round_ in range(repeats):
        before(round_)
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def asset_gauges(collector: StoreCollector) -> int:
    return sum(
        len(family.samples)
        for family in collector.collect()
        if family.name == "headwater_data_freshness_seconds"
    )


def api_list(store: SqlStore) -> None:
    with store.engine.connect() as connection:
        records = asset_reads.assets_page(connection, limit=101)
        summaries(connection, records[:100], CLOCK.now(), set())


def report(name: str, samples: list[float]) -> None:
    print(
        f"{name}: median {statistics.median(samples) * 1000:.1f} ms, "
        f"max {max(samples) * 1000:.1f} ms over {len(samples)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = SqlStore.from_settings(
            Settings.for_home(Path(home), database_url=args.database_url)
        )
        try:
            started = time.perf_counter()
            seed(store)
            print(
                f"seeded {ASSETS} assets, {ASSETS * PER_ASSET} materializations in "
                f"{time.perf_counter() - started:.1f} s ({store.engine.dialect.name})"
            )
            first = []
            for _ in range(args.repeats):  # a new process's collector each time
                collector = StoreCollector(store, CLOCK)
                started = time.perf_counter()
                gauges = asset_gauges(collector)
                first.append(time.perf_counter() - started)
            report(f"first scrape's asset gauges ({gauges})", first)
            report(
                f"next scrapes' asset gauges ({NEW_BETWEEN_SCRAPES} new materializations each)",
                timed(lambda: asset_gauges(collector), args.repeats, lambda r: more(store, r)),
            )
            report(
                "asset freshness watchers' first round",
                timed(lambda: watch_asset_freshness(store, CLOCK.now()), args.repeats, bool),
            )
            newest = NewestByAsset()  # kept between rounds, as the alert service keeps it
            watch_asset_freshness(store, CLOCK.now(), newest)
            report(
                f"asset freshness watchers' next rounds ({NEW_BETWEEN_SCRAPES} new "
                "materializations each)",
                timed(
                    lambda: watch_asset_freshness(store, CLOCK.now(), newest),
                    args.repeats,
                    lambda r: more(store, args.repeats + r),
                ),
            )
            report("API list, first page", timed(lambda: api_list(store), args.repeats, bool))
        finally:
            if args.database_url:
                with store.engine.begin() as connection:
                    for table in reversed(metadata.sorted_tables):
                        connection.execute(table.delete())
            store.close()


if __name__ == "__main__":
    main()
