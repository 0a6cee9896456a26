"""A run of a whole dbt project: ``.venv/bin/python bench/dbt_runs.py [--repeats N]``.

``examples/dbt_shop`` (two seeds, four models, a snapshot, their tests) copied and parsed
once, then materialized whole (``headwater materialize '*'`` as the engine runs it: one
task per node, on the thread executor, SQLite store) in a fresh home and a fresh DuckDB
file per repeat, each repeat in a fresh process. Prints the median wall time of the run
and how many ``dbt build`` processes it started.

Needs dbt-core and dbt-duckdb (``make .venv/.dev-installed``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

RUN = """
import json, os, sys, time
from pathlib import Path
from headwater.assets.jobs import materialize_pipeline
from headwater.assets.selection import select
from headwater.config import Settings
from headwater.loader import load_folder
from headwater.runtime import Runtime
from headwater.store.sql import assets as queries

folder, home = Path(sys.argv[1]), Path(sys.argv[2])
_, catalog = load_folder(folder)
keys = select(catalog.graph, "*")
pipeline = materialize_pipeline(catalog.graph, keys, source_file=str(folder))
runtime = Runtime(Settings.for_home(home))
record = runtime.create_run(pipeline)
start = time.perf_counter()
run = runtime.engine(pipeline).drive(record.run_id)
seconds = time.perf_counter() - start
assert run.state == "success", run.state
with runtime.store.asset_connection() as connection:
    made = [queries.materializations(connection, "/".join(k))[0] for k in keys]
builds = sum(1 for m in made if "dbt_built_by" not in m.metadata)
print(json.dumps({"seconds": seconds, "builds": builds, "nodes": len(made)}))
"""

PIPELINE = """
from headwater import dbt_assets

shop = dbt_assets({project!r}, group="shop", key_prefix=["shop"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        project = base / "dbt_shop"
        shutil.copytree(
            ROOT / "examples" / "dbt_shop", project, ignore=shutil.ignore_patterns("target", "logs")
        )
        folder = base / "pipelines"
        folder.mkdir()
        (folder / "shop.py").write_text(textwrap.dedent(PIPELINE.format(project=str(project))))
        results = []
        for repeat in range(args.repeats):
            env = {"DBT_SHOP_DUCKDB_PATH": str(base / f"shop-{repeat}.duckdb")}
            out = subprocess.run(
                [PYTHON, "-c", RUN, str(folder), str(base / f"home-{repeat}")],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        seconds = statistics.median(r["seconds"] for r in results)
        builds = sorted(r["builds"] for r in results)
        print(
            f"whole dbt_shop run ({results[0]['nodes']} nodes): median {seconds:.2f} s over "
            f"{args.repeats}; dbt builds per run: {builds}"
        )


if __name__ == "__main__":
    main()
