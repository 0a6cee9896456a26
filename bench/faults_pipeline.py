"""The pipeline of ``bench/faults.py``: 30 tasks, each recording its executions in ``marks``.

A chain of 8, a fan-out to 8 and a fan-in, a task mapped over 4 items, a task whose first
try fails, 6 tasks in the pool ``faults``; each task sleeps 50 to 500 ms. Every execution
appends ``run task map_index try pid start end`` to the ``marks`` file next to this one
(``end`` is ``-`` in the line written when it starts), fsync'ed, so that what ran is
known even when its process is killed. With a ``schedule.json`` next to it (the scheduler
modes), the pipeline runs on a short schedule with catchup from ``start`` to ``end``.
"""

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from headwater import Context, pipeline, task

MARKS = Path(__file__).with_name("marks")
SCHEDULE = Path(__file__).with_name("schedule.json")
CHAIN = (0.1, 0.3, 0.05, 0.2, 0.15, 0.25, 0.1, 0.05)
FAN = (0.5, 0.05, 0.3, 0.15, 0.4, 0.2, 0.35, 0.1)
POOLED = (0.3, 0.2, 0.4, 0.25, 0.35, 0.2)


def _mark(ctx: Context, started: float, ended: float | None) -> None:
    end = "-" if ended is None else f"{ended:.6f}"
    line = (
        f"{ctx.run_id} {ctx.task_id} {ctx.map_index} {ctx.try_number} {os.getpid()} "
        f"{started:.6f} {end}\n"
    )
    fd = os.open(MARKS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one write: lines of concurrent tasks never mix
        os.fsync(fd)
    finally:
        os.close(fd)


def work(ctx: Context, seconds: float) -> None:
    started = time.time()
    _mark(ctx, started, None)
    try:
        time.sleep(seconds)
    finally:  # also when the engine stops the try (a timeout, a run let go)
        _mark(ctx, started, time.time())


@task
def step(*upstream: object, ctx: Context, seconds: float) -> int:
    work(ctx, seconds)
    return 1


@task
def items(ctx: Context) -> list[float]:
    work(ctx, 0.05)
    return [0.1, 0.4, 0.2, 0.3]


@task
def item(seconds: float, ctx: Context) -> float:
    work(ctx, seconds)
    return seconds


@task(retries=2, retry_delay=timedelta(seconds=0.1))
def flaky(ctx: Context) -> int:
    work(ctx, 0.1)
    if ctx.try_number == 1:
        raise ConnectionError("the first try fails on purpose")
    return ctx.try_number


@task(pool="faults")
def pooled(ctx: Context, seconds: float) -> int:
    work(ctx, seconds)
    return 1


def schedule_options() -> dict[str, Any]:
    if not SCHEDULE.exists():
        return {}
    given = json.loads(SCHEDULE.read_text())
    return {
        "schedule": timedelta(seconds=given["seconds"]),
        "start": datetime.fromisoformat(given["start"]),
        "end": datetime.fromisoformat(given["end"]),
        "catchup": True,
        "max_active_runs": given["max_active_runs"],
    }


@pipeline(**schedule_options())
def faults() -> None:
    begin = step.override(task_id="begin")(seconds=0.05)
    value = begin
    for index, seconds in enumerate(CHAIN):
        value = step.override(task_id=f"chain_{index}")(value, seconds=seconds)
    fan_out = step.override(task_id="fan_out")(begin, seconds=0.05)
    fanned = [
        step.override(task_id=f"fan_{index}")(fan_out, seconds=seconds)
        for index, seconds in enumerate(FAN)
    ]
    fan_in = step.override(task_id="fan_in")(*fanned, seconds=0.05)
    total = step.override(task_id="total")(item.map(items()), seconds=0.05)
    pools = [
        pooled.override(task_id=f"pooled_{index}")(seconds=seconds)
        for index, seconds in enumerate(POOLED)
    ]
    step.override(task_id="end")(value, fan_in, total, flaky(), *pools, seconds=0.05)
