"""Materializing assets from the server: what to run, and its runs, queued for a scheduler.

The REST API's ``POST /api/v1/assets/{key}/materialize`` and the web UI's *Materialize*
and *Backfill partitions* share this. As ``headwater materialize`` does, it makes the ad
hoc pipeline of the assets (``materialize_pipeline``, recorded with the folder as its
source) and one run per partition; unlike the command, it drives none of them: each run
is queued, and a running scheduler finds the pipeline again from the asset keys recorded
with it (``PipelineRegistry.resolve``) and drives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.assets.keys import AssetKey, key_string
from headwater.clock import Clock
from headwater.engine.assets import dynamic_names
from headwater.engine.runs import create_run, new_run_id, prepare_rerun, record_pipeline
from headwater.engine.states import RunState
from headwater.errors import ConfigError, DefinitionError, NotFoundError, RunExistsError
from headwater.schedules.timetables import DataInterval
from headwater.scheduling.registry import PipelineRegistry
from headwater.store.records import RunRecord
from headwater.store.sql.asset_reads import runs_at
from headwater.store.sql.assets import get_asset
from headwater.store.sql.store import SqlStore

# partitions one request may queue runs for (a year of hours, 27 years of days)
MAX_PARTITIONS = 10_000
_ACTIVE = (RunState.QUEUED.value, RunState.RUNNING.value)
BATCH = 500  # new runs per transaction
MANUAL = "manual"  # the run type, as a trigger's


class NotLoaded(ConfigError):
    """The asset is recorded in the store but this server has not loaded it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterializePlan:
    """The assets to materialize (in order), their pipeline, and the partitions to run."""

    pipeline: AssetPipeline
    keys: list[AssetKey]
    partitions: list[str | None]

    def json(self) -> dict[str, Any]:
        return {
            "pipeline_id": self.pipeline.pipeline_id,
            "assets": [key_string(k) for k in self.keys],
            "partitions": self.partitions,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedRun:
    """The run of one partition, and what was done: ``created``, ``rerun`` (a finished
    run of the same partition reset) or ``active`` (one is queued or running already)."""

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
        ConfigError: a partition for an unpartitioned selection or none for a
            partitioned one, a key or range the definition does not have, assets
            partitioned differently, or more than ``MAX_PARTITIONS`` partitions.
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
    chosen = _partitions(pipeline, store, partition, partitions, now)
    return MaterializePlan(pipeline=pipeline, keys=keys, partitions=chosen)


def _partitions(
    pipeline: AssetPipeline,
    store: SqlStore,
    partition: str | None,
    partitions: str | None,
    now: datetime,
) -> list[str | None]:
    definition = pipeline.partitions
    names = ", ".join(key_string(k) for k in pipeline.asset_keys[:5])
    if definition is None:
        if partition or partitions:
            raise ConfigError(f"{names}: not partitioned; leave out partition(s)")
        return [None]
    if partition and partitions:
        raise ConfigError("give a partition or a range of partitions (FIRST..LAST), not both")
    if not partition and not partitions:
        raise ConfigError(
            f"{names}: partitioned ({definition.describe()}); choose a partition, or a "
            "range FIRST..LAST"
        )
    names_of_dynamic = dynamic_names(definition)
    dynamic = store.dynamic_keys(names_of_dynamic) if names_of_dynamic else {}
    if partition:
        return [definition.check_key(partition.strip(), dynamic=dynamic)]
    assert partitions is not None
    chosen: list[str | None] = list(definition.parse_range(partitions, now=now, dynamic=dynamic))
    if len(chosen) > MAX_PARTITIONS:
        raise ConfigError(
            f"partitions {partitions} are {len(chosen)}; materialize at most {MAX_PARTITIONS} "
            "at a time (split the range)"
        )
    return chosen


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionRun:
    """A partition of a plan, the interval of its run, and the run it has already (a
    time partition's run is the same each time)."""

    partition: str | None
    interval: DataInterval
    existing: RunRecord | None = None

    @property
    def action(self) -> str:
        """``create`` a run, ``rerun`` the finished one, or leave the ``active`` one."""
        if self.existing is None:
            return "create"
        return "active" if self.existing.state in _ACTIVE else "rerun"


def partition_runs(store: SqlStore, plan: MaterializePlan, now: datetime) -> list[PartitionRun]:
    """What each partition of ``plan`` needs: one grouped read of the runs it has."""
    pipeline = plan.pipeline
    windows = [_window(pipeline, partition) for partition in plan.partitions]
    if any(window is None for window in windows):  # new runs dated now: nothing to find
        span = [timedelta(0) if w is None else w[1] - w[0] for w in windows]
        starts = [now + timedelta(microseconds=index) for index in range(len(windows))]
        return [
            PartitionRun(partition=partition, interval=DataInterval(start=s, end=s + d))
            for partition, s, d in zip(plan.partitions, starts, span, strict=True)
        ]
    intervals = [DataInterval(start=w[0], end=w[1]) for w in windows if w is not None]
    with store.engine.connect() as connection:
        existing = runs_at(connection, pipeline.pipeline_id, [i.start for i in intervals])
    return [
        PartitionRun(partition=partition, interval=interval, existing=existing.get(interval.start))
        for partition, interval in zip(plan.partitions, intervals, strict=True)
    ]


def queue_runs(
    store: SqlStore, clock: Clock, plan: MaterializePlan, *, triggered_by: str
) -> list[QueuedRun]:
    """A queued run per partition of ``plan``, for a scheduler to drive.

    A time partition's run covers its window and is the same run each time: a finished
    one is reset, a queued or running one left alone. Other partitions get a new run each
    time, dated now (a microsecond apart: runs are unique per date). New runs are
    inserted a few hundred per transaction: ten years of days take a second or two.
    """
    pipeline = plan.pipeline
    now = clock.now()
    record_pipeline(store, pipeline, now)
    steps = partition_runs(store, plan, now)
    queued: list[QueuedRun | None] = [None] * len(steps)
    new: list[tuple[int, RunRecord]] = []
    for index, step in enumerate(steps):
        if step.existing is None:
            new.append((index, _new_run(pipeline, step, now, triggered_by)))
        elif step.action == "active":
            queued[index] = QueuedRun(partition=step.partition, run=step.existing, outcome="active")
        else:
            rerun = prepare_rerun(store, pipeline, step.existing.run_id)
            queued[index] = QueuedRun(partition=step.partition, run=rerun, outcome="rerun")
    for start in range(0, len(new), BATCH):
        for index, run in _insert(store, clock, pipeline, new[start : start + BATCH]):
            queued[index] = QueuedRun(partition=run.partition_key, run=run, outcome="created")
    return [item for item in queued if item is not None]


def _window(pipeline: AssetPipeline, partition: str | None) -> tuple[datetime, datetime] | None:
    """The window of a partition of time (not of a time dimension among others)."""
    definition = pipeline.partitions
    if definition is None or partition is None or getattr(definition, "split", None):
        return None
    return definition.time_window(partition)


def _new_run(pipeline: AssetPipeline, step: PartitionRun, now: datetime, by: str) -> RunRecord:
    interval, partition, triggered_by = step.interval, step.partition, by
    return RunRecord(
        run_id=new_run_id(MANUAL, interval.logical_date),
        pipeline_id=pipeline.pipeline_id,
        logical_date=interval.logical_date,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        params=dict(pipeline.params),
        state=RunState.QUEUED.value,
        run_type=MANUAL,
        triggered_by=triggered_by,
        source_file=pipeline.source_file,
        created_at=now,
        partition_key=partition,
    )


def _insert(
    store: SqlStore, clock: Clock, pipeline: AssetPipeline, batch: list[tuple[int, RunRecord]]
) -> list[tuple[int, RunRecord]]:
    """Insert a batch of new runs at once; if one of their dates was taken meanwhile,
    one by one (``create_run`` says which exist)."""
    instances = [(node.task_id, -1, node.options.retries + 1, 0) for node in pipeline.plan.nodes]
    try:
        store.create_runs([(run, instances) for _, run in batch])
    except IntegrityError:
        return [(index, _one(store, clock, pipeline, run)) for index, run in batch]
    return batch


def _one(store: SqlStore, clock: Clock, pipeline: AssetPipeline, run: RunRecord) -> RunRecord:
    interval = DataInterval(start=run.data_interval_start, end=run.data_interval_end)
    step = timedelta(microseconds=MAX_PARTITIONS)
    for _ in range(100):
        try:
            return create_run(
                store,
                pipeline,
                clock=clock,
                interval=interval,
                partition_key=run.partition_key,
                triggered_by=run.triggered_by,
            )
        except RunExistsError as exists:
            if run.data_interval_start != run.data_interval_end or pipeline.partitions is None:
                return store.get_run(exists.run_id)  # a window's run: made meanwhile
            # a run dated now: the date is taken (a clock that stands still); the next
            interval = DataInterval(start=interval.start + step, end=interval.end + step)
    raise ConfigError(f"{pipeline.pipeline_id}: no free date for a new run; try again")
