"""Scenario: the catchup stampede, end to end through the real scheduler.

A daily pipeline whose `start` is 180 days ago is deployed. With the defaults exactly one
run is created. With catchup on, max_active_runs=16 and its extract task in a pool of 2
slots, never more than 2 extract tries run at once, and all 180 intervals end with
exactly one successful run each.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from headwater.config import Settings
from headwater.store.sql.store import SqlStore
from tests.cli.conftest import Headwater, command_env
from tests.forked_commands import CommandServer

PIPELINE = """\
import time
from datetime import datetime, timedelta, timezone
from headwater import pipeline, task

START = (datetime.now(timezone.utc) - timedelta(days=180)).strftime("%Y-%m-%d")

@task(pool="source_db", retries=0)
def extract() -> int:
    time.sleep(0.02)  # a query against the source database
    return 1

@task
def load(rows: int) -> int:
    return rows

@pipeline(schedule="@daily", start=START, OPTIONS)
def orders() -> None:
    load(extract())
"""


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.1)


def start_scheduler(
    server: CommandServer, tmp_path: Path, pipelines: Path
) -> subprocess.Popen[bytes]:
    with (tmp_path / "scheduler.log").open("w") as log:
        return server.popen(
            [
                "scheduler",
                "--pipelines",
                str(pipelines),
                "--tick",
                "0.1",
            ],
            cwd=tmp_path,
            env=command_env(tmp_path / "home"),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    current = peak = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
        current += step
        peak = max(peak, current)
    return peak


def test_defaults_create_exactly_one_run(
    tmp_path: Path, headwater: Headwater, command_server: CommandServer
) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "orders.py").write_text(PIPELINE.replace(", OPTIONS", ""))
    assert headwater("pools", "set", "source_db", "2").code == 0
    scheduler = start_scheduler(command_server, tmp_path, pipelines)
    store = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    try:
        wait_until(lambda: any(r.state == "success" for r in store.list_runs("orders")), 60)
        time.sleep(1.0)  # several more ticks: still one run
        stop(scheduler)
        runs = store.list_runs("orders", limit=1000)
    finally:
        store.close()
    assert len(runs) == 1
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    assert runs[0].logical_date.date() == yesterday


def test_catchup_in_a_pool_of_two_never_opens_more_than_two_connections(
    tmp_path: Path, headwater: Headwater, command_server: CommandServer
) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    source = PIPELINE.replace("OPTIONS", "catchup=True, max_active_runs=16")
    (pipelines / "orders.py").write_text(source)
    assert headwater("pools", "set", "source_db", "2").code == 0
    scheduler = start_scheduler(command_server, tmp_path, pipelines)
    store = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    try:

        def all_done() -> bool:
            runs = store.list_runs("orders", limit=1000)
            return len(runs) == 180 and all(r.state == "success" for r in runs)

        wait_until(all_done, 240)
        stop(scheduler)
        runs = store.list_runs("orders", limit=1000)
        extract_tries = [
            (t.started_at, t.ended_at)
            for run in runs
            for t in store.get_tries(run.run_id, "extract")
        ]
    finally:
        store.close()
    dates = [run.logical_date for run in runs]
    assert len(dates) == len(set(dates)) == 180
    assert all(run.state == "success" for run in runs)
    assert len(extract_tries) == 180
    assert all(start is not None and end is not None for start, end in extract_tries)
    assert max_overlap(extract_tries) <= 2  # type: ignore[arg-type]  # checked not None above
