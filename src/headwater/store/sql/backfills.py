"""Backfills on SQL: their rows, and the lease of the process advancing each one.

A backfill's lease works as a run's (see ``SqlStore.claim_run``): the process advancing
it renews the lease on every pass; when that process dies the lease expires and
whichever scheduler ticks next carries the backfill on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import NotFoundError
from headwater.store.records import BackfillRecord
from headwater.store.sql.schema import backfills

_bf = backfills.c
RUNNING = "running"


def _from_row(row: Any) -> BackfillRecord:
    return BackfillRecord(
        backfill_id=row.backfill_id,
        pipeline_id=row.pipeline_id,
        start_date=row.start_date,
        end_date=row.end_date,
        max_active_runs=row.max_active_runs,
        reprocess=row.reprocess,
        reverse=bool(row.reverse),
        params=json.loads(row.params),
        state=row.state,
        created_at=row.created_at,
        ended_at=row.ended_at,
        owner=row.owner,
        lease_expires_at=row.lease_expires_at,
        partitions=_read_list(row.partitions),
        asset_selection=_read_list(row.asset_selection),
    )


def _read_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _write_list(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def insert_backfill(connection: Connection, record: BackfillRecord) -> None:
    connection.execute(
        backfills.insert().values(
            backfill_id=record.backfill_id,
            pipeline_id=record.pipeline_id,
            start_date=record.start_date,
            end_date=record.end_date,
            max_active_runs=record.max_active_runs,
            reprocess=record.reprocess,
            reverse=record.reverse,
            params=json.dumps(record.params, sort_keys=True, default=str),
            state=record.state,
            created_at=record.created_at,
            ended_at=record.ended_at,
            owner=record.owner,
            lease_expires_at=record.lease_expires_at,
            partitions=_write_list(record.partitions),
            asset_selection=_write_list(record.asset_selection),
        )
    )


def get_backfill(connection: Connection, backfill_id: str) -> BackfillRecord:
    row = connection.execute(backfills.select().where(_bf.backfill_id == backfill_id)).first()
    if row is None:
        raise NotFoundError(
            f"no backfill {backfill_id!r} in the metadata store; "
            "'headwater backfills list' shows the backfills"
        )
    return _from_row(row)


def list_backfills(
    connection: Connection, pipeline_id: str | None, state: str | None, limit: int
) -> list[BackfillRecord]:
    query = backfills.select().order_by(_bf.created_at.desc(), _bf.backfill_id.desc())
    if pipeline_id is not None:
        query = query.where(_bf.pipeline_id == pipeline_id)
    if state is not None:
        query = query.where(_bf.state == state)
    return [_from_row(row) for row in connection.execute(query.limit(limit))]


def claim_backfill(
    connection: Connection,
    backfill_id: str,
    owner: str,
    now: datetime,
    lease_until: datetime,
    take_over: bool,
) -> bool:
    query = backfills.update().where(_bf.backfill_id == backfill_id, _bf.state == RUNNING)
    if not take_over:
        query = query.where(
            sa.or_(
                _bf.owner.is_(None),
                _bf.owner == owner,
                _bf.lease_expires_at.is_(None),
                _bf.lease_expires_at < now,
            )
        )
    claimed = connection.execute(query.values(owner=owner, lease_expires_at=lease_until))
    return claimed.rowcount == 1


def release_backfill(connection: Connection, backfill_id: str, owner: str) -> None:
    connection.execute(
        backfills.update()
        .where(_bf.backfill_id == backfill_id, _bf.owner == owner)
        .values(lease_expires_at=None)
    )


def finish_backfill(
    connection: Connection, backfill_id: str, state: str, ended_at: datetime
) -> bool:
    finished = connection.execute(
        backfills.update()
        .where(_bf.backfill_id == backfill_id, _bf.state == RUNNING)
        .values(state=state, ended_at=ended_at, lease_expires_at=None)
    )
    return finished.rowcount == 1
