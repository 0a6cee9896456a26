"""API latency benchmark: ``.venv/bin/python bench/api.py [--requests N]``.

Seeds a fresh SQLite store with 10,000 runs of 100 tasks each (1,000,000 task
instances, inserted in bulk), starts ``headwater server`` as its own process, and times
the list endpoints of the REST API over N requests each (p50 and p95, target p95 <
100 ms): the first page and a deep page of runs, runs filtered by pipeline and state,
pipelines, backfills and pools. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from headwater.accounts import Role, create_token, create_user
from headwater.config import Settings
from headwater.store.records import PipelineRecord
from headwater.store.sql.schema import runs, task_instances
from headwater.store.sql.store import SqlStore

RUNS = 10_000
TASKS = 100
PIPELINES = 20


def seed(store: SqlStore) -> None:
    now = datetime.now(UTC)
    graph = {
        "tasks": [
            {"task_id": f"t{i}", "upstream": [f"t{i - 1}"] if i else []} for i in range(TASKS)
        ]
    }
    for p in range(PIPELINES):
        store.upsert_pipeline(
            PipelineRecord(
                pipeline_id=f"p{p:02d}",
                source_file=None,
                description="",
                schedule="@hourly",
                timezone="UTC",
                graph=graph,
                updated_at=now,
            )
        )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with store.engine.begin() as connection:
        rows = []
        for r in range(RUNS):
            logical = start + timedelta(hours=r // PIPELINES)
            rows.append(
                {
                    "run_id": f"scheduled__{r:06d}",
                    "pipeline_id": f"p{r % PIPELINES:02d}",
                    "logical_date": logical,
                    "data_interval_start": logical,
                    "data_interval_end": logical + timedelta(hours=1),
                    "params": "{}",
                    "state": "failed" if r % 10 == 0 else "success",
                    "run_type": "scheduled",
                    "triggered_by": "scheduler",
                    "created_at": logical + timedelta(hours=1),
                    "started_at": logical + timedelta(hours=1),
                    "ended_at": logical + timedelta(hours=1, minutes=5),
                    "priority": 10,
                    "lease_generation": 1,
                }
            )
        connection.execute(runs.insert(), rows)
        for chunk in range(0, RUNS, 500):
            connection.execute(
                task_instances.insert(),
                [
                    {
                        "run_id": f"scheduled__{r:06d}",
                        "task_id": f"t{t}",
                        "map_index": -1,
                        "state": "success",
                        "try_number": 1,
                        "max_tries": 1,
                    }
                    for r in range(chunk, chunk + 500)
                    for t in range(TASKS)
                ],
            )


def timings(client: httpx.Client, path: str, params: dict[str, str], requests: int) -> list[float]:
    found = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(path, params=params)
        found.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="headwater-api-bench-"))
    settings = Settings.for_home(home)
    store = SqlStore.from_settings(settings)
    began = time.perf_counter()
    seed(store)
    create_user(store, "bench", Role.VIEWER, None, datetime.now(UTC))
    token, _ = create_token(store, "bench", datetime.now(UTC))
    store.close()
    took = time.perf_counter() - began
    print(f"seeded {RUNS:,} runs and {RUNS * TASKS:,} task instances in {took:.1f} s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env["HEADWATER_HOME"] = str(home)
    log = home / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headwater",
                "server",
                "--port",
                "0",
                "--pipelines",
                str(home / "none"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        while not (match := re.search(r"on (http://\S+) \(API", log.read_text())):
            assert server.poll() is None, log.read_text()
            time.sleep(0.1)
        url = match.group(1)
        client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        deep = client.get("/api/v1/runs", params={"limit": "1000"}).json()["next_cursor"]
        for _ in range(4):
            deep = client.get("/api/v1/runs", params={"limit": "1000", "cursor": deep}).json()[
                "next_cursor"
            ]
        cases = [
            ("runs, first page (100)", "/api/v1/runs", {}),
            ("runs, page 6 (cursor)", "/api/v1/runs", {"cursor": deep}),
            ("runs, 1000 per page", "/api/v1/runs", {"limit": "1000"}),
            ("runs of a pipeline, failed", "/api/v1/runs", {"pipeline": "p07", "state": "failed"}),
            ("pipelines (20, last runs, freshness)", "/api/v1/pipelines", {}),
            ("backfills", "/api/v1/backfills", {}),
            ("pools", "/api/v1/pools", {}),
        ]
        print(f"| endpoint ({args.requests} requests) | p50 ms | p95 ms |")
        print("|---|---|---|")
        results = {}
        for name, path, params in cases:
            found = sorted(timings(client, path, params, args.requests))
            p50 = statistics.median(found)
            p95 = found[int(len(found) * 0.95) - 1]
            results[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
            print(f"| {name} | {p50:.1f} | {p95:.1f} |")
        print(json.dumps(results))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
