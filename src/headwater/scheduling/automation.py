"""Declarative automation in the scheduler's tick: assets that materialize themselves.

An asset with ``automation=`` gets an ad hoc pipeline (the one ``headwater materialize
KEY`` uses, see ``automation_pipelines``), which the registry adds to the pipelines the
scheduler drives. Each tick, ``Automator.create_runs`` reads the store, decides which
partitions are due (``automation_rules``), and starts one run per partition.

Each decision is recorded with the run it starts, in one transaction, as an event of
the pipeline: ``auto:<asset>:<partition>:<upstream materialization id>`` or
``cron:<asset>:<fire time>`` (``...:<partition>`` when one fire starts several runs).
Events are unique per pipeline, so a decision is carried out once, whatever number of
schedulers tick at once, and a scheduler killed in between leaves neither the run nor
the event: the next tick decides again.

Throttle: at most RUNS_PER_ASSET new runs per asset and RUNS_PER_TICK in all per tick,
oldest partitions first, and never past the pipeline's ``max_active_runs``; a partition
with a queued or running run of its pipeline waits for it. An asset never materialized
that reads 3,000 partitions therefore catches up a few runs at a time. A paused
automation pipeline (``headwater pause materialize.KEY``) starts nothing.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from headwater.assets.automation import CronAutomation, OnUpstreamUpdate
from headwater.assets.definition import Asset
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.assets.keys import key_string
from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.engine.assets import dynamic_names
from headwater.engine.runs import create_run
from headwater.errors import EventSeenError, RunExistsError
from headwater.schedules.timetables import DataInterval
from headwater.scheduling.automation_rules import (
    cron_partitions,
    latest_fire,
    one_run_per_fire,
    upstream_updates,
)
from headwater.store.base import StateStore
from headwater.store.records import RunRecord

logger = logging.getLogger("headwater.scheduler")

AUTOMATION = "automation"  # the run type, and the tag of the automation pipelines
RUNS_PER_ASSET = 4  # new runs per automated asset and tick
RUNS_PER_TICK = 32  # new runs per tick, all automated assets together
SEEN_BATCH = 100  # decisions checked against the recorded events at once
ACTIVE_LOOKUP = 500  # queued and running runs read per automation pipeline
RECHECK = timedelta(minutes=1)  # a settled asset is looked at again after this
MAX_SAME_INSTANT = 10_000  # runs given logical dates at one instant, a microsecond apart


def automation_pipelines(graph: AssetGraph, source_file: str) -> dict[str, AssetPipeline]:
    """The pipeline of each asset of ``graph`` with ``automation=``, by pipeline id."""
    found = {}
    for key in graph.order:
        if graph.assets[key].automation is None:
            continue
        pipeline = materialize_pipeline(graph, [key], source_file=source_file)
        pipeline.tags = (*pipeline.tags, AUTOMATION)
        found[pipeline.pipeline_id] = pipeline
    return found


def automated_asset(pipeline: Pipeline) -> Asset | None:
    """The asset an automation pipeline materializes; None for any other pipeline."""
    if not isinstance(pipeline, AssetPipeline) or AUTOMATION not in pipeline.tags:
        return None
    if len(pipeline.asset_keys) != 1:
        return None
    return pipeline.graph.assets[pipeline.asset_keys[0]]


def _automated(pipelines: Iterable[Pipeline], paused: set[str]) -> list[AssetPipeline]:
    return [
        pipeline
        for pipeline in pipelines
        if isinstance(pipeline, AssetPipeline)
        and automated_asset(pipeline) is not None
        and pipeline.pipeline_id not in paused
    ]


@dataclass(frozen=True, slots=True)
class Decision:
    """A run to start: its partition, its event key, and why (the run's triggered_by)."""

    partition: str | None
    event_key: str
    reason: str


class Automator:
    """Starts the runs automated assets call for; one per scheduler.

    It remembers, per pipeline object (a reloaded file makes new ones), what it already
    settled: the newest materialization id at which an ``on_upstream_update`` asset had
    nothing left to start (and when), and the last cron fire carried out. A tick that
    finds no new materialization and no new fire time then costs one query. Settled
    assets are looked at again after RECHECK all the same: time alone completes
    partitions (a day's partition is listed once the day has ended).
    """

    def __init__(self, store: StateStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._settled: weakref.WeakKeyDictionary[Pipeline, tuple[int, datetime]] = (
            weakref.WeakKeyDictionary()
        )
        self._fired: weakref.WeakKeyDictionary[Pipeline, datetime] = weakref.WeakKeyDictionary()

    def create_runs(
        self,
        pipelines: Iterable[Pipeline],
        now: datetime,
        *,
        active: dict[str, int],
        paused: set[str],
        max_active: Callable[[Pipeline], int],
        room: int = RUNS_PER_TICK,
    ) -> list[RunRecord]:
        """Start the runs due at ``now``, at most ``room`` in all.

        ``active`` (queued and running runs per pipeline) is kept up to date; a pipeline
        never gets more than ``max_active(pipeline)``. An asset whose runs cannot be
        decided or created is logged and skipped.
        """
        automated = _automated(pipelines, paused)
        if not automated:
            return []
        newest = self.store.newest_materialization_id()
        created: list[RunRecord] = []
        for pipeline in automated:
            pipeline_id = pipeline.pipeline_id
            budget = min(
                RUNS_PER_ASSET,
                room - len(created),
                max_active(pipeline) - active.get(pipeline_id, 0),
            )
            if budget <= 0:
                continue
            try:
                runs = self._automate(pipeline, now, newest, budget)
            except Exception:
                logger.exception("automation of pipeline %s failed; trying again", pipeline_id)
                continue
            active[pipeline_id] = active.get(pipeline_id, 0) + len(runs)
            created.extend(runs)
        return created

    def _automate(
        self, pipeline: AssetPipeline, now: datetime, newest: int, budget: int
    ) -> list[RunRecord]:
        item = automated_asset(pipeline)
        assert item is not None
        automation = item.automation
        if isinstance(automation, OnUpstreamUpdate):
            settled = self._settled.get(pipeline)
            if settled is not None and settled[0] == newest and now - settled[1] < RECHECK:
                return []
            decisions, waiting = self._upstream_decisions(pipeline, item, now)
            runs, done = self._start(pipeline, decisions, now, budget)
            if done and not waiting:
                self._settled[pipeline] = (newest, now)
            return runs
        if isinstance(automation, CronAutomation):
            fire = latest_fire(automation, now)
            if fire is None or self._fired.get(pipeline) == fire:
                return []
            runs, done = self._start(pipeline, self._cron_decisions(item, fire), now, budget)
            if done:
                self._fired[pipeline] = fire
            return runs
        return []

    # deciding

    def _upstream_decisions(
        self, pipeline: AssetPipeline, item: Asset, now: datetime
    ) -> tuple[list[Decision], bool]:
        """The decisions due, and whether some partition waits for a run in flight."""
        graph = pipeline.graph
        upstream = graph.upstream[item.key]
        ids = self.store.materialized_ids([item.name, *map(key_string, upstream)])
        dynamic = self._dynamic(graph, item)
        updates = upstream_updates(graph, item.key, ids, now=now, dynamic=dynamic)
        if not updates:
            return [], False
        busy = self._busy_partitions(pipeline.pipeline_id)
        decisions = [
            Decision(
                update.partition,
                f"auto:{item.name}:{update.partition or ''}:{update.materialization_id}",
                f"automation: {update.upstream} was materialized",
            )
            for update in updates
            if update.partition not in busy
        ]
        return decisions, len(decisions) < len(updates)

    def _cron_decisions(self, item: Asset, fire: datetime) -> list[Decision]:
        assert isinstance(item.automation, CronAutomation)
        dynamic = self._dynamic(None, item)
        single = one_run_per_fire(item.partitions)
        reason = f"automation: {item.automation.describe()} at {fire.isoformat()}"
        decisions = []
        for partition in cron_partitions(item.partitions, fire, dynamic):
            key = f"cron:{item.name}:{fire.isoformat()}"
            decisions.append(Decision(partition, key if single else f"{key}:{partition}", reason))
        return decisions

    def _dynamic(self, graph: AssetGraph | None, item: Asset) -> dict[str, tuple[str, ...]]:
        names = dynamic_names(item.partitions)
        if graph is not None:
            for key in graph.upstream[item.key]:
                if key in graph.assets:
                    names += dynamic_names(graph.assets[key].partitions)
        return self.store.dynamic_keys(names) if names else {}

    def _busy_partitions(self, pipeline_id: str) -> set[str | None]:
        """The partitions with a queued or running run of the pipeline."""
        return {
            run.partition_key
            for state in ("queued", "running")
            for run in self.store.list_runs(pipeline_id, limit=ACTIVE_LOOKUP, state=state)
        }

    # starting

    def _start(
        self, pipeline: Pipeline, decisions: Sequence[Decision], now: datetime, budget: int
    ) -> tuple[list[RunRecord], bool]:
        """Start up to ``budget`` of the decisions not yet recorded, in order; whether
        none is left."""
        created: list[RunRecord] = []
        offset = 0
        for start in range(0, len(decisions), SEEN_BATCH):
            batch = decisions[start : start + SEEN_BATCH]
            seen = self.store.seen_events(pipeline.pipeline_id, [d.event_key for d in batch])
            for decision in batch:
                if decision.event_key in seen:
                    continue
                if len(created) >= budget:
                    return created, False
                run, offset = self._create(pipeline, decision, now, offset)
                if run is not None:
                    created.append(run)
        return created, True

    def _create(
        self, pipeline: Pipeline, decision: Decision, now: datetime, offset: int
    ) -> tuple[RunRecord | None, int]:
        """The run of one decision (None: another scheduler made it), and the next offset.

        Runs are unique per logical date, so the runs decided at one instant get logical
        dates a microsecond apart; the partition says what they materialize.
        """
        while offset < MAX_SAME_INSTANT:
            moment = now + timedelta(microseconds=offset)
            offset += 1
            try:
                run = create_run(
                    self.store,
                    pipeline,
                    clock=self.clock,
                    interval=DataInterval(start=moment, end=moment),
                    run_type=AUTOMATION,
                    triggered_by=decision.reason,
                    event_key=decision.event_key,
                    partition_key=decision.partition,
                )
            except EventSeenError:
                return None, offset  # another scheduler carried it out first
            except RunExistsError:
                continue
            shown = f" partition {decision.partition}" if decision.partition else ""
            logger.info(
                "created run %s of %s%s (%s)", run.run_id, run.pipeline_id, shown, decision.reason
            )
            return run, offset
        return None, offset
