"""The checks of ``bench/faults.py``: what the store and the marks say after the faults.

Each check returns its offenders, one line each naming the run, the task and the try,
so that a counter that is not 0 explains itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from headwater.store.records import RunRecord, TryRecord
from headwater.store.sql.schema import pool_slots
from headwater.store.sql.store import SqlStore

FINAL = ("success", "failed")
POOLED_PREFIX = "pooled_"  # the tasks of the pool (see faults_pipeline.py)
InstanceKey = tuple[str, str, int]  # run id, task id, map index
Deaths = Mapping[int, float]  # pid -> when that process was certainly gone (epoch s)
Frozen = Mapping[int, Sequence[tuple[float, float]]]  # pid -> its SIGSTOP..SIGCONT windows

COUNTERS = {  # described in docs/benchmarks.md, "Fault injection"
    "runs_lost": "runs lost",
    "runs_failed": "runs ended failed",
    "intervals_wrong": "intervals duplicated or skipped",
    "executed_after_success": "tasks executed after their success was recorded",
    "success_unexecuted": "successful tries with no finished execution",
    "pool_over_limit": "pool executions above the limit",
    "slots_leaked": "pool slots leaked",
    "runs_left_running": "runs left running or queued",
}


@dataclass(frozen=True)
class Execution:
    """One execution of a task's code, from the marks; ``end`` None if it never ended."""

    run_id: str
    task_id: str
    map_index: int
    try_number: int
    pid: int
    start: float
    end: float | None

    @property
    def instance(self) -> InstanceKey:
        return (self.run_id, self.task_id, self.map_index)

    def __str__(self) -> str:
        end = "never ended" if self.end is None else f"ended {stamp(self.end)}"
        return (
            f"run {self.run_id} task {self.task_id}[{self.map_index}] try {self.try_number} "
            f"pid {self.pid}: started {stamp(self.start)}, {end}"
        )


def stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S.%f")


def read_marks(path: Path) -> list[Execution]:
    """The executions in the marks file: a start line, then an end line if it ended."""
    if not path.exists():
        return []
    ends: dict[tuple[str, ...], float | None] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) != 7:
            continue  # not written whole: its process was killed writing it
        key = tuple(fields[:6])  # an execution: run, task, map index, try, pid, start
        ends[key] = ends.get(key) if fields[6] == "-" else float(fields[6])
    return [
        Execution(key[0], key[1], int(key[2]), int(key[3]), int(key[4]), float(key[5]), end)
        for key, end in ends.items()
    ]


def check_runs(runs: Sequence[RunRecord], dates: Sequence[datetime]) -> dict[str, list[str]]:
    """Each date exactly one run, final and successful; no run for another date."""
    by_date: dict[datetime, list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_date[run.logical_date].append(run)
    lost, wrong = [], []
    for date in dates:
        found = by_date.get(date, [])
        if not found:
            lost.append(f"{date.isoformat()}: no run")
            wrong.append(f"{date.isoformat()}: skipped (no run)")
        elif len(found) > 1:
            wrong.append(f"{date.isoformat()}: {len(found)} runs: {[r.run_id for r in found]}")
        lost.extend(f"run {r.run_id}: {r.state}" for r in found if r.state not in FINAL)
    expected = set(dates)
    wrong.extend(
        f"run {run.run_id}: {run.logical_date.isoformat()} is not a date to run"
        for run in runs
        if run.logical_date not in expected
    )
    failed = [f"run {run.run_id}: failed" for run in runs if run.state == "failed"]
    return {"runs_lost": lost, "intervals_wrong": wrong, "runs_failed": failed}


def check_after_success(
    successes: Mapping[InstanceKey, TryRecord], executions: Sequence[Execution]
) -> list[str]:
    """Executions that started after their instance's successful try had ended.

    The try's end is recorded before it is committed, so this also counts an execution
    that started between the two: a second execution all the same.
    """
    found = []
    for execution in executions:
        success = successes.get(execution.instance)
        if success is None or success.ended_at is None:
            continue
        if execution.start > success.ended_at.timestamp():
            found.append(
                f"{execution}; its success (try {success.try_number}) ended "
                f"{stamp(success.ended_at.timestamp())}"
            )
    return found


def check_successes_executed(
    successes: Mapping[InstanceKey, TryRecord], executions: Sequence[Execution]
) -> list[str]:
    """Successful tries whose code did not run to its end before it: a run that lies."""
    finished = {(*e.instance, e.try_number): e.end for e in executions if e.end is not None}
    found = []
    for (run_id, task_id, map_index), success in successes.items():
        end = finished.get((run_id, task_id, map_index, success.try_number))
        if end is None or success.ended_at is None or end > success.ended_at.timestamp():
            found.append(
                f"run {run_id} task {task_id}[{map_index}] try {success.try_number}: success "
                f"recorded, but its execution {'ended later' if end else 'never ended'}"
            )
    return found


def running_spans(
    start: float, stop: float, frozen: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """``[start, stop]`` without the windows in which its process was frozen (SIGSTOP)."""
    spans, begin = [], start
    for stopped, resumed in sorted(frozen):
        if resumed <= begin or stopped >= stop:
            continue
        if stopped > begin:
            spans.append((begin, stopped))
        begin = max(begin, resumed)
    if begin < stop:
        spans.append((begin, stop))
    return spans


def check_pool(
    executions: Sequence[Execution],
    slots: int,
    deaths: Deaths,
    end: float,
    frozen: Frozen | None = None,
) -> list[str]:
    """Pool executions that started (or thawed) while ``slots`` others were running.

    An execution without an end ran until its process died (or, if its process was
    never killed, until ``end``, the end of the experiment); it does not run while its
    process is frozen (``frozen``).
    """
    events = []
    for execution in executions:
        if execution.task_id.startswith(POOLED_PREFIX):
            stop = execution.end if execution.end is not None else deaths.get(execution.pid, end)
            for begin, until in running_spans(
                execution.start, stop, (frozen or {}).get(execution.pid, ())
            ):
                events.append((begin, 1, execution))
                events.append((until, 0, execution))  # an end sorts before a start
    running: set[Execution] = set()
    found = []
    for _, kind, execution in sorted(events, key=lambda event: (event[0], event[1])):
        if kind == 0:
            running.discard(execution)
            continue
        if len(running) >= slots:
            others = "; ".join(str(other) for other in sorted(running, key=lambda e: e.start))
            found.append(f"{execution} while running: {others}")
        running.add(execution)
    return found


def check_store(store: SqlStore, runs: Sequence[RunRecord]) -> dict[str, list[str]]:
    """No pool slot held, no row left in ``pool_slots``, no run left running or queued."""
    now = datetime.now(UTC)
    leaked = [
        f"pool {pool.name}: {pool.in_use} slot(s) in use"
        for pool in store.list_pools(now)
        if pool.in_use
    ]
    with store.engine.connect() as connection:
        leaked.extend(
            f"pool_slots row: pool {row.pool} run {row.run_id} task {row.task_id}"
            f"[{row.map_index}] owner {row.owner} lease until {row.lease_expires_at}"
            for row in connection.execute(sa.select(pool_slots))
        )
    left = [
        f"run {run.run_id} ({run.logical_date.isoformat()}): {run.state}, owner {run.owner}"
        for run in runs
        if run.state in ("running", "queued")
    ]
    return {"slots_leaked": leaked, "runs_left_running": left}


def check_all(
    store: SqlStore,
    pipeline_id: str,
    dates: Sequence[datetime],
    executions: Sequence[Execution],
    *,
    slots: int,
    deaths: Deaths,
    frozen: Frozen,
    end: float,
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Every check: the offenders by counter, and what was counted."""
    runs = store.list_runs(pipeline_id, limit=1_000_000)
    tries = [t for run in runs for t in store.get_tries(run.run_id)]
    found = {**check_runs(runs, dates), **check_store(store, runs)}
    successes = {(t.run_id, t.task_id, t.map_index): t for t in tries if t.state == "success"}
    found["executed_after_success"] = check_after_success(successes, executions)
    found["success_unexecuted"] = check_successes_executed(successes, executions)
    found["pool_over_limit"] = check_pool(executions, slots, deaths, end, frozen)
    totals = {
        "runs": len(runs),
        "tries": len(tries),
        "executions": len(executions),
        "executions_killed": sum(e.end is None for e in executions),
    }
    return {name: found[name] for name in COUNTERS}, totals
