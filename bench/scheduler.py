"""Scheduler benchmark: ``.venv/bin/python bench/scheduler.py [--repeats N]``.

Under the real scheduler (``headwater scheduler`` in its own process), the default
thread executor and SQLite, it measures:

- **task-to-task latency**: for a 200-task chain, the time from the end of an upstream
  task's code to the start of its downstream task's code (each task returns the wall
  clock times at which it started and ended); p50 and p99;
- **throughput**: 100 runs (``--runs``) of a 10-task pipeline of no-op tasks, queued before the
  scheduler starts and driven at once; task instances per second from the first try's
  start to the last try's end.

Each repeat uses a fresh HEADWATER_HOME. Results are printed and written to
docs/benchmarks.md between the ``scheduler-bench`` markers; with ``--json`` they are
printed as one JSON object and the page is left alone. ``--root DIR`` measures the
headwater checkout in DIR (its sources, run by this Python) instead of this one: this
is how ``bench/ab.py`` compares two commits.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADWATER = [sys.executable, "-m", "headwater"]
DOC = ROOT / "docs" / "benchmarks.md"
SOURCES = ROOT / "src"  # the headwater measured (--root)
BEGIN, END = "<!-- scheduler-bench:begin -->", "<!-- scheduler-bench:end -->"

PIPELINES = """\
import time
from headwater import pipeline, task

@task
def timed(previous: object = None) -> dict[str, float]:
    # when this task's code really started and ended (wall clock, this machine)
    started = time.time()
    return {"start": started, "end": time.time()}

@task
def step(value: int = 0) -> int:
    return value + 1

@pipeline(max_active_runs=200)
def chain200() -> None:
    value = timed.override(task_id="t0")()
    for index in range(1, 200):
        value = timed.override(task_id=f"t{index}")(value)

@pipeline(max_active_runs=200)
def noop10() -> None:
    for index in range(10):
        step.override(task_id=f"t{index}")()
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env["HEADWATER_HOME"] = str(home)
    env["PYTHONPATH"] = str(SOURCES)
    return env


def _scheduler(home: Path, pipelines: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *HEADWATER,
            "scheduler",
            "--pipelines",
            str(pipelines),
            "--tick",
            "0.05",
            "--max-runs",
            "200",
        ],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _store(home: Path):  # type: ignore[no-untyped-def]  # a bench script
    sys.path.insert(0, str(SOURCES))
    from headwater.config import Settings
    from headwater.store.sql.store import SqlStore

    return SqlStore.from_settings(Settings.for_home(home))


def queue_runs(home: Path, pipelines: Path, pipeline_id: str, count: int) -> list[str]:
    """Queue ``count`` runs of ``pipeline_id`` (as ``headwater trigger`` does, in-process)."""
    sys.path.insert(0, str(SOURCES))
    from headwater.config import Settings
    from headwater.engine.runs import create_run
    from headwater.runtime import Runtime
    from headwater.scheduling.registry import PipelineRegistry

    registry = PipelineRegistry(pipelines)
    registry.refresh()
    runtime = Runtime(Settings.for_home(home))
    try:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        return [
            create_run(
                runtime.store,
                registry.pipelines[pipeline_id],
                clock=runtime.clock,
                logical_date=start + timedelta(seconds=day),
                triggered_by="trigger",
            ).run_id
            for day in range(count)
        ]
    finally:
        runtime.close()


def _wait_for(store, pipeline_id: str, count: int, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = store.list_runs(pipeline_id, limit=1000)
        if len(runs) >= count and all(run.state in ("success", "failed") for run in runs):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{pipeline_id}: runs did not finish in {timeout}s")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_latency(work: Path) -> tuple[float, float]:
    home, pipelines = work / "home", work / "pipelines"
    queue_runs(home, pipelines, "chain200", 1)
    scheduler = _scheduler(home, pipelines)
    store = _store(home)
    try:
        _wait_for(store, "chain200", 1)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait()
    run = store.list_runs("chain200")[0]
    times = {
        ti.task_id: json.loads(ti.result or "{}") for ti in store.get_task_instances(run.run_id)
    }
    # from the end of an upstream task's code to the start of its downstream task's code:
    # everything headwater does in between (commit, evaluate, dispatch, hand over)
    gaps = [(times[f"t{i}"]["start"] - times[f"t{i - 1}"]["end"]) * 1000 for i in range(1, 200)]
    store.close()
    return _percentile(gaps, 0.5), _percentile(gaps, 0.99)


def measure_throughput(work: Path, runs: int = 100) -> tuple[float, float]:
    """Task instances per second, and the scheduler process's CPU seconds (all of it)."""
    home, pipelines = work / "home", work / "pipelines"
    queue_runs(home, pipelines, "noop10", runs)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    scheduler = _scheduler(home, pipelines)
    store = _store(home)
    try:
        _wait_for(store, "noop10", runs)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    tries = [
        t for run in store.list_runs("noop10", limit=runs) for t in store.get_tries(run.run_id)
    ]
    store.close()
    first = min(t.started_at for t in tries)
    last = max(t.ended_at for t in tries)
    return len(tries) / (last - first).total_seconds(), cpu


def main() -> None:
    global SOURCES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON, leave the docs alone")
    parser.add_argument("--root", type=Path, help="measure the headwater checkout in this folder")
    parser.add_argument("--runs", type=int, default=100, help="runs of the throughput test")
    args = parser.parse_args()
    if args.root is not None:
        SOURCES = args.root.resolve() / "src"
    p50s, p99s, rates, cpus = [], [], [], []
    for repeat in range(args.repeats):
        for kind in ("latency", "throughput"):
            work = Path(tempfile.mkdtemp(prefix="headwater-sched-bench-"))
            (work / "pipelines").mkdir()
            (work / "pipelines" / "bench.py").write_text(PIPELINES)
            try:
                if kind == "latency":
                    p50, p99 = measure_latency(work)
                    p50s.append(p50)
                    p99s.append(p99)
                else:
                    rate, cpu = measure_throughput(work, args.runs)
                    rates.append(rate)
                    cpus.append(cpu)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        if not args.json:
            print(
                f"repeat {repeat + 1}: p50 {p50s[-1]:.2f} ms, p99 {p99s[-1]:.2f} ms, "
                f"{rates[-1]:.0f} task instances/s"
            )
    if args.json:
        print(json.dumps({"p50_ms": p50s, "p99_ms": p99s, "throughput": rates, "cpu_s": cpus}))
        return
    report = (
        f"{BEGIN}\n\nProduced by `.venv/bin/python bench/scheduler.py --repeats {args.repeats}"
        f"{'' if args.runs == 100 else f' --runs {args.runs}'}` "
        f"on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} ({os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end).\n\n"
        "| Measure | Median over repeats | Target |\n|---|---:|---:|\n"
        f"| task-to-task latency p50, 200-task chain | {statistics.median(p50s):.2f} ms "
        "| ≤ 10 ms |\n"
        f"| task-to-task latency p99, 200-task chain | {statistics.median(p99s):.2f} ms "
        "| ≤ 50 ms |\n"
        f"| throughput, {args.runs} runs × 10 no-op tasks | {statistics.median(rates):.0f} "
        "task instances/s | ≥ 1,000/s |\n\n" + END
    )
    text = DOC.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + report + text[text.index(END) + len(END) :]
    else:
        text += "\n## Under the scheduler\n\n" + report + "\n"
    DOC.write_text(text)
    print(report)


if __name__ == "__main__":
    main()
