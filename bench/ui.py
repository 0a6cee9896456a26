"""The web UI's budgets in headless Chromium: ``.venv/bin/python bench/ui.py [--repeat N]``.

Seeds a fresh SQLite store with a pipeline of 10,000 tasks (100 layers of 100, each task
with one or two upstreams in the layer before) and 50 runs of it (500,000 task
instances, states mixed), and 500 pipelines with 12 runs each; serves it with a real
server (uvicorn, in a thread) and opens the pages in Debian's chromium through
Playwright. Each figure is the time from navigation start to the canvas (or page) being
painted, read in the page (``performance.now()``), median of ``--repeat`` loads after a
first cold one, which is shown separately. Budgets: a run of 10,000 tasks interactive
in under 1 s; the grid of 10,000 tasks × 50 runs in under 1 s; 500 pipelines in 0.5 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ui.live import serve

from headwater.config import Settings
from headwater.store.records import PipelineRecord
from headwater.store.sql.schema import runs, task_instances
from headwater.store.sql.store import SqlStore

TASKS, LAYER, RUNS, PIPELINES, STRIP = 10_000, 100, 50, 500, 12
STATES = ["success"] * 8 + ["failed", "upstream_failed", "skipped", "running"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARGS += ["--disable-component-update", "--no-first-run"]
START = datetime(2026, 1, 1, tzinfo=UTC)
# the page loaded and its strips painted (pipelines.js marks the body when it is done)
LOADED = (
    "document.readyState === 'complete' && document.body.dataset.strips && "
    "Math.max(performance.getEntriesByType('navigation')[0].loadEventEnd, "
    "Number(document.body.dataset.strips))"
)


def graph(rng: random.Random) -> dict[str, Any]:
    tasks = []
    for i in range(TASKS):
        layer = i // LAYER
        upstream = []
        if layer:
            before = range((layer - 1) * LAYER, layer * LAYER)
            upstream = [f"t{j}" for j in sorted(set(rng.sample(before, rng.choice([1, 2]))))]
        tasks.append({"task_id": f"t{i}", "upstream": upstream})
    return {"tasks": tasks}


def run_row(pipeline_id: str, index: int, state: str) -> dict[str, Any]:
    moment = START + timedelta(days=index)
    return {
        "run_id": f"{pipeline_id}__{index:04d}",
        "pipeline_id": pipeline_id,
        "logical_date": moment,
        "data_interval_start": moment,
        "data_interval_end": moment + timedelta(days=1),
        "params": "{}",
        "state": state,
        "run_type": "scheduled",
        "triggered_by": "bench",
        "created_at": moment,
        "started_at": moment,
        "ended_at": moment + timedelta(minutes=5),
    }


def seed(store: SqlStore) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)

    def record(pipeline_id: str, description: dict[str, Any]) -> None:
        store.upsert_pipeline(
            PipelineRecord(
                pipeline_id=pipeline_id,
                source_file=None,
                description="",
                schedule="@daily",
                timezone="UTC",
                graph=description,
                updated_at=now,
            )
        )

    record("wide", graph(rng))
    with store.engine.begin() as connection:
        connection.execute(runs.insert(), [run_row("wide", i, "failed") for i in range(RUNS)])
        for i in range(RUNS):
            connection.execute(
                task_instances.insert(),
                [
                    {
                        "run_id": f"wide__{i:04d}",
                        "task_id": f"t{t}",
                        "map_index": -1,
                        "state": rng.choice(STATES),
                        "try_number": 1,
                        "max_tries": 1,
                        "started_at": START + timedelta(days=i, seconds=t // LAYER),
                        "ended_at": START + timedelta(days=i, seconds=t // LAYER + 1),
                    }
                    for t in range(TASKS)
                ],
            )
    small = {"tasks": [{"task_id": "a", "upstream": []}, {"task_id": "b", "upstream": ["a"]}]}
    for p in range(PIPELINES):
        record(f"pipeline_{p:03d}", small)
    with store.engine.begin() as connection:
        connection.execute(
            runs.insert(),
            [
                run_row(f"pipeline_{p:03d}", i, rng.choice(["success", "success", "failed"]))
                for p in range(PIPELINES)
                for i in range(STRIP)
            ],
        )


def measure(page: Any, url: str, ready: str, repeat: int) -> tuple[float, float]:
    """(cold, median of ``repeat``) milliseconds from navigation start to ``ready``."""
    times = []
    for _ in range(repeat + 1):
        page.goto(url, wait_until="commit")
        page.wait_for_function(f"!!({ready})", timeout=60_000)
        times.append(float(page.evaluate(ready)))
    return times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.for_home(Path(folder))
        began = time.perf_counter()
        with serve(settings, None) as live:
            seed(live.store)
            print(f"seeded in {time.perf_counter() - began:.1f} s", file=sys.stderr)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                context = browser.new_context(viewport={"width": 1360, "height": 900})
                context.add_cookies([live.cookie("vera")])
                page = context.new_page()
                painted = (
                    "document.getElementById('{}') && document.getElementById('{}').dataset.painted"
                )
                results = {
                    "run of 10,000 tasks (graph painted)": measure(
                        page,
                        f"{live.url}/runs/wide__0049",
                        painted.format("graph", "graph"),
                        args.repeat,
                    ),
                    "grid of 10,000 tasks × 50 runs (painted)": measure(
                        page,
                        f"{live.url}/pipelines/wide",
                        painted.format("grid", "grid"),
                        args.repeat,
                    ),
                    "500 pipelines (page loaded, strips painted)": measure(
                        page,
                        f"{live.url}/",
                        LOADED,
                        args.repeat,
                    ),
                }
                browser.close()
    print(f"| view | first load | median of {args.repeat} |")
    print("|---|---|---|")
    for name, (cold, median) in results.items():
        print(f"| {name} | {cold:.0f} ms | {median:.0f} ms |")


if __name__ == "__main__":
    main()
