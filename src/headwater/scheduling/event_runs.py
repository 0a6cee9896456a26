"""Runs started by events: new files (``on_file``) and upstream successes (``after``).

Each event is recorded with the run it starts, in one transaction (see
``StateStore.create_run``), so a scheduler that dies in between leaves neither, and the
next tick sees the event again; an event already recorded is never handled twice.
"""

from __future__ import annotations

import glob
import logging
from datetime import datetime, timedelta
from pathlib import Path

from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.engine.runs import create_run
from headwater.errors import EventSeenError, RunExistsError
from headwater.schedules.events import AfterPipeline, OnAsset, OnFile
from headwater.schedules.timetables import DataInterval
from headwater.store.base import StateStore
from headwater.store.records import RunRecord

logger = logging.getLogger("headwater.scheduler")

EVENT = "event"
UPSTREAM_LOOKBACK = 500  # upstream successes examined per tick
MAX_SAME_INSTANT = 10_000  # files given logical dates at one instant, a microsecond apart


def file_events(pattern: str) -> list[tuple[str, Path]]:
    """``(event key, path)`` of each file matching ``pattern``, oldest first.

    The key holds the path and the modification time, so a file written again is a
    new event.
    """
    found = []
    for name in glob.glob(pattern, recursive=True):
        path = Path(name).resolve()
        try:
            stat = path.stat()
        except OSError:
            continue  # gone since the glob
        if path.is_file():
            found.append((stat.st_mtime_ns, f"file:{path}:{stat.st_mtime_ns}", path))
    return [(key, path) for _, key, path in sorted(found)]


def create_event_runs(
    store: StateStore, pipeline: Pipeline, now: datetime, room: int, clock: Clock
) -> list[RunRecord]:
    """Start the runs ``pipeline``'s event schedule calls for, at most ``room`` of them."""
    schedule = pipeline.schedule
    if room <= 0:
        return []
    if isinstance(schedule, OnFile):
        return _file_runs(store, pipeline, schedule, now, room, clock)
    if isinstance(schedule, AfterPipeline):
        return _upstream_runs(store, pipeline, schedule, now, room, clock)
    if isinstance(schedule, OnAsset):
        return _asset_runs(store, pipeline, schedule, now, room, clock)
    return []


def _file_runs(
    store: StateStore, pipeline: Pipeline, schedule: OnFile, now: datetime, room: int, clock: Clock
) -> list[RunRecord]:
    candidates = file_events(schedule.pattern)
    seen = store.seen_events(pipeline.pipeline_id, [key for key, _ in candidates])
    created: list[RunRecord] = []
    offset = 0
    for key, path in candidates:
        if key in seen or len(created) >= room:
            continue
        run = None
        while run is None and offset < MAX_SAME_INSTANT:
            # one run per file: runs are unique per logical date, so files seen at the
            # same instant get dates a microsecond apart
            moment = now + timedelta(microseconds=offset)
            offset += 1
            try:
                run = create_run(
                    store,
                    pipeline,
                    clock=clock,
                    interval=DataInterval(start=moment, end=moment),
                    params={"path": str(path)},
                    run_type=EVENT,
                    triggered_by=f"file {path}",
                    event_key=key,
                )
            except EventSeenError:
                break  # another scheduler handled it first
            except RunExistsError:
                continue
        if run is not None:
            created.append(run)
            logger.info("created run %s of %s for file %s", run.run_id, pipeline.pipeline_id, path)
    return created


def _upstream_runs(
    store: StateStore,
    pipeline: Pipeline,
    schedule: AfterPipeline,
    now: datetime,
    room: int,
    clock: Clock,
) -> list[RunRecord]:
    successes = store.list_runs(schedule.pipeline_id, limit=UPSTREAM_LOOKBACK, state="success")
    keys = {f"run:{run.run_id}": run for run in successes}
    seen = store.seen_events(pipeline.pipeline_id, list(keys))
    created: list[RunRecord] = []
    for key, upstream in sorted(keys.items(), key=lambda item: item[1].logical_date):
        if key in seen or len(created) >= room:
            continue
        interval = DataInterval(start=upstream.data_interval_start, end=upstream.data_interval_end)
        try:
            run = create_run(
                store,
                pipeline,
                clock=clock,
                interval=interval,
                run_type=EVENT,
                triggered_by=f"after {upstream.run_id}",
                event_key=key,
            )
        except EventSeenError:
            continue
        except RunExistsError:
            # this date already has a run (by hand, a backfill): the event is consumed
            store.record_event(pipeline.pipeline_id, key, now)
            continue
        created.append(run)
        logger.info(
            "created run %s of %s after %s", run.run_id, pipeline.pipeline_id, upstream.run_id
        )
    return created


def _asset_runs(
    store: StateStore, pipeline: Pipeline, schedule: OnAsset, now: datetime, room: int, clock: Clock
) -> list[RunRecord]:
    """A run per materialization of the asset since the pipeline first watched it."""
    found = store.newest_materializations(schedule.key, limit=UPSTREAM_LOOKBACK)
    keys = {f"asset:{schedule.key}:{m.id}": m for m in found}
    if store.record_event(pipeline.pipeline_id, f"asset-watch:{schedule.key}", now):
        # first sight: what was materialized before the pipeline watched is not an event
        for key in keys:
            store.record_event(pipeline.pipeline_id, key, now)
        return []
    seen = store.seen_events(pipeline.pipeline_id, list(keys))
    created: list[RunRecord] = []
    for offset, (key, item) in enumerate(sorted(keys.items(), key=lambda pair: pair[1].id)):
        if key in seen or len(created) >= room:
            continue
        moment = now + timedelta(microseconds=offset)
        partition = item.partition_key if getattr(pipeline, "partitions", None) else None
        try:
            run = create_run(
                store,
                pipeline,
                clock=clock,
                interval=DataInterval(start=moment, end=moment),
                params={"asset": schedule.key, "partition": item.partition_key},
                run_type=EVENT,
                triggered_by=f"asset {schedule.key} ({item.run_id})",
                event_key=key,
                partition_key=partition,
            )
        except (EventSeenError, RunExistsError):
            continue
        created.append(run)
        logger.info("created run %s of %s on asset %s", run.run_id, pipeline.pipeline_id, key)
    return created
