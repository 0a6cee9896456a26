"""Alert latency: ``.venv/bin/python bench/alerts.py [-n SAMPLES]``.

A real ``headwater scheduler`` runs a pipeline scheduled every second whose only task
fails at once; a local webhook receiver (http.server on 127.0.0.1) records when each
alert arrives. The latency of an alert is its arrival time minus the run's ``ended_at``
(the moment the failure was committed, carried in the alert), both read from the same
machine's clock. Prints p50, p99 and max over the samples, with SQLite in a fresh
HEADWATER_HOME (or ``--database-url`` for an existing PostgreSQL database).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PIPELINE = """\
from datetime import datetime, timedelta, UTC
from headwater import pipeline, task

@task
def extract() -> None:
    raise RuntimeError("the source answered 503")

@pipeline(schedule=timedelta(seconds=1), start=datetime.now(UTC), alerts=["bench"])
def failing_every_second() -> None:
    extract()
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--samples", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    latencies: list[float] = []
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived = datetime.now(UTC)
            body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["content-length"])))
            ended = datetime.fromisoformat(body["data"]["ended_at"])
            latencies.append((arrived - ended).total_seconds())
            if len(latencies) >= args.samples:
                done.set()
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *items: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        (root / "pipelines").mkdir()
        (root / "pipelines" / "failing.py").write_text(PIPELINE)
        home = root / "home"
        home.mkdir(mode=0o700)
        port = server.server_address[1]
        (home / "headwater.toml").write_text(
            f'[alerts.channels.bench]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/"\n'
            "rate_limit = 100\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        env["HEADWATER_HOME"] = str(home)
        if args.database_url:
            env["HEADWATER_DATABASE_URL"] = args.database_url
        command = [sys.executable, "-m", "headwater", "scheduler", "--pipelines"]
        scheduler = subprocess.Popen(
            [*command, str(root / "pipelines"), "--tick", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        try:
            finished = done.wait(timeout=60 + 2 * args.samples)
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=60)
            server.shutdown()
    if not finished:
        print(f"only {len(latencies)} alerts arrived", file=sys.stderr)
        return 1
    samples = latencies[: args.samples]
    print(f"alert latency over {len(samples)} failed runs ({time.monotonic() - started:.0f} s):")
    print(
        f"p50 {statistics.median(samples) * 1000:.0f} ms, "
        f"p99 {percentile(samples, 0.99) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
