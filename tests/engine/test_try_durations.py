"""A try's recorded duration is how long it ran, also when it crashed or timed out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from headwater import pipeline, task
from headwater.config import Settings
from headwater.runtime import Runtime


@task
def crashes() -> None:
    time.sleep(0.3)
    os._exit(3)  # the worker process dies: the engine only sees its socket close


@task(timeout=0.3)
def overruns() -> None:
    time.sleep(5)


@pipeline
def unlucky() -> None:
    crashes()
    overruns()


def test_crashed_and_timed_out_tries_record_their_real_duration(tmp_path: Path) -> None:
    runtime = Runtime(Settings.for_home(tmp_path))
    try:
        run = runtime.run(unlucky, executor="process")
        tries = {t.task_id: t for t in runtime.store.get_tries(run.run_id)}
    finally:
        runtime.close()

    crashed, timed_out = tries["crashes"], tries["overruns"]
    assert crashed.error is not None
    assert crashed.error.startswith("WorkerCrashedError")
    assert crashed.duration is not None
    assert crashed.duration >= 0.3
    assert timed_out.error is not None
    assert "TaskTimeoutError" in timed_out.error
    assert timed_out.duration is not None
    assert 0.3 <= timed_out.duration < 5
