"""What people and processes ask of the store besides running: pausing a pipeline,
cancelling a run, listing pipelines, and the heartbeats of scheduler processes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import NotFoundError, TransitionRejected
from headwater.store.records import HeartbeatRecord, PipelineRecord
from headwater.store.sql.schema import (
    backfills,
    pipelines,
    runs,
    scheduler_heartbeats,
    task_instances,
    task_tries,
)

FINISHED_RUN_STATES = ("success", "failed")
_hb = scheduler_heartbeats.c


def pipeline_from_row(row: Any) -> PipelineRecord:
    return PipelineRecord(
        pipeline_id=row.pipeline_id,
        source_file=row.source_file,
        description=row.description,
        schedule=row.schedule,
        timezone=row.timezone,
        graph=json.loads(row.graph),
        updated_at=row.updated_at,
        paused=bool(row.paused),
        removed_at=row.removed_at,
    )


def list_pipelines(connection: Connection, *, removed: bool = False) -> list[PipelineRecord]:
    """The pipelines the code defines, by id; with ``removed``, those removed from it too."""
    query = pipelines.select().order_by(pipelines.c.pipeline_id)
    if not removed:
        query = query.where(pipelines.c.removed_at.is_(None))
    return [pipeline_from_row(row) for row in connection.execute(query)]


def remove_pipelines(
    connection: Connection, removed: Callable[[PipelineRecord], bool], now: datetime
) -> list[str]:
    """Mark the pipelines ``removed`` says the code no longer defines as removed at ``now``."""
    gone = [record.pipeline_id for record in list_pipelines(connection) if removed(record)]
    if gone:
        connection.execute(
            pipelines.update().where(pipelines.c.pipeline_id.in_(gone)).values(removed_at=now)
        )
    return gone


def set_paused(connection: Connection, pipeline_id: str, paused: bool) -> None:
    update = pipelines.update().where(pipelines.c.pipeline_id == pipeline_id).values(paused=paused)
    if connection.execute(update).rowcount != 1:
        raise NotFoundError(
            f"no pipeline {pipeline_id!r} in the metadata store; a pipeline is recorded "
            "when a scheduler loads it or it first runs"
        )


CANCELLED_PREFIX = "cancelled: "  # as engine.states.CANCELLED
_UNSTARTED = ("none", "queued", "up_for_retry", "up_for_reschedule")


def request_cancel(connection: Connection, run_id: str, now: datetime, note: str) -> bool:
    """See ``StateStore.request_cancel``; ``connection`` is in a transaction."""
    row = connection.execute(
        sa.select(runs.c.state, runs.c.cancel_requested_at).where(runs.c.run_id == run_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no run {run_id!r} in the metadata store")
    if row.state in FINISHED_RUN_STATES:
        raise TransitionRejected(f"run {run_id!r} already ended {row.state}; nothing to cancel")
    # Nobody drives it (queued and unclaimed, or its driver's lease ran out): end it
    # here. Guarded in the UPDATE itself, so a claim committed a moment before wins (and
    # its driver sees the request below), and a claim a moment after finds it failed.
    # The generation moves on: a driver that stalled past its lease can write no more.
    ended = connection.execute(
        runs.update()
        .where(
            runs.c.run_id == run_id,
            runs.c.state.in_(("queued", "running")),
            sa.or_(
                runs.c.owner.is_(None),
                runs.c.lease_expires_at.is_(None),
                runs.c.lease_expires_at < now,
            ),
        )
        .values(
            state="failed",
            ended_at=now,
            lease_expires_at=None,
            lease_generation=runs.c.lease_generation + 1,
            cancel_requested_at=sa.func.coalesce(runs.c.cancel_requested_at, now),
            note=sa.func.coalesce(runs.c.note, note)
            if row.cancel_requested_at is not None
            else note,
        )
    )
    if ended.rowcount == 1:
        end_unfinished_instances(connection, run_id, now, row_note(connection, run_id) or note)
        return True
    if row.cancel_requested_at is None:
        connection.execute(
            runs.update()
            .where(runs.c.run_id == run_id, runs.c.cancel_requested_at.is_(None))
            .values(cancel_requested_at=now, note=note)
        )
    return False


def row_note(connection: Connection, run_id: str) -> str | None:
    note: str | None = connection.execute(
        sa.select(runs.c.note).where(runs.c.run_id == run_id)
    ).scalar()
    return note


def end_unfinished_instances(connection: Connection, run_id: str, now: datetime, note: str) -> None:
    """A run ended by a cancel nobody drove: close its tries, settle its instances.

    What a driver does when it cancels (see ``RunDriver.cancel``): a running try fails
    with the cancel's note; an instance that never started is skipped.
    """
    error = CANCELLED_PREFIX + note
    _ti, _tt = task_instances.c, task_tries.c
    connection.execute(
        task_tries.update()
        .where(_tt.run_id == run_id, _tt.state.in_(("running", "up_for_reschedule")))
        .values(state="failed", ended_at=now, error=error)
    )
    connection.execute(
        task_instances.update()
        .where(_ti.run_id == run_id, _ti.state == "running")
        .values(state="failed", ended_at=now, error=error, next_try_at=None)
    )
    connection.execute(
        task_instances.update()
        .where(_ti.run_id == run_id, _ti.state.in_(_UNSTARTED))
        .values(state="skipped", ended_at=now, error=error, next_try_at=None)
    )


def cancel_requests(connection: Connection, run_ids: Sequence[str]) -> dict[str, str]:
    """The runs among ``run_ids`` a cancel was asked for, with their notes."""
    if not run_ids:
        return {}
    rows = connection.execute(
        sa.select(runs.c.run_id, runs.c.note).where(
            runs.c.run_id.in_(list(run_ids)), runs.c.cancel_requested_at.is_not(None)
        )
    )
    return {row.run_id: row.note or "" for row in rows}


def paused_pipeline_ids(connection: Connection) -> set[str]:
    return set(
        connection.execute(
            sa.select(pipelines.c.pipeline_id).where(pipelines.c.paused.is_(True))
        ).scalars()
    )


def beat(connection: Connection, record: HeartbeatRecord) -> None:
    values = {
        "hostname": record.hostname,
        "pid": record.pid,
        "started_at": record.started_at,
        "last_heartbeat": record.last_heartbeat,
        "stopped_at": record.stopped_at,
    }
    update = scheduler_heartbeats.update().where(_hb.owner == record.owner).values(values)
    if connection.execute(update).rowcount == 0:
        connection.execute(scheduler_heartbeats.insert().values(owner=record.owner, **values))


def prune_heartbeats(connection: Connection, now: datetime, keep: timedelta) -> int:
    """Drop the rows of schedulers stopped, or not heard from, for longer than ``keep``."""
    cutoff = now - keep
    result = connection.execute(
        scheduler_heartbeats.delete().where(
            sa.or_(_hb.last_heartbeat < cutoff, _hb.stopped_at < cutoff)
        )
    )
    return result.rowcount


def heartbeats(connection: Connection, limit: int) -> list[HeartbeatRecord]:
    rows = connection.execute(
        scheduler_heartbeats.select().order_by(_hb.last_heartbeat.desc()).limit(limit)
    )
    return [
        HeartbeatRecord(
            owner=row.owner,
            hostname=row.hostname,
            pid=row.pid,
            started_at=row.started_at,
            last_heartbeat=row.last_heartbeat,
            stopped_at=row.stopped_at,
        )
        for row in rows
    ]


def cancel_backfill(
    connection: Connection, backfill_id: str, now: datetime, note: str, *, with_runs: bool
) -> list[str]:
    """See ``StateStore.cancel_backfill``; ``connection`` is in a transaction."""
    state = connection.execute(
        sa.select(backfills.c.state).where(backfills.c.backfill_id == backfill_id)
    ).scalar()
    if state is None:
        raise NotFoundError(f"no backfill {backfill_id!r} in the metadata store")
    ended = connection.execute(
        backfills.update()
        .where(backfills.c.backfill_id == backfill_id, backfills.c.state == "running")
        .values(state="cancelled", ended_at=now, lease_expires_at=None)
    )
    if ended.rowcount != 1:
        raise TransitionRejected(
            f"backfill {backfill_id!r} already ended {state}; nothing to cancel"
        )
    # its runs that have not started (a queued run is started by its driver's first
    # step), and with ``with_runs`` its running ones too
    states = ("queued", "running") if with_runs else ("queued",)
    run_ids = list(
        connection.execute(
            sa.select(runs.c.run_id)
            .where(runs.c.backfill_id == backfill_id, runs.c.state.in_(states))
            .order_by(runs.c.run_id)
        ).scalars()
    )
    for run_id in run_ids:
        request_cancel(connection, run_id, now, note)
    return run_ids
