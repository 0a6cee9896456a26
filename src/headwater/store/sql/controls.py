"""What people and processes ask of the store besides running: pausing a pipeline,
cancelling a run, listing pipelines, and the heartbeats of scheduler processes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import NotFoundError, TransitionRejected
from headwater.store.records import HeartbeatRecord, PipelineRecord
from headwater.store.sql.schema import pipelines, runs, scheduler_heartbeats

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
    )


def list_pipelines(connection: Connection) -> list[PipelineRecord]:
    rows = connection.execute(pipelines.select().order_by(pipelines.c.pipeline_id))
    return [pipeline_from_row(row) for row in rows]


def set_paused(connection: Connection, pipeline_id: str, paused: bool) -> None:
    update = pipelines.update().where(pipelines.c.pipeline_id == pipeline_id).values(paused=paused)
    if connection.execute(update).rowcount != 1:
        raise NotFoundError(
            f"no pipeline {pipeline_id!r} in the metadata store; a pipeline is recorded "
            "when a scheduler loads it or it first runs"
        )


def request_cancel(connection: Connection, run_id: str, now: datetime, note: str) -> None:
    row = connection.execute(
        sa.select(runs.c.state, runs.c.cancel_requested_at).where(runs.c.run_id == run_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no run {run_id!r} in the metadata store")
    if row.state in FINISHED_RUN_STATES:
        raise TransitionRejected(f"run {run_id!r} already ended {row.state}; nothing to cancel")
    if row.cancel_requested_at is not None:
        return
    connection.execute(
        runs.update()
        .where(runs.c.run_id == run_id, runs.c.cancel_requested_at.is_(None))
        .values(cancel_requested_at=now, note=note)
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
