"""Asset benchmarks: ``.venv/bin/python bench/assets.py [--repeats N]``.

1. Loading and validating a graph of 10,000 assets (100 files of 100 assets, each
   reading one or two earlier ones, a tenth of them daily-partitioned): the loader's
   import of every file plus the graph's checks (``load_folder``), and the
   ``headwater validate`` command on the folder, each in a fresh process. Budget: 2 s.
2. The status of an asset with 3,650 daily partitions, half of them materialized
   (``asset_status.partition_statuses``, what ``assets show`` and the API compute).
3. Per-partition overhead of materializing 1,000 partitions of a trivial asset,
   against the per-run overhead of 1,000 runs of an equivalent one-task pipeline, both
   in one process on SQLite, one run after another (``Runtime`` driving each run).
   Budget: at most 2x.

Medians over ``--repeats`` runs (default 5); each repeat in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def write_graph(folder: Path, files: int = 100, per_file: int = 100) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = [
            "from headwater import DailyPartitions, asset",
            "DAILY = DailyPartitions(start='2020-01-01')",
        ]
        for a in range(per_file):
            name = f"a{f}_{a}"
            ups = []
            if a > 0:
                ups.append(f"a{f}_{a - 1}")
            if f > 0 and a % 10 == 0:
                ups.append(f"a{f - 1}_{a}")
            # the partitioned ones read only partitioned ones (one definition per run)
            parts = "partitions=DAILY, " if a % 10 == 0 and f == 0 else ""
            params = ", ".join(ups) if not parts else ""
            deps = f"deps={ups!r}, " if parts and ups else ""
            lines.append(f"@asset({parts}{deps}group='g{f}')")
            lines.append(f"def {name}({params}):")
            lines.append("    return 1")
        (folder / f"assets_{f}.py").write_text("\n".join(lines) + "\n")


LOAD = """
import sys, time
start = time.perf_counter()
from headwater.loader import load_folder
from pathlib import Path
loaded, catalog = load_folder(Path(sys.argv[1]))
assert not catalog.errors, catalog.errors
assert len(catalog.graph) == 10000, len(catalog.graph)
print(time.perf_counter() - start)
"""


def time_load(folder: Path) -> float:
    out = subprocess.run(
        [PYTHON, "-c", LOAD, str(folder)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def time_validate(folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [PYTHON, "-m", "headwater", "validate", str(folder), "--no-warnings"],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - start


STATUS = """
import sys, tempfile, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from headwater import DailyPartitions, asset
from headwater.asset_status import partition_statuses
from headwater.assets.graph import AssetGraph
from headwater.config import Settings
from headwater.store.records import RecordMaterialization, Batch
from headwater.store.sql.store import SqlStore

DAILY = DailyPartitions(start="2016-11-29")
@asset(partitions=DAILY)
def big(): return 1
graph = AssetGraph([big])
store = SqlStore.from_settings(Settings.for_home(Path(tempfile.mkdtemp())))
now = datetime(2026, 11, 29, tzinfo=UTC)
keys = DAILY.keys(now=now)
assert len(keys) >= 3650, len(keys)
store.apply(Batch(changes=[
    RecordMaterialization(run_id="r", task_id="big", try_number=1, asset_key="big",
        partition_key=k, status="materialized", created_at=now, metadata={"row_count": 1})
    for k in keys[::2]
]))
start = time.perf_counter()
with store.asset_connection() as connection:
    statuses = partition_statuses(connection, graph, ("big",), now=now)
print(time.perf_counter() - start, len(statuses))
"""


def time_status() -> tuple[float, int]:
    out = subprocess.run([PYTHON, "-c", STATUS], capture_output=True, text=True, check=True)
    seconds, count = out.stdout.split()
    return float(seconds), int(count)


OVERHEAD = """
import sys, tempfile, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from headwater import DailyPartitions, asset, pipeline, task
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import materialize_pipeline
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval

N = int(sys.argv[1])
DAILY = DailyPartitions(start="2020-01-01")

@asset(partitions=DAILY)
def trivial():
    return 1

@task
def step():
    return 1

@pipeline
def plain():
    step()

graph = AssetGraph([trivial])
assets = materialize_pipeline(graph, [("trivial",)], source_file="bench")
runtime = Runtime(Settings.for_home(Path(tempfile.mkdtemp())))
keys = DAILY.keys(now=datetime(2026, 1, 1, tzinfo=UTC))[:N]
start = time.perf_counter()
for key in keys:
    start_at, end_at = DAILY.time_window(key)
    record = runtime.create_run(assets, interval=DataInterval(start=start_at, end=end_at),
                                partition_key=key)
    assert runtime.engine(assets).drive(record.run_id).state == "success"
asset_seconds = time.perf_counter() - start
start = time.perf_counter()
base = datetime(2020, 1, 1, tzinfo=UTC)
for i in range(N):
    record = runtime.create_run(plain, logical_date=base + timedelta(days=i))
    assert runtime.engine(plain).drive(record.run_id).state == "success"
task_seconds = time.perf_counter() - start
print(asset_seconds / N * 1000, task_seconds / N * 1000)
"""


def time_overhead(n: int) -> tuple[float, float]:
    out = subprocess.run(
        [PYTHON, "-c", OVERHEAD, str(n)], capture_output=True, text=True, check=True
    )
    asset_ms, task_ms = out.stdout.split()
    return float(asset_ms), float(task_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description="asset benchmarks")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "pipelines"
        write_graph(folder)
        loads = [time_load(folder) for _ in range(args.repeats)]
        validates = [time_validate(folder) for _ in range(args.repeats)]
    statuses = [time_status() for _ in range(args.repeats)]
    overheads = [time_overhead(args.partitions) for _ in range(args.repeats)]
    results["load_10k_assets_s"] = statistics.median(loads)
    results["validate_10k_assets_s"] = statistics.median(validates)
    results["status_3650_partitions_s"] = statistics.median(s for s, _ in statuses)
    asset_ms = statistics.median(a for a, _ in overheads)
    task_ms = statistics.median(t for _, t in overheads)
    results["per_partition_ms"] = asset_ms
    results["per_task_run_ms"] = task_ms
    results["ratio"] = asset_ms / task_ms
    print(json.dumps(results, indent=2))
    print(
        textwrap.dedent(
            f"""
            load + validate 10,000 assets: {results["load_10k_assets_s"]:.2f} s (loader),
              {results["validate_10k_assets_s"]:.2f} s (headwater validate); budget 2 s
            status of 3,650 daily partitions: {results["status_3650_partitions_s"] * 1000:.0f} ms
            materialize {args.partitions} partitions: {asset_ms:.2f} ms per partition vs
              {task_ms:.2f} ms per run of a one-task pipeline: {asset_ms / task_ms:.2f}x (budget 2x)
            """
        )
    )


if __name__ == "__main__":
    main()
