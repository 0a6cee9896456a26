"""Making runs, and preparing finished runs to run again (retry, clear)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from headwater.clock import Clock
from headwater.engine.states import CANCELLED, RunState, TaskState, run_sources
from headwater.errors import ConfigError, NotFoundError
from headwater.graph.plan import ExecutionPlan, PlanNode
from headwater.schedules.intervals import DataInterval, manual_interval
from headwater.store.base import StateStore
from headwater.store.records import (
    Batch,
    Change,
    Claim,
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
    """Store the pipeline's description and serialized graph.

    The graph carries the alert options (``alerting``) too, so that processes without
    the definition (a server, the alert watchers) can read them.
    """
    schedule = pipeline.schedule
    graph = pipeline.plan.describe()
    graph["alerting"] = alerting_options(pipeline)
    asset_keys = getattr(pipeline, "asset_keys", None)
    if asset_keys is not None:  # an asset pipeline: which task materializes which asset
        partitions = getattr(pipeline, "partitions", None)
        graph["assets"] = ["/".join(key) for key in asset_keys]
        graph["partitions"] = None if partitions is None else partitions.to_json()
    store.upsert_pipeline(
        PipelineRecord(
            pipeline_id=pipeline.pipeline_id,
            source_file=pipeline.source_file,
            description=pipeline.description,
            schedule=None if schedule is None else str(schedule),
            timezone=pipeline.timezone,
            graph=graph,
            updated_at=now,
        )
    )


def alerting_options(pipeline: Any) -> dict[str, Any]:
    """A pipeline's alert channels, deadline and freshness, as stored with its graph."""
    deadline = getattr(pipeline, "deadline", None)
    freshness = getattr(pipeline, "freshness", None)
    schedule = pipeline.schedule
    start = getattr(pipeline, "start", None)
    return {
        "alerts": list(getattr(pipeline, "alerts", ())),
        "deadline_seconds": None if deadline is None else deadline.total_seconds(),
        "freshness_seconds": None if freshness is None else freshness.total_seconds(),
        "schedule_seconds": schedule.total_seconds() if isinstance(schedule, timedelta) else None,
        "start": None if start is None else start.isoformat(),
    }


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
    partition_key: str | None = None,
) -> RunRecord:
    """Record a new queued run of ``pipeline`` with every task instance in state none.

    A run of a partitioned asset pipeline materializes ``partition_key``; without one,
    the newest partition complete when its data interval ends.
    """
    now = clock.now()
    if interval is None:
        interval = manual_interval(
            pipeline.schedule, pipeline.zone, now=now, logical_date=logical_date
        )
    partition_for = getattr(pipeline, "partition_for", None)
    if partition_key is None and partition_for is not None:
        partition_key = partition_for(interval.end)
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
        lease_generation=1 if owner is not None else 0,
        priority=priority,
        backfill_id=backfill_id,
        partition_key=partition_key,
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


InstanceRef = tuple[int, int]  # (node index, map index) of a task instance
_DECIDED_WITHOUT_RUNNING = frozenset({TaskState.SKIPPED.value, TaskState.UPSTREAM_FAILED.value})


@dataclass(slots=True)
class ResetScope:
    """What a repair resets: whole tasks, and single instances of mapped tasks."""

    nodes: set[int] = field(default_factory=set)
    instances: set[InstanceRef] = field(default_factory=set)

    def task_ids(self, plan: ExecutionPlan) -> list[str]:
        """The labels of what is reset (``task``, ``task[3]``), sorted."""
        labels = {plan.nodes[i].task_id for i in self.nodes}
        labels |= {
            f"{plan.nodes[n].task_id}[{m}]" for n, m in self.instances if n not in self.nodes
        }
        return sorted(labels)


def downstream_scope(plan: ExecutionPlan, seeds: ResetScope) -> ResetScope:
    """``seeds`` and everything below them.

    Below a whole task, every downstream task is whole. Below an instance of a mapped
    task: the same item of the tasks mapped item by item over it (and so on down), and
    every other downstream task whole.
    """
    scope = ResetScope(instances=set(seeds.instances))
    scope.nodes = set(seeds.nodes) | plan.descendants(sorted(seeds.nodes))
    stack = list(seeds.instances)
    while stack:
        index, map_index = stack.pop()
        node = plan.nodes[index]
        for child in node.downstream:
            if child in node.per_item_downstream:
                if (child, map_index) not in scope.instances:
                    scope.instances.add((child, map_index))
                    stack.append((child, map_index))
            elif child not in scope.nodes:
                scope.nodes.add(child)
                scope.nodes |= plan.descendants([child])
    scope.instances = {(n, m) for n, m in scope.instances if n not in scope.nodes}
    return scope


def _reset_changes(
    run_id: str,
    plan: ExecutionPlan,
    records: Iterable[TaskInstanceRecord],
    scope: ResetScope,
) -> list[Change]:
    """Changes that move what ``scope`` names back to ``none``, with fresh tries.

    A mapped task reset as a whole goes back to its unexpanded placeholder, so it maps
    again over what its upstream returns this time; a single instance is reset alone.
    """
    changes: list[Change] = []
    by_task: dict[str, list[TaskInstanceRecord]] = {}
    for record in records:
        by_task.setdefault(record.task_id, []).append(record)
    for index in sorted(scope.nodes):
        node = plan.nodes[index]
        task_records = by_task.get(node.task_id, [])
        expanded = [r for r in task_records if r.map_index >= 0]
        if expanded:
            tries = max(r.try_number for r in expanded)
            changes.append(
                ResetMapped(
                    run_id=run_id,
                    task_id=node.task_id,
                    try_number=tries,
                    max_tries=tries + node.options.retries + 1,
                )
            )
            continue
        changes.extend(_clear(run_id, node, r) for r in task_records if r.state != "none")
    for index, map_index in sorted(scope.instances):
        node = plan.nodes[index]
        for record in by_task.get(node.task_id, []):
            if record.map_index == map_index and record.state != TaskState.NONE.value:
                changes.append(_clear(run_id, node, record))
    return changes


def _clear(run_id: str, node: PlanNode, record: TaskInstanceRecord) -> SetState:
    return SetState(
        run_id=run_id,
        task_id=record.task_id,
        map_index=record.map_index,
        expected=record.state,
        state=TaskState.NONE.value,
        max_tries=record.try_number + node.options.retries + 1,
        ended_at=None,
    )


def _apply_reset(
    store: StateStore,
    run: RunRecord,
    plan: ExecutionPlan,
    scope: ResetScope,
    params: dict[str, Any] | None = None,
    *,
    backfill_id: str | None = None,
    priority: int | None = None,
    claim: Claim | None = None,
) -> list[str]:
    instances = store.get_task_instances(run.run_id)
    changes = _reset_changes(run.run_id, plan, instances, scope)
    store.apply(
        Batch(
            changes=changes,
            run_update=RunUpdate(
                run_id=run.run_id,
                expected=run_sources(RunState.QUEUED, staying=True),
                state=RunState.QUEUED.value,
                clear_ended_at=True,
                clear_started_at=True,  # its times describe the attempt to come
                params=params,
                backfill_id=backfill_id,
                priority=priority,
                claim=claim,
            ),
        )
    )
    return scope.task_ids(plan)


def _known_instances(
    plan: ExecutionPlan, records: Iterable[TaskInstanceRecord]
) -> dict[InstanceRef, TaskInstanceRecord]:
    index_by_id = plan.index_by_id
    return {(index_by_id[r.task_id], r.map_index): r for r in records if r.task_id in index_by_id}


def prepare_retry(
    store: StateStore, plan: ExecutionPlan, run_id: str, *, claim: Claim | None = None
) -> list[str]:
    """Reset the failed and upstream-failed instances of a finished run, and all below them.

    The instances a cancel skipped before they started count as failed here.

    Everything downstream of them is reset whatever its state (an ``all_done`` notifier
    reports the repaired outcome); tasks elsewhere that succeeded are left alone. For a
    mapped task only the items that failed run again, with the same items of the tasks
    mapped item by item below them. With ``claim``, the run is claimed in the same
    transaction, so that no scheduler takes it before its claimer drives it. Returns the
    labels of what was reset.
    """
    run = store.get_run(run_id)
    _ensure_not_running(run)
    known = _known_instances(plan, store.get_task_instances(run_id))
    seeds = ResetScope()
    for (index, map_index), record in known.items():
        if record.state not in (
            TaskState.FAILED.value,
            TaskState.UPSTREAM_FAILED.value,
        ) and not _skipped_by_cancel(record):
            continue
        if map_index >= 0:
            seeds.instances.add((index, map_index))
        else:
            seeds.nodes.add(index)
    if not seeds.nodes and not seeds.instances:
        return []
    return _apply_reset(store, run, plan, downstream_scope(plan, seeds), claim=claim)


def _skipped_by_cancel(record: TaskInstanceRecord) -> bool:
    """An instance a cancel skipped before it started: a retry runs it (as if failed)."""
    return record.state == TaskState.SKIPPED.value and (record.error or "").startswith(CANCELLED)


def parse_instance_label(text: str) -> tuple[str, int | None]:
    """``extract`` -> (extract, None); ``transform[2]`` -> (transform, 2)."""
    match = re.fullmatch(r"(.+)\[(\d+)\]", text)
    return (match.group(1), int(match.group(2))) if match else (text, None)


def prepare_clear(
    store: StateStore,
    plan: ExecutionPlan,
    run_id: str,
    task_ids: list[str],
    *,
    downstream: bool = False,
    claim: Claim | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Reset the given tasks (``task``, or ``task[i]`` for one item) to run again.

    With ``downstream``, everything below them is reset too, whatever its state; without,
    only the tasks below them that never ran because of their outcome (``skipped``,
    ``upstream_failed``), so that the run can end differently now. Returns the labels of
    what was reset (with ``dry_run``, of what would be, changing nothing).
    """
    run = store.get_run(run_id)
    _ensure_not_running(run)
    known = _known_instances(plan, store.get_task_instances(run_id))
    seeds = ResetScope()
    unknown = []
    for text in task_ids:
        task_id, map_index = parse_instance_label(text)
        index = plan.index_by_id.get(task_id)
        if index is None or (map_index is not None and (index, map_index) not in known):
            unknown.append(text)
        elif map_index is None:
            seeds.nodes.add(index)
        else:
            seeds.instances.add((index, map_index))
    if unknown:
        raise NotFoundError(
            f"run {run_id!r} of pipeline {run.pipeline_id!r} has no task "
            f"{', '.join(map(repr, unknown))}; its tasks are: {', '.join(plan.index_by_id)}"
        )
    below = downstream_scope(plan, seeds)
    if not downstream:
        below = _decided_without_running(plan, known, below, seeds)
    if dry_run:
        return below.task_ids(plan)
    return _apply_reset(store, run, plan, below, claim=claim)


def _decided_without_running(
    plan: ExecutionPlan,
    known: dict[InstanceRef, TaskInstanceRecord],
    below: ResetScope,
    seeds: ResetScope,
) -> ResetScope:
    """The seeds, and what ``below`` holds that ended skipped or upstream_failed."""
    kept = ResetScope(nodes=set(seeds.nodes), instances=set(seeds.instances))
    for index in below.nodes - seeds.nodes:
        states = {r.state for (n, _), r in known.items() if n == index}
        if states & _DECIDED_WITHOUT_RUNNING:
            kept.nodes.add(index)
    for key in below.instances - seeds.instances:
        record = known.get(key)
        if record is not None and record.state in _DECIDED_WITHOUT_RUNNING:
            kept.instances.add(key)
    kept.instances = {(n, m) for n, m in kept.instances if n not in kept.nodes}
    return kept


def prepare_rerun(
    store: StateStore,
    pipeline: Any,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    backfill_id: str | None = None,
    priority: int | None = None,
    claim: Claim | None = None,
) -> RunRecord:
    """Reset every task of a finished run, with new params, so the interval runs again.

    Runs are unique per logical date: running a date again replaces that run's state
    (its tries stay in the history) instead of creating a second run. With
    ``backfill_id`` (and ``priority``), the run now belongs to that backfill, and with
    ``claim`` to its claimer, in the same transaction as the reset.
    """
    run = store.get_run(run_id)
    _ensure_not_running(run)
    merged = {**pipeline.params, **(params or {})}
    _apply_reset(
        store,
        run,
        pipeline.plan,
        ResetScope(nodes=set(range(len(pipeline.plan.nodes)))),
        merged,
        backfill_id=backfill_id,
        priority=priority,
        claim=claim,
    )
    return store.get_run(run_id)
