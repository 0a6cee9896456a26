"""The scheduler's throughput, watched or not: ``.venv/bin/python bench/scheduler_watched.py``.

Does a server with people watching slow the scheduler down? Each repeat, in a fresh
HEADWATER_HOME on SQLite, queues ten *live* runs (a chain of 120 tasks sleeping 0.25 s
each: they run for the whole measurement) and ``--runs`` runs of a 10-task pipeline of
no-op tasks, then starts ``headwater scheduler`` and measures its throughput: the no-op
runs' task instances per second, from their first try's start to their last try's end
(as ``bench/scheduler.py`` does, over more runs).

- **unwatched**: nothing else runs.
- **watched**: ``headwater server`` runs too (its own process, started before the
  scheduler), with ten browser-like clients, one per live run, each on two threads of
  its own (``httpx``): one holds the event stream ``GET /api/v1/events`` open and reads
  it, the other polls the run page's data ``GET /ui/data/runs/{id}/states`` once a
  second, as the run page does. The clients connect before the scheduler starts and
  stop after the last no-op run ended.

The two alternate (``--repeats`` of each); the target is that the watched throughput's
median stays within 10% of the unwatched one. Results are printed and written to
docs/benchmarks.md between the ``scheduler-watched`` markers (``--json``: printed only).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from scheduler import DOC, HEADWATER, PIPELINES, SOURCES, _env, _scheduler, _store, _wait_for

BEGIN, END = "<!-- scheduler-watched:begin -->", "<!-- scheduler-watched:end -->"
LIVE_RUNS = 10
TARGET_DROP = 0.10

LIVE = """\
import time
from headwater import pipeline, task

@task
def slow(previous: object = None) -> None:
    time.sleep(0.25)

@pipeline(max_active_runs=10)
def live() -> None:
    value = slow.override(task_id="t0")()
    for index in range(1, 120):
        value = slow.override(task_id=f"t{index}")(value)
"""


def queue(home: Path, pipelines: Path, runs: int) -> list[str]:
    """Queue the live runs (first, at a higher priority) and the no-op runs."""
    sys.path.insert(0, str(SOURCES))
    from headwater.config import Settings
    from headwater.engine.runs import create_run
    from headwater.runtime import Runtime
    from headwater.scheduling.registry import PipelineRegistry

    registry = PipelineRegistry(pipelines)
    registry.refresh()
    runtime = Runtime(Settings.for_home(home))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:

        def make(pipeline_id: str, count: int, priority: int) -> list[str]:
            return [
                create_run(
                    runtime.store,
                    registry.pipelines[pipeline_id],
                    clock=runtime.clock,
                    logical_date=start + timedelta(seconds=index),
                    triggered_by="trigger",
                    priority=priority,
                ).run_id
                for index in range(count)
            ]

        live = make("live", LIVE_RUNS, 10)
        make("noop10", runs, 0)
        return live
    finally:
        runtime.close()


def viewer_token(home: Path) -> str:
    sys.path.insert(0, str(SOURCES))
    from headwater.accounts import Role, create_token, create_user
    from headwater.config import Settings
    from headwater.store.sql.store import SqlStore

    store = SqlStore.from_settings(Settings.for_home(home))
    try:
        create_user(store, "watcher", Role.VIEWER, None, datetime.now(UTC))
        token, _ = create_token(store, "watcher", datetime.now(UTC))
        return token
    finally:
        store.close()


def start_server(home: Path, pipelines: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = home / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [*HEADWATER, "server", "--port", "0", "--pipelines", str(pipelines)],
            env=_env(home),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not (match := re.search(r"on (http://\S+) \(API", log.read_text())):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"headwater server did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return server, match.group(1)


@dataclass
class Watcher:
    """One browser-like client: the event stream on one thread, polls on another."""

    url: str
    token: str
    run_id: str
    stop: threading.Event
    polls: int = 0
    poll_errors: int = 0
    events: int = 0
    connected: threading.Event = field(default_factory=threading.Event)
    polled: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for target in (self._stream, self._poll):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def _stream(self) -> None:
        with self._client() as client:
            while not self.stop.is_set():
                try:
                    with client.stream("GET", "/api/v1/events", timeout=None) as response:
                        response.raise_for_status()
                        self.connected.set()
                        for line in response.iter_lines():
                            self.events += line.startswith("event:")
                            if self.stop.is_set():
                                return
                except httpx.HTTPError:
                    if self.stop.wait(0.5):
                        return

    def _poll(self) -> None:
        with self._client() as client:
            while True:
                try:
                    response = client.get(f"/ui/data/runs/{self.run_id}/states")
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.polls += 1
                self.poll_errors += not ok
                if ok:
                    self.polled.set()
                if self.stop.wait(1.0):
                    return


def measure(runs: int, watched: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="headwater-watched-bench-"))
    home, pipelines = work / "home", work / "pipelines"
    pipelines.mkdir()
    (pipelines / "bench.py").write_text(PIPELINES)
    (pipelines / "live.py").write_text(LIVE)
    server: subprocess.Popen[bytes] | None = None
    scheduler: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    watchers: list[Watcher] = []
    try:
        live = queue(home, pipelines, runs)
        if watched:
            token = viewer_token(home)
            server, url = start_server(home, pipelines)
            watchers = [Watcher(url, token, run_id, stop) for run_id in live]
            for watcher in watchers:
                watcher.start()
            for watcher in watchers:
                if not (watcher.connected.wait(30) and watcher.polled.wait(30)):
                    raise RuntimeError("a client could not reach the server")
        scheduler = _scheduler(home, pipelines)
        store = _store(home)
        _wait_for(store, "noop10", runs)
        stop.set()
        tries = [
            t for run in store.list_runs("noop10", limit=runs) for t in store.get_tries(run.run_id)
        ]
        live_running = sum(run.state == "running" for run in store.list_runs("live"))
        store.close()
        first = min(t.started_at for t in tries)
        last = max(t.ended_at for t in tries)
        return {
            "throughput": len(tries) / (last - first).total_seconds(),
            "live_running": live_running,
            "polls": sum(w.polls for w in watchers),
            "poll_errors": sum(w.poll_errors for w in watchers),
            "events": sum(w.events for w in watchers),
        }
    finally:
        stop.set()
        for process in (scheduler, server):
            if process is not None:
                process.send_signal(signal.SIGTERM)
        for process in (scheduler, server):
            if process is not None:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
        for watcher in watchers:
            for thread in watcher.threads:
                thread.join(timeout=5)
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, samples: dict[str, list[dict[str, Any]]]) -> str:
    plain = statistics.median(s["throughput"] for s in samples["unwatched"])
    watched = statistics.median(s["throughput"] for s in samples["watched"])
    change = (watched - plain) / plain
    verdict = "met" if change >= -TARGET_DROP else "**missed**"
    polls = sum(s["polls"] for s in samples["watched"])
    errors = sum(s["poll_errors"] for s in samples["watched"])
    events = sum(s["events"] for s in samples["watched"])
    spread = {
        mode: ", ".join(f"{s['throughput']:.0f}" for s in found) for mode, found in samples.items()
    }
    command = "bench/scheduler_watched.py"
    if args.runs != 1000 or args.repeats != 5:
        command += f" --runs {args.runs} --repeats {args.repeats}"
    return (
        f"{BEGIN}\n\nProduced by `.venv/bin/python {command}` on "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} ({os.cpu_count()} CPUs, load "
        f"average {args.load_before:.2f} before, {os.getloadavg()[0]:.2f} at the end).\n\n"
        f"| {args.runs} runs × 10 no-op tasks, {LIVE_RUNS} live runs | Median "
        "(task instances/s) | Repeats |\n|---|---:|---|\n"
        f"| unwatched | {plain:.0f} | {spread['unwatched']} |\n"
        f"| watched by {LIVE_RUNS} clients (events stream + states once a second) | "
        f"{watched:.0f} | {spread['watched']} |\n\n"
        f"Change: {change:+.1%} (target: no drop of more than {TARGET_DROP:.0%}: {verdict}). "
        f"The clients made {polls} polls ({errors} failed) and read {events} events.\n\n" + END
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1000, help="no-op runs per repeat")
    parser.add_argument("--json", action="store_true", help="print JSON, leave the docs alone")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    samples: dict[str, list[dict[str, Any]]] = {"unwatched": [], "watched": []}
    for repeat in range(args.repeats):
        for mode in ("unwatched", "watched"):
            sample = measure(args.runs, watched=mode == "watched")
            samples[mode].append(sample)
            print(f"repeat {repeat + 1} {mode}: {json.dumps(sample)}", file=sys.stderr)
    if args.json:
        print(json.dumps(samples))
        return
    text = report(args, samples)
    page = DOC.read_text()
    if BEGIN in page:
        page = page[: page.index(BEGIN)] + text + page[page.index(END) + len(END) :]
    else:
        marker = "<!-- scheduler-bench:end -->"
        at = page.index(marker) + len(marker)
        page = page[:at] + "\n\n" + text + page[at:]
    DOC.write_text(page)
    print(text)


if __name__ == "__main__":
    main()
