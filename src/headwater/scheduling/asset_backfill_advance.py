"""Advancing backfills of assets: their next runs, a few at a time, and their end.

As for a backfill of intervals (``advance_backfill``), each pass reads where the
backfill stands from the store, starts runs for the next partitions while fewer than
its ``max_active_runs`` are queued or running, and records its end once every run it
made has finished. A partition the backfill has a run for is done with; the others are
planned again on each pass, from their status then (another run may have materialized
one meanwhile).

A scheduler carries on the backfills no live process holds: ``BackfillPipelines`` gives
it the ad hoc pipeline of each running one, built from its folder's asset graph, so that
it advances them (``advance_asset_backfills``) and claims their runs like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from headwater.assets.catalog import AssetCatalog
from headwater.assets.jobs import AssetPipeline
from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.engine.ownership import DEFAULT_LEASE
from headwater.engine.runs import create_run, prepare_rerun
from headwater.errors import ConfigError, RunExistsError, TransitionRejected
from headwater.scheduling.asset_backfill import (
    AssetReprocess,
    PartitionStep,
    backfill_pipeline,
    partition_interval,
    plan_partitions,
    reuses_runs,
)
from headwater.scheduling.backfill import (
    BACKFILL,
    BACKFILL_PRIORITY,
    Action,
    BackfillProgressOf,
    BackfillState,
    acquire_backfill,
    advance_with,
)
from headwater.scheduling.registry import PipelineRegistry
from headwater.store.base import StateStore
from headwater.store.records import BackfillRecord, Claim, RunRecord
from headwater.store.sql.store import SqlStore

logger = logging.getLogger("headwater.scheduler")

_LAST_MOMENT = datetime.max.replace(tzinfo=UTC)
_NEW_RUN_ATTEMPTS = 8  # logical dates tried for a partition's new run (see _new_run)


# where a backfill of assets stands: its runs, the partitions it skips, those to start
AssetBackfillProgress = BackfillProgressOf[PartitionStep]


def backfill_runs(store: StateStore, backfill: BackfillRecord) -> list[RunRecord]:
    """The runs a backfill of assets made, in the order of its partitions.

    Their logical dates are their windows' starts (time partitions), from the
    backfill's ``start_date``, or moments after it was made (other partitions).
    """
    first = min(backfill.start_date, backfill.created_at)
    found = store.runs_between(backfill.pipeline_id, first, _LAST_MOMENT)
    ours = [run for run in found if run.backfill_id == backfill.backfill_id]
    order = {key: index for index, key in enumerate(backfill.partitions or ())}
    ours.sort(key=lambda run: order.get(run.partition_key or "", -1), reverse=backfill.reverse)
    return ours


def asset_backfill_progress(
    store: SqlStore, pipeline: AssetPipeline, backfill: BackfillRecord, *, now: datetime
) -> AssetBackfillProgress:
    """Where ``backfill`` stands now, from the runs and materializations in the store."""
    ours = backfill_runs(store, backfill)
    taken = {run.partition_key for run in ours}
    remaining = [key for key in backfill.partitions or () if key not in taken]
    steps = plan_partitions(
        store,
        pipeline,
        remaining,
        AssetReprocess.parse(backfill.reprocess),
        now=now,
        since=backfill.created_at,
        reverse=backfill.reverse,
    )
    return AssetBackfillProgress(
        backfill=backfill,
        runs=ours,
        skipped=[step for step in steps if step.action is Action.SKIP],
        pending=[step for step in steps if step.action is not Action.SKIP],
    )


def advance_asset_backfill(
    store: SqlStore,
    pipeline: AssetPipeline,
    backfill: BackfillRecord,
    *,
    clock: Clock,
    run_owner: str | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> AssetBackfillProgress:
    """One pass: start the next runs while fewer than the limit are active; end when done.

    The caller holds the backfill's lease. With ``run_owner``, the runs started are
    leased to it at once (it drives them itself); without, they are left queued for
    whichever scheduler claims them.
    """
    return advance_with(
        store,
        backfill,
        pipeline.pipeline_id,
        clock,
        lambda: asset_backfill_progress(store, pipeline, backfill, now=clock.now()),
        lambda step: _start(store, pipeline, backfill, step, clock, run_owner, lease),
    )


def _start(
    store: SqlStore,
    pipeline: AssetPipeline,
    backfill: BackfillRecord,
    step: PartitionStep,
    clock: Clock,
    run_owner: str | None,
    lease: timedelta,
) -> RunRecord | None:
    """Make (or reset) the partition's run for the backfill; None if another got there first."""
    lease_until = None if run_owner is None else clock.now() + lease
    try:
        if step.existing is None:
            return _new_run(store, pipeline, backfill, step.partition_key, clock, run_owner, lease)
        # owned as it is queued again, so that no scheduler picks it up meanwhile
        return prepare_rerun(
            store,
            pipeline,
            step.existing.run_id,
            backfill_id=backfill.backfill_id,
            priority=BACKFILL_PRIORITY,
            claim=None
            if run_owner is None or lease_until is None
            else Claim(owner=run_owner, lease_until=lease_until),
        )
    except (RunExistsError, TransitionRejected, ConfigError) as lost:
        # a trigger, a scheduler or a user made or started the run meanwhile: the next
        # pass sees it and decides again
        logger.info("backfill %s: %s", backfill.backfill_id, lost)
        return None


def _new_run(
    store: SqlStore,
    pipeline: AssetPipeline,
    backfill: BackfillRecord,
    partition: str,
    clock: Clock,
    run_owner: str | None,
    lease: timedelta,
) -> RunRecord:
    """A new run of the partition for the backfill.

    A time partition's run is the run of its window (RunExistsError if another process
    made it meanwhile). Others start now, shifted by the partition's place in the
    backfill, so that its runs never share a logical date; should another run of the
    pipeline hold that moment, a few later ones are tried.
    """
    definition = pipeline.partitions
    assert definition is not None  # a backfill of assets is of a partitioned pipeline
    partitions = backfill.partitions or ()
    offset = partitions.index(partition) if partition in partitions else 0
    attempts = 1 if reuses_runs(definition) else _NEW_RUN_ATTEMPTS
    attempt = 0
    while True:
        now = clock.now()
        interval = partition_interval(
            definition, partition, now=now, offset=offset + attempt * len(partitions)
        )
        try:
            return create_run(
                store,
                pipeline,
                clock=clock,
                interval=interval,
                run_type=BACKFILL,
                triggered_by=f"backfill {backfill.backfill_id}",
                owner=run_owner,
                lease_until=None if run_owner is None else now + lease,
                priority=BACKFILL_PRIORITY,
                backfill_id=backfill.backfill_id,
                partition_key=partition,
            )
        except RunExistsError:
            attempt += 1
            if attempt == attempts:
                raise


def advance_asset_backfills(
    store: StateStore,
    pipelines: Mapping[str, Pipeline],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    clock: Clock,
) -> list[RunRecord]:
    """For a scheduler's tick: advance the running backfills of assets no live process holds.

    Backfills whose pipeline is not among ``pipelines`` are left alone (see
    ``BackfillPipelines``). Returns the runs created; they are queued for the scheduler
    to claim. One that fails to advance is logged; the others go on.
    """
    if not isinstance(store, SqlStore):
        return []  # the asset status is read from the SQL store
    created: list[RunRecord] = []
    for backfill in store.list_backfills(state=BackfillState.RUNNING):
        pipeline = pipelines.get(backfill.pipeline_id)
        if backfill.partitions is None or not isinstance(pipeline, AssetPipeline):
            continue
        try:
            held = acquire_backfill(store, backfill.backfill_id, owner, now, lease)
            if held is not None:
                created.extend(advance_asset_backfill(store, pipeline, held, clock=clock).created)
        except Exception:
            logger.exception("backfill %s: could not advance it", backfill.backfill_id)
    return created


class BackfillPipelines:
    """The pipelines a scheduler runs: its folder's, and those of running asset backfills.

    A backfill of assets runs an ad hoc pipeline (``materialize_pipeline``) that no file
    defines; it is built again from the folder's asset graph, once per graph.
    """

    def __init__(self, registry: PipelineRegistry, store: StateStore) -> None:
        self.registry = registry
        self.store = store
        self.folder = str(registry.folder.resolve())
        # backfill id -> (the catalog it was built from, the pipeline or None if it failed)
        self._built: dict[str, tuple[AssetCatalog, AssetPipeline | None]] = {}

    def __call__(self) -> Mapping[str, Pipeline]:
        pipelines = self.registry.pipelines
        running = [
            backfill
            for backfill in self.store.list_backfills(state=BackfillState.RUNNING)
            if backfill.asset_selection is not None
        ]
        if not running:
            self._built.clear()
            return pipelines
        combined = dict(pipelines)
        for backfill in running:
            pipeline = self._pipeline(backfill)
            if pipeline is not None:
                combined.setdefault(pipeline.pipeline_id, pipeline)
        self._built = {b.backfill_id: self._built[b.backfill_id] for b in running}
        return combined

    def _pipeline(self, backfill: BackfillRecord) -> AssetPipeline | None:
        catalog = self.registry.catalog
        built = self._built.get(backfill.backfill_id)
        if built is not None and built[0] is catalog:
            return built[1]
        pipeline: AssetPipeline | None = None
        try:
            pipeline = backfill_pipeline(catalog.graph, backfill, self.folder)
        except Exception as exc:  # reported once per graph; the backfill waits
            logger.error("%s", exc)
        self._built[backfill.backfill_id] = (catalog, pipeline)
        return pipeline
