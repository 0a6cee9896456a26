"""The cost of one /metrics scrape on a large store: ``.venv/bin/python bench/metrics_scrape.py``.

Seeds a fresh store with 10,000 runs of 50 pipelines and 100 task instances each
(1,000,000 task instances; 20 runs in progress), a pool with slots held, and alerts in
the outbox; then times the store's gauges (``StoreCollector``) and the whole text of a
scrape, several times. SQLite in a temporary folder by default; ``--database-url`` for
PostgreSQL (an empty database: its tables are created and dropped).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from headwater.clock import SystemClock
from headwater.config import Settings
from headwater.metrics.collector import StoreCollector
from headwater.metrics.exposition import metrics_registry, render
from headwater.store.sql.schema import metadata
from headwater.store.sql.store import SqlStore

RUNS, TASKS, PIPELINES, ACTIVE = 10_000, 100, 50, 20


def seed(store: SqlStore) -> None:
    now = SystemClock().now()
    day = timedelta(days=1)
    runs = []
    for number in range(RUNS):
        pipeline_id = f"pipeline_{number % PIPELINES:02d}"
        end = now - day * (number // PIPELINES)
        state = "running" if number < ACTIVE else ("failed" if number % 7 == 0 else "success")
        runs.append(
            {
                "run_id": f"{pipeline_id}__{end.isoformat()}",
                "pipeline_id": pipeline_id,
                "logical_date": end - day,
                "data_interval_start": end - day,
                "data_interval_end": end,
                "params": "{}",
                "state": state,
                "run_type": "scheduled",
                "triggered_by": "scheduler",
                "created_at": end,
            }
        )
    with store.engine.begin() as connection:
        connection.execute(metadata.tables["runs"].insert(), runs)
        connection.execute(
            metadata.tables["pipelines"].insert(),
            [
                {"pipeline_id": f"pipeline_{p:02d}", "timezone": "UTC", "graph": "{}"}
                | {"updated_at": now}
                for p in range(PIPELINES)
            ],
        )
        connection.execute(sa.text("CREATE TABLE bench_numbers (i INTEGER PRIMARY KEY)"))
        connection.execute(
            sa.text("INSERT INTO bench_numbers (i) VALUES (:i)"), [{"i": i} for i in range(TASKS)]
        )
        # one statement: every run gets its instances, those of runs in progress mixed
        connection.execute(
            sa.text(
                "INSERT INTO task_instances (run_id, task_id, map_index, state, try_number, "
                "max_tries) SELECT r.run_id, 'task_' || n.i, -1, CASE WHEN r.state = "
                "'running' THEN (CASE WHEN n.i < 10 THEN 'running' WHEN n.i < 30 THEN "
                "'queued' ELSE 'none' END) ELSE r.state END, 1, 1 FROM runs r, bench_numbers n"
            )
        )
        connection.execute(sa.text("DROP TABLE bench_numbers"))
        outbox = metadata.tables["alert_outbox"]
        connection.execute(
            outbox.insert(),
            [
                {
                    "idempotency_key": f"key-{i}",
                    "channel": f"channel_{i % 4}",
                    "event": "run_failed",
                    "payload": "{}",
                    "state": "sent" if i > 20 else "pending",
                    "next_attempt_at": now,
                    "created_at": now - timedelta(minutes=i),
                }
                for i in range(2_000)
            ],
        )
    store.set_pool("warehouse", 8, "the warehouse", now)


def timed(function: object, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.for_home(Path(home), database_url=args.database_url)
        store = SqlStore.from_settings(settings)
        try:
            started = time.perf_counter()
            seed(store)
            print(
                f"seeded {RUNS} runs, {RUNS * TASKS} task instances in "
                f"{time.perf_counter() - started:.1f} s ({store.engine.dialect.name})"
            )
            collector = StoreCollector(store, SystemClock())
            registry = metrics_registry(store=store, clock=SystemClock(), process=False)
            gauges = timed(lambda: list(collector.collect()), args.repeats)
            scrape = timed(lambda: render(registry), args.repeats)
            size = len(render(registry))
            for name, samples in (("store gauges", gauges), ("whole scrape", scrape)):
                print(
                    f"{name}: median {statistics.median(samples) * 1000:.1f} ms, "
                    f"max {max(samples) * 1000:.1f} ms over {len(samples)}"
                )
            print(f"scrape size: {size} bytes")
        finally:
            if args.database_url:
                with store.engine.begin() as connection:
                    for table in reversed(metadata.sorted_tables):
                        connection.execute(table.delete())
            store.close()


if __name__ == "__main__":
    main()
