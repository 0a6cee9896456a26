"""Compare two headwater checkouts on this machine: ``bench/ab.py OTHER [--repeats N]``.

OTHER is another checkout (``git worktree add ../base COMMIT``) with its own ``.venv``
(``make .venv/.dev-installed`` there). Both are measured alternately, one repeat of
each in turn, so that a change in the machine's load falls on both alike:

- ``bench/measure.py`` (the run's wall time, ``Runtime.run``) for the configurations
  given with ``--config SHAPE:N:EXECUTOR`` (chain-1000 and fanout-1000 with threads,
  chain-1000 with processes by default), each in a fresh process;
- unless ``--no-scheduler``, ``bench/scheduler.py --json`` for the scheduler's latency,
  throughput (``--scheduler-runs`` runs, 100 by default) and CPU time (this checkout's
  script, run with each checkout's Python and sources).

Prints the median of each measure for both and the change, as a Markdown table, and the
load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_CONFIGS = ("chain:1000:thread", "fanout:1000:thread", "chain:1000:process")


def python_of(root: Path) -> str:
    return str(root / ".venv" / "bin" / "python")


def measure_run(root: Path, shape: str, n: str, executor: str) -> float:
    """ms per task: the run's wall time divided by its tasks (baseline subtracted)."""
    with tempfile.TemporaryDirectory(prefix="headwater-ab-") as home:
        completed = subprocess.run(
            [python_of(root), str(root / "bench" / "measure.py"), shape, n, executor, home],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
        )
    sample = json.loads(completed.stdout)
    tasks = int(n) + (2 if shape == "fanout" else 0)
    return float(sample["wall"] - sample["baseline"]) / tasks * 1000


def measure_scheduler(root: Path, runs: int) -> dict[str, float]:
    script = str(BENCH / "scheduler.py")
    options = ["--json", "--repeats", "1", "--runs", str(runs), "--root", str(root)]
    completed = subprocess.run(
        [python_of(root), script, *options],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout)
    return {key: values[0] for key, values in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the checkout to compare with this one")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", action="append", help="SHAPE:N:EXECUTOR (repeatable)")
    parser.add_argument("--no-scheduler", action="store_true")
    parser.add_argument("--scheduler-runs", type=int, default=100, help="bench/scheduler.py --runs")
    args = parser.parse_args()
    roots = {"other": args.other.resolve(), "this": ROOT}
    configs = args.config or list(DEFAULT_CONFIGS)
    samples: dict[tuple[str, str], list[float]] = {}
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        for name, root in roots.items():
            for config in configs:
                value = measure_run(root, *config.split(":"))
                samples.setdefault((config, name), []).append(value)
            if not args.no_scheduler:
                for key, value in measure_scheduler(root, args.scheduler_runs).items():
                    samples.setdefault((key, name), []).append(value)
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    load_after = os.getloadavg()
    print(f"| Measure | {args.other.name} | this | Change |\n|---|---:|---:|---:|")
    for measure in dict.fromkeys(key for key, _ in samples):
        other = statistics.median(samples[(measure, "other")])
        this = statistics.median(samples[(measure, "this")])
        print(f"| {measure} | {other:.3f} | {this:.3f} | {(this - other) / other:+.0%} |")
    print(
        "\nload average (1, 5, 15 min): "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + " before, "
        + ", ".join(f"{x:.2f}" for x in load_after)
        + " after"
    )
    print(json.dumps({f"{m}/{n}": v for (m, n), v in samples.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
