"""Making runs, and preparing finished runs to run again (retry, clear)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from headwater.engine.states import FINAL_TASK_STATES, RunState, TaskState
from headwater.errors import ConfigError, NotFoundError
from headwater.graph.plan import ExecutionPlan
from headwater.scheduling.clock import Clock
from headwater.scheduling.intervals import DataInterval, manual_interval
from headwater.store.base import StateStore
from headwater.store.records import (
    Batch,
    Change,
    PipelineRecord,
    ResetMapped,
    RunRecord,
    RunUpdate,
    SetState,
    TaskInstanceRecord,
)


def new_run_id(run_type: str, logical_date: datetime) -> str:
    """``manual__20260105T000000__3fa2c1``: readable, sortable by date, unique."""
    d = logical_date  # the fields by hand: strftime's %Y does not pad years before 1000
    stamp = f"{d.year:04d}{d.month:02d}{d.day:02d}T{d.hour:02d}{d.minute:02d}{d.second:02d}"
    return f"{run_type}__{stamp}__{secrets.token_hex(3)}"


def record_pipeline(store: StateStore, pipeline: Any, now: datetime) -> None:
    """Store the pipeline's description and serialized graph."""
    schedule = pipeline.schedule
    store.upsert_pipeline(
        PipelineRecord(
            pipeline_id=pipeline.pipeline_id,
            source_file=pipeline.source_file,
            description=pipeline.description,
            schedule=None if schedule is None else str(schedule),
            timezone=pipeline.timezone,
            graph=pipeline.plan.describe(),
            updated_at=now,
        )
    )


def create_run(
    store: StateStore,
    pipeline: Any,
    *,
    clock: Clock,
    logical_date: datetime | date | None = None,
    params: Mapping[str, Any] | None = None,
    run_type: str = "manual",
    triggered_by: str = "cli",
    owner: str | None = None,
    lease_until: datetime | None = None,
    priority: int = 0,
    backfill_id: str | None = None,
    interval: DataInterval | None = None,
    event_key: str | None = None,
) -> RunRecord:
    """Record a new queued run of ``pipeline`` with every task instance in state none."""
    now = clock.now()
    if interval is None:
        interval = manual_interval(
            pipeline.schedule, pipeline.zone, now=now, logical_date=logical_date
        )
    run = RunRecord(
        run_id=new_run_id(run_type, interval.logical_date),
        pipeline_id=pipeline.pipeline_id,
        logical_date=interval.logical_date,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        params={**pipeline.params, **(params or {})},
        state=RunState.QUEUED.value,
        run_type=run_type,
        triggered_by=triggered_by,
        source_file=pipeline.source_file,
        created_at=now,
        owner=owner,
        lease_expires_at=lease_until,
        priority=priority,
        backfill_id=backfill_id,
    )
    record_pipeline(store, pipeline, now)
    store.create_run(
        run,
        [(node.task_id, -1, node.options.retries + 1, 0) for node in pipeline.plan.nodes],
        event_key=event_key,
    )
    return run


def _ensure_not_running(run: RunRecord) -> None:
    if run.state == RunState.RUNNING.value:
        raise ConfigError(
            f"run {run.run_id!r} is still running; wait for it to end, or if the process "
            f"driving it died, continue it with 'headwater resume {run.run_id}'"
        )


def _reset_changes(
    run_id: str,
    plan: ExecutionPlan,
    instances: Iterable[TaskInstanceRecord],
    task_ids: set[str],
) -> list[Change]:
    """Changes that move the given tasks' instances back to ``none`` with fresh tries.

    A mapped task is reset to its unexpanded placeholder, so it maps again over what its
    upstream returns this time.
    """
    changes: list[Change] = []
    by_task: dict[str, list[TaskInstanceRecord]] = {}
    for record in instances:
        by_task.setdefault(record.task_id, []).append(record)
    for task_id in sorted(task_ids):
        node = plan.node(task_id)
        records = by_task.get(task_id, [])
        expanded = [r for r in records if r.map_index >= 0]
        if expanded:
            changes.append(
                ResetMapped(
                    run_id=run_id,
                    task_id=task_id,
                    try_number=max(r.try_number for r in expanded),
                    max_tries=max(r.try_number for r in expanded) + node.options.retries + 1,
                )
            )
            continue
        for record in records:
            if record.state == TaskState.NONE.value:
                continue
            changes.append(
                SetState(
                    run_id=run_id,
                    task_id=task_id,
                    map_index=record.map_index,
                    expected=record.state,
                    state=TaskState.NONE.value,
                    max_tries=record.try_number + node.options.retries + 1,
                    ended_at=None,
                )
            )
    return changes


def _apply_reset(
    store: StateStore,
    run: RunRecord,
    plan: ExecutionPlan,
    task_ids: set[str],
    params: dict[str, Any] | None = None,
    *,
    backfill_id: str | None = None,
    priority: int | None = None,
) -> list[str]:
    instances = store.get_task_instances(run.run_id)
    changes = _reset_changes(run.run_id, plan, instances, task_ids)
    store.apply(
        Batch(
            changes=changes,
            run_update=RunUpdate(
                run_id=run.run_id,
                expected=(RunState.SUCCESS.value, RunState.FAILED.value, RunState.QUEUED.value),
                state=RunState.QUEUED.value,
                clear_ended_at=True,
                params=params,
                backfill_id=backfill_id,
                priority=priority,
            ),
        )
    )
    return sorted(task_ids)


def prepare_retry(store: StateStore, plan: ExecutionPlan, run_id: str) -> list[str]:
    """Reset the failed and upstream-failed tasks of a finished run, and what they block.

    Tasks that succeeded are left alone. Returns the ids of the reset tasks.
    """
    run = store.get_run(run_id)
    _ensure_not_running(run)
    instances = store.get_task_instances(run_id)
    failed = {
        r.task_id
        for r in instances
        if r.state in (TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value)
        and r.task_id in plan.index_by_id
    }
    below = plan.descendants([plan.index_by_id[t] for t in failed])
    not_succeeded = {r.task_id for r in instances if r.state != TaskState.SUCCESS.value}
    reset = failed | {
        plan.nodes[i].task_id for i in below if plan.nodes[i].task_id in not_succeeded
    }
    if not reset:
        return []
    return _apply_reset(store, run, plan, reset)


def prepare_clear(
    store: StateStore,
    plan: ExecutionPlan,
    run_id: str,
    task_ids: list[str],
    *,
    downstream: bool = False,
) -> list[str]:
    """Reset the given tasks (and with ``downstream``, all below them) to run again."""
    run = store.get_run(run_id)
    _ensure_not_running(run)
    unknown = [t for t in task_ids if t not in plan.index_by_id]
    if unknown:
        raise NotFoundError(
            f"run {run_id!r} of pipeline {run.pipeline_id!r} has no task "
            f"{', '.join(map(repr, unknown))}; its tasks are: {', '.join(plan.index_by_id)}"
        )
    reset = set(task_ids)
    if downstream:
        below = plan.descendants([plan.index_by_id[t] for t in task_ids])
        reset |= {plan.nodes[i].task_id for i in below}
    return _apply_reset(store, run, plan, reset)


def prepare_rerun(
    store: StateStore,
    pipeline: Any,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    backfill_id: str | None = None,
    priority: int | None = None,
) -> RunRecord:
    """Reset every task of a finished run, with new params, so the interval runs again.

    Runs are unique per logical date: running a date again replaces that run's state
    (its tries stay in the history) instead of creating a second run. With
    ``backfill_id`` (and ``priority``), the run now belongs to that backfill, in the same
    transaction as the reset.
    """
    run = store.get_run(run_id)
    _ensure_not_running(run)
    merged = {**pipeline.params, **(params or {})}
    _apply_reset(
        store,
        run,
        pipeline.plan,
        set(pipeline.plan.index_by_id),
        merged,
        backfill_id=backfill_id,
        priority=priority,
    )
    return store.get_run(run_id)


def is_final(state: str) -> bool:
    return TaskState(state) in FINAL_TASK_STATES
