"""Materializing assets from the server: a run for one partition, a backfill for a range.

The REST API's ``POST /api/v1/assets/{key}/materialize`` and the web UI's *Materialize*
and *Backfill partitions* share this, and follow the server's other actions: one
partition (or an unpartitioned asset) gets a queued run, as a trigger does; a range of
partitions is recorded as a backfill of assets, detached, as ``headwater backfill --asset
... --detach`` records it, which a running scheduler carries on a few runs at a time.
Both run the assets (with what is above or below them, if asked) as the ad hoc pipeline
``headwater materialize`` makes (``materialize_pipeline``, recorded with the pipelines
folder as its source): a scheduler builds it again from the asset keys recorded with it
(``PipelineRegistry.resolve``, and ``BackfillPipelines`` for backfills).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.assets.keys import AssetKey, key_string
from headwater.clock import Clock
from headwater.engine.runs import create_run, prepare_rerun
from headwater.engine.states import RunState
from headwater.errors import ConfigError, DefinitionError, NotFoundError, RunExistsError
from headwater.schedules.timetables import DataInterval
from headwater.scheduling.asset_backfill import (
    AssetReprocess,
    PartitionStep,
    Redo,
    backfill_partitions,
    dynamic_keys,
    partition_interval,
    plan_partitions,
    record_asset_backfill,
    selection_partitions,
    step_json,
)
from headwater.scheduling.backfill import DEFAULT_MAX_ACTIVE_RUNS, Action
from headwater.scheduling.registry import PipelineRegistry
from headwater.store.records import BackfillRecord, RunRecord
from headwater.store.sql.assets import get_asset
from headwater.store.sql.store import SqlStore

_ACTIVE = (RunState.QUEUED.value, RunState.RUNNING.value)
# a run's logical dates tried for a partition that gets a new run each time (see _queue)
_NEW_RUN_ATTEMPTS = 8
# what materializing a range does with partitions materialized already: all again
MATERIALIZE_ALL = AssetReprocess(redo=Redo.ALL)


class NotLoaded(ConfigError):
    """The asset is recorded in the store but this server has not loaded it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterializePlan:
    """The assets to materialize (in order), their pipeline and the partitions asked:
    ``[None]`` for unpartitioned assets; ``is_range`` for a range (a backfill)."""

    pipeline: AssetPipeline
    keys: list[AssetKey]
    partitions: list[str | None]
    is_range: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "pipeline_id": self.pipeline.pipeline_id,
            "assets": [key_string(k) for k in self.keys],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedRun:
    """The run of one partition, and what was done: ``created``, ``rerun`` (the finished
    run of the same time partition reset) or ``active`` (one is queued or running)."""

    partition: str | None
    run: RunRecord
    outcome: str

    def json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "run_id": self.run.run_id,
            "state": self.run.state,
            "outcome": self.outcome,
        }


def loaded_registry(
    registry: PipelineRegistry | None, store: SqlStore, key: str
) -> PipelineRegistry:
    """The server's registry, whose asset graph must define ``key``.

    Raises:
        NotFoundError: neither the folder nor the store knows the asset.
        NotLoaded: the store knows it, but this server did not load it.
    """
    if registry is not None and tuple(key.split("/")) in registry.catalog.graph.assets:
        return registry
    with store.asset_connection() as connection:
        recorded = get_asset(connection, key)
    if recorded is None:
        raise NotFoundError(f"no asset {key!r}; GET /api/v1/assets lists them")
    where = (
        "this server was started without a pipelines folder"
        if registry is None
        else f"no file under {registry.folder} defines it now (or it fails to import)"
    )
    raise NotLoaded(
        f"asset {key!r} is recorded but not loaded: {where}; start the server with "
        "--pipelines pointing at the folder that defines it"
    )


def plan_materialize(
    registry: PipelineRegistry,
    store: SqlStore,
    key: str,
    *,
    partition: str | None = None,
    partitions: str | None = None,
    upstream: bool = False,
    downstream: bool = False,
    now: datetime,
) -> MaterializePlan:
    """What materializing ``key`` (and what is above or below it) asks for.

    Raises:
        ConfigError: a partition for an unpartitioned asset or none for a partitioned
            one, both a partition and a range, a key or range the definition does not
            have (or that has not ended, for a range), assets partitioned differently.
    """
    graph = registry.catalog.graph  # once: the folder may be read again meanwhile
    asset_key = tuple(key.split("/"))
    if asset_key not in graph.assets:
        raise NotLoaded(f"asset {key!r} is no longer defined under {registry.folder}")
    wanted = {asset_key}
    if upstream:
        wanted |= graph.upstream_closure([asset_key])
    if downstream:
        wanted |= graph.downstream_closure([asset_key])
    keys = graph.in_order(wanted)
    try:
        pipeline = materialize_pipeline(graph, keys, source_file=str(registry.folder.resolve()))
    except DefinitionError as exc:
        raise ConfigError(f"{exc}; materialize them one at a time") from None
    definition = pipeline.partitions
    if definition is None:
        if partition or partitions:
            raise ConfigError(f"{key}: not partitioned; leave out partition(s)")
        return MaterializePlan(pipeline=pipeline, keys=keys, partitions=[None])
    if partition and partitions:
        raise ConfigError("give a partition or a range of partitions (FIRST..LAST), not both")
    if not partition and not partitions:
        raise ConfigError(
            f"{key}: partitioned ({definition.describe()}); choose a partition, or a range "
            "FIRST..LAST"
        )
    dynamic = dynamic_keys(store, definition)
    if partition:
        chosen = definition.check_key(partition.strip(), dynamic=dynamic)
        return MaterializePlan(pipeline=pipeline, keys=keys, partitions=[chosen])
    assert partitions is not None
    selection_partitions(graph, keys, [asset_key], key)
    found = backfill_partitions(definition, partitions, now=now, dynamic=dynamic)
    return MaterializePlan(pipeline=pipeline, keys=keys, partitions=list(found), is_range=True)


def plan_steps(
    store: SqlStore, plan: MaterializePlan, reprocess: AssetReprocess, now: datetime
) -> list[dict[str, str | None]]:
    """The dry run: what each partition would get (``run``, ``redo`` or ``skip``), as
    ``headwater backfill --asset --dry-run --json`` shows it."""
    keys = [p for p in plan.partitions if p is not None]
    if not keys:  # unpartitioned: a new run
        return [{"partition_key": None, "status": None, "action": Action.RUN.value}]
    return [
        step_json(s)
        for s in plan_partitions(store, plan.pipeline, keys, reprocess, now=now, since=now)
    ]


def action_counts(steps: list[dict[str, str | None]]) -> dict[str, int]:
    counts = Counter(step["action"] for step in steps)
    return {action.value: counts.get(action.value, 0) for action in Action}


def record_backfill(
    store: SqlStore,
    plan: MaterializePlan,
    *,
    now: datetime,
    reprocess: AssetReprocess = MATERIALIZE_ALL,
    max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS,
) -> tuple[BackfillRecord, list[PartitionStep]]:
    """Record the backfill of a range, detached, for a running scheduler; and its plan."""
    keys = [p for p in plan.partitions if p is not None]
    steps = plan_partitions(store, plan.pipeline, keys, reprocess, now=now, since=now)
    record = record_asset_backfill(
        store,
        plan.pipeline,
        keys,
        now=now,
        reprocess=reprocess,
        max_active_runs=max_active_runs,
    )
    return record, steps


def queue_run(
    store: SqlStore, clock: Clock, plan: MaterializePlan, *, triggered_by: str
) -> QueuedRun:
    """A queued run of the one partition of ``plan`` (or of unpartitioned assets), for a
    scheduler to drive. A time partition's run covers its window and is the same run
    each time: a finished one is reset, a queued or running one left alone. Other
    partitions (and unpartitioned assets) get a new run each time, dated now."""
    pipeline, (partition,) = plan.pipeline, plan.partitions
    definition = pipeline.partitions
    now = clock.now()
    for attempt in range(_NEW_RUN_ATTEMPTS):
        if definition is None or partition is None:
            start = now + timedelta(microseconds=attempt)
            interval = DataInterval(start=start, end=start)
        else:
            interval = partition_interval(definition, partition, now=now, offset=attempt)
        try:
            run = create_run(
                store,
                pipeline,
                clock=clock,
                interval=interval,
                partition_key=partition,
                triggered_by=triggered_by,
            )
        except RunExistsError as exists:
            existing = store.get_run(exists.run_id)
            if existing.partition_key != partition or partition is None:
                continue  # a run dated now already (a clock standing still): the next date
            if existing.state in _ACTIVE:
                return QueuedRun(partition=partition, run=existing, outcome="active")
            rerun = prepare_rerun(store, pipeline, exists.run_id)
            return QueuedRun(partition=partition, run=rerun, outcome="rerun")
        return QueuedRun(partition=partition, run=run, outcome="created")
    raise ConfigError(f"{pipeline.pipeline_id}: no free logical date for a new run; try again")
