"""The thread executor's default size suits tasks that wait on databases and APIs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from headwater import pipeline, task
from headwater.config import Settings
from headwater.executors.threads import ThreadExecutor, default_thread_count
from headwater.runtime import Runtime

SLEEP = 1.0


@task
def wait_on_io(n: int) -> int:
    time.sleep(SLEEP)  # a query or an HTTP call
    return n


@pipeline
def sixteen_waits() -> None:
    for n in range(16):
        wait_on_io(n)


def test_the_default_is_32_threads_whatever_the_cpus() -> None:
    assert default_thread_count() == 32
    assert ThreadExecutor().max_concurrency == 32


def test_sixteen_waiting_tasks_finish_in_about_one_wait(tmp_path: Path) -> None:
    runtime = Runtime(Settings.for_home(tmp_path))
    try:
        started = time.monotonic()
        run = runtime.run(sixteen_waits, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
        elapsed = time.monotonic() - started
    finally:
        runtime.close()
    assert run.state == "success"
    # all at once: one wait and some overhead; two rounds of waits would take 2 s or more
    assert elapsed < 1.9 * SLEEP, elapsed
