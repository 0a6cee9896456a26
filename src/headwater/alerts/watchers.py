"""Watchers: alerts when nothing failed (missed deadlines, stale data, no scheduler).

Stale assets are watched in ``asset_freshness`` and run with these.

Each watcher is a function of (store, definitions, now): it reads the store, and for
each condition that holds and was not yet recorded, records it in ``alert_conditions``
and writes its alert event in the same transaction. The insert of the condition's key
is the once-only guard, so any number of processes may watch at once. They run in the
scheduler (``headwater scheduler``/``dev``) and in the server (``start_alerting``).

A pipeline's options are read from its definition when the process has loaded it, else
from its stored description (``@pipeline(deadline=..., freshness=...)`` are recorded
with its graph).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from headwater.alerts.asset_freshness import watch_asset_freshness
from headwater.asset_status import NewestByAsset
from headwater.authoring.pipeline import Pipeline
from headwater.errors import HeadwaterError
from headwater.schedules.timetables import DataInterval, Timetable, timetable_for
from headwater.store.records import PipelineRecord
from headwater.store.sql import outbox
from headwater.store.sql.store import SqlStore

# deadlines are checked for intervals that ended in this window before now (and after
# the pipeline was first watched), at most this many per pipeline and call
DEADLINE_LOOKBACK = timedelta(days=7)
DEADLINE_MAX_INTERVALS = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedPipeline:
    """What the watchers need of a pipeline."""

    pipeline_id: str
    deadline: timedelta | None
    freshness: timedelta | None
    timetable: Timetable | None
    start: datetime | None


def watched(record: PipelineRecord, definition: Pipeline | None) -> WatchedPipeline:
    """A pipeline's watched options, from its definition or else its stored description."""
    if definition is not None:
        return WatchedPipeline(
            pipeline_id=record.pipeline_id,
            deadline=definition.deadline,
            freshness=definition.freshness,
            timetable=definition.timetable,
            start=definition.start,
        )
    alerting: dict[str, Any] = record.graph.get("alerting") or {}
    start = datetime.fromisoformat(alerting["start"]) if alerting.get("start") else None
    deadline, freshness = alerting.get("deadline_seconds"), alerting.get("freshness_seconds")
    return WatchedPipeline(
        pipeline_id=record.pipeline_id,
        deadline=None if deadline is None else timedelta(seconds=deadline),
        freshness=None if freshness is None else timedelta(seconds=freshness),
        timetable=_stored_timetable(record, alerting, start) if deadline is not None else None,
        start=start,
    )


def _stored_timetable(
    record: PipelineRecord, alerting: dict[str, Any], start: datetime | None
) -> Timetable | None:
    every = alerting.get("schedule_seconds")
    schedule: str | timedelta | None = (
        timedelta(seconds=every) if every is not None else record.schedule
    )
    try:
        return timetable_for(schedule, ZoneInfo(record.timezone), start)
    except (HeadwaterError, ValueError, LookupError):
        return None


def watch_all(
    store: SqlStore,
    definitions: Mapping[str, Pipeline],
    now: datetime,
    *,
    scheduler_down_after: timedelta,
    newest_by_asset: NewestByAsset | None = None,
) -> list[str]:
    """Every watcher once; returns the keys of the conditions opened.

    ``newest_by_asset``: each asset's newest data, kept between the rounds of a process.
    """
    opened: list[str] = []
    for record in store.list_pipelines():
        pipeline = watched(record, definitions.get(record.pipeline_id))
        if pipeline.deadline is not None and pipeline.timetable is not None:
            opened += watch_deadline(store, pipeline, now)
        if pipeline.freshness is not None:
            opened += watch_freshness(store, pipeline, now)
    opened += watch_asset_freshness(store, now, newest_by_asset)
    opened += watch_scheduler(store, now, scheduler_down_after)
    return opened


def _event(
    key: str,
    event: str,
    pipeline_id: str | None,
    now: datetime,
    details: list[str],
    **facts: Any,
) -> outbox.AlertEventRow:
    logical_date = facts.get("logical_date")
    return outbox.AlertEventRow(
        event_key=key,
        event=event,
        pipeline_id=pipeline_id,
        run_id=facts.get("run_id"),
        logical_date=datetime.fromisoformat(logical_date) if logical_date else None,
        payload={
            "event": event,
            "pipeline_id": pipeline_id,
            "observed_at": now.isoformat(),
            "details": details,
            **facts,
        },
        created_at=now,
    )


def _open(store: SqlStore, event: outbox.AlertEventRow, now: datetime) -> bool:
    """Record the condition and its event together; False if it was already recorded."""
    with store.engine.begin() as connection:
        if not outbox.open_condition(
            connection, event.event_key, event.event, event.pipeline_id, now
        ):
            return False
        outbox.insert_events(connection, [event])
        return True


def _first_seen(store: SqlStore, pipeline_id: str, now: datetime) -> datetime:
    with store.engine.begin() as connection:
        return outbox.first_seen(connection, pipeline_id, now)


def due_intervals(
    timetable: Timetable, deadline: timedelta, since: datetime, now: datetime
) -> list[DataInterval]:
    """Intervals that ended after ``since`` and whose deadline passed by ``now``."""
    before = timetable.latest_complete(since)
    start = before.start if before is not None else (timetable.start or since)
    due = []
    for interval in itertools.islice(timetable.intervals_from(start), 10_000):
        if interval.end + deadline > now:
            break
        if interval.end > since:
            due.append(interval)
    return due[-DEADLINE_MAX_INTERVALS:]


def watch_deadline(store: SqlStore, pipeline: WatchedPipeline, now: datetime) -> list[str]:
    """``deadline_missed`` once per interval with no successful run by its deadline.

    Counts intervals whose end is after the pipeline was first watched (or its oldest
    run), within DEADLINE_LOOKBACK: a run still running, a failed run, and no run at
    all (the scheduler was down, the pipeline paused) all miss the deadline.
    """
    assert pipeline.deadline is not None
    assert pipeline.timetable is not None
    pipeline_id, deadline = pipeline.pipeline_id, pipeline.deadline
    since = max(_first_seen(store, pipeline_id, now), now - DEADLINE_LOOKBACK)
    intervals = due_intervals(pipeline.timetable, deadline, since, now)
    if not intervals:
        return []
    keys = {f"deadline_missed|{pipeline_id}|{i.start.isoformat()}": i for i in intervals}
    with store.engine.connect() as connection:
        known = outbox.open_condition_keys(connection, list(keys))
    runs = {
        run.logical_date: run
        for run in store.runs_between(pipeline_id, intervals[0].start, intervals[-1].start)
    }
    opened = []
    for key, interval in keys.items():
        run = runs.get(interval.start)
        if key in known or (run is not None and run.state == "success"):
            continue
        due = interval.end + deadline
        state = "no run" if run is None else f"run {run.state}"
        details = [
            f"Data interval: {interval.start.isoformat()} to {interval.end.isoformat()}",
            f"Deadline: {due.isoformat()} ({deadline} after the interval's end); {state}",
        ]
        event = _event(
            key,
            "deadline_missed",
            pipeline_id,
            now,
            details,
            logical_date=interval.start.isoformat(),
            run_id=None if run is None else run.run_id,
            run_state=None if run is None else run.state,
            due_at=due.isoformat(),
        )
        if _open(store, event, now):
            opened.append(key)
    return opened


def watch_freshness(store: SqlStore, pipeline: WatchedPipeline, now: datetime) -> list[str]:
    """``stale`` once while the newest successfully processed interval is too old.

    A pipeline that never succeeded counts from its ``start`` if it has one, else from
    when it was first watched. The condition is resolved once the pipeline is fresh.
    """
    assert pipeline.freshness is not None
    pipeline_id = pipeline.pipeline_id
    with store.engine.connect() as connection:
        newest = outbox.newest_success_end(connection, pipeline_id)
    reference = newest or pipeline.start or _first_seen(store, pipeline_id, now)
    age = now - reference
    if age <= pipeline.freshness:
        with store.engine.begin() as connection:
            outbox.resolve_conditions(connection, "stale", pipeline_id, now)
        return []
    key = f"stale|{pipeline_id}|{reference.isoformat()}"
    what = (
        "its newest successful data interval ended"
        if newest
        else "it has never succeeded; counting from"
    )
    details = [
        f"Freshness: {what} {reference.isoformat()}, {_round(age)} ago "
        f"(allowed: {pipeline.freshness})"
    ]
    event = _event(
        key,
        "stale",
        pipeline_id,
        now,
        details,
        newest_interval_end=None if newest is None else newest.isoformat(),
        age_seconds=age.total_seconds(),
        freshness_seconds=pipeline.freshness.total_seconds(),
    )
    return [key] if _open(store, event, now) else []


def watch_scheduler(store: SqlStore, now: datetime, after: timedelta) -> list[str]:
    """``scheduler_down`` once when no scheduler has sent a heartbeat for ``after``.

    Only once a scheduler has ever run against this store; resolved when one beats.
    """
    beats = store.heartbeats(limit=50)
    if not beats:
        return []
    alive = [b for b in beats if b.stopped_at is None and now - b.last_heartbeat < after]
    if alive:
        with store.engine.begin() as connection:
            outbox.resolve_conditions(connection, "scheduler_down", None, now)
        return []
    last = max(beats, key=lambda b: b.last_heartbeat)
    if now - last.last_heartbeat < after:
        return []  # stopped cleanly just now: give a restart its chance
    key = f"scheduler_down|{last.last_heartbeat.isoformat()}"
    details = [
        f"Last heartbeat: {last.last_heartbeat.isoformat()} from {last.owner} "
        f"({_round(now - last.last_heartbeat)} ago; alert after {after})"
    ]
    event = _event(
        key,
        "scheduler_down",
        None,
        now,
        details,
        last_heartbeat=last.last_heartbeat.isoformat(),
        last_owner=last.owner,
    )
    return [key] if _open(store, event, now) else []


def _round(delta: timedelta) -> timedelta:
    return timedelta(seconds=round(delta.total_seconds()))
