"""Reads the REST API makes: keyset pages of runs and backfills, the last runs and the
freshness of many pipelines at once, and the runs and task instances that change.

Each is one query, bounded by its caller's limit, and walks an index: runs by
``created_at`` (``ix_runs_created_at``) or by pipeline and logical date (the unique
constraint), task instances by run (their primary key), backfills by primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.records import BackfillRecord, RunRecord
from headwater.store.sql.backfills import _from_row as backfill_from_row
from headwater.store.sql.schema import backfills, pipelines, runs, task_instances
from headwater.store.sql.store import _run_from_row

_r = runs.c
_ti = task_instances.c
_bf = backfills.c
_p = pipelines.c
ACTIVE_RUN_STATES = ("queued", "running")


def runs_page(
    connection: Connection,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    pipeline_id: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[RunRecord]:
    """Runs newest first (by creation, then id), strictly after the key ``after``.

    ``since`` and ``until`` bound the logical date: ``since <= logical_date < until``.
    """
    query = runs.select().order_by(_r.created_at.desc(), _r.run_id.desc())
    if after is not None:
        created_at, run_id = after
        query = query.where(
            sa.or_(
                _r.created_at < created_at,
                sa.and_(_r.created_at == created_at, _r.run_id < run_id),
            )
        )
    if pipeline_id is not None:
        query = query.where(_r.pipeline_id == pipeline_id)
    if state is not None:
        query = query.where(_r.state == state)
    if since is not None:
        query = query.where(_r.logical_date >= since)
    if until is not None:
        query = query.where(_r.logical_date < until)
    return [_run_from_row(row) for row in connection.execute(query.limit(limit))]


def last_runs(
    connection: Connection, pipeline_ids: Sequence[str], per_pipeline: int
) -> dict[str, list[dict[str, Any]]]:
    """The ``per_pipeline`` latest runs (by logical date) of each pipeline, newest first."""
    if not pipeline_ids:
        return {}
    ranked = (
        sa.select(
            _r.pipeline_id,
            _r.run_id,
            _r.state,
            _r.logical_date,
            sa.func.row_number()
            .over(partition_by=_r.pipeline_id, order_by=(_r.logical_date.desc(), _r.run_id))
            .label("rank"),
        )
        .where(_r.pipeline_id.in_(list(pipeline_ids)))
        .subquery()
    )
    query = (
        sa.select(ranked.c.pipeline_id, ranked.c.run_id, ranked.c.state, ranked.c.logical_date)
        .where(ranked.c.rank <= per_pipeline)
        .order_by(ranked.c.pipeline_id, ranked.c.rank)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in connection.execute(query):
        found.setdefault(row.pipeline_id, []).append(
            {"run_id": row.run_id, "state": row.state, "logical_date": row.logical_date}
        )
    return found


def newest_success(connection: Connection, pipeline_ids: Sequence[str]) -> dict[str, datetime]:
    """For each pipeline, the end of its newest successfully processed data interval."""
    if not pipeline_ids:
        return {}
    query = (
        sa.select(_r.pipeline_id, sa.func.max(_r.data_interval_end).label("newest"))
        .where(_r.pipeline_id.in_(list(pipeline_ids)), _r.state == "success")
        .group_by(_r.pipeline_id)
    )
    return {row.pipeline_id: row.newest for row in connection.execute(query) if row.newest}


def backfills_page(
    connection: Connection,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    pipeline_id: str | None = None,
    state: str | None = None,
) -> list[BackfillRecord]:
    """Backfills newest first, strictly after the key ``after`` (created_at, id)."""
    query = backfills.select().order_by(_bf.created_at.desc(), _bf.backfill_id.desc())
    if after is not None:
        created_at, backfill_id = after
        query = query.where(
            sa.or_(
                _bf.created_at < created_at,
                sa.and_(_bf.created_at == created_at, _bf.backfill_id < backfill_id),
            )
        )
    if pipeline_id is not None:
        query = query.where(_bf.pipeline_id == pipeline_id)
    if state is not None:
        query = query.where(_bf.state == state)
    return [backfill_from_row(row) for row in connection.execute(query.limit(limit))]


def watched_runs(connection: Connection, ended_since: datetime, limit: int) -> list[Any]:
    """Runs that may be changing: queued or running, or ended since ``ended_since``.

    Rows of (run_id, pipeline_id, state, logical_date, started_at, ended_at), the
    newest first, at most ``limit``.
    """
    query = (
        sa.select(_r.run_id, _r.pipeline_id, _r.state, _r.logical_date, _r.started_at, _r.ended_at)
        .where(sa.or_(_r.state.in_(ACTIVE_RUN_STATES), _r.ended_at >= ended_since))
        .order_by(_r.created_at.desc())
        .limit(limit)
    )
    return list(connection.execute(query))


def task_states(connection: Connection, run_ids: Sequence[str]) -> list[Any]:
    """Rows of (run_id, task_id, map_index, state, try_number) of the runs' instances."""
    if not run_ids:
        return []
    query = sa.select(_ti.run_id, _ti.task_id, _ti.map_index, _ti.state, _ti.try_number).where(
        _ti.run_id.in_(list(run_ids))
    )
    return list(connection.execute(query))


def pipelines_page(connection: Connection, *, limit: int, after: str | None = None) -> list[Any]:
    """Pipelines by id, strictly after ``after``, without their (large) graphs, nor those
    removed from the code.

    Rows of (pipeline_id, source_file, description, schedule, timezone, updated_at, paused).
    """
    query = (
        sa.select(
            _p.pipeline_id,
            _p.source_file,
            _p.description,
            _p.schedule,
            _p.timezone,
            _p.updated_at,
            _p.paused,
        )
        .where(_p.removed_at.is_(None))  # the code no longer defines those
        .order_by(_p.pipeline_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_p.pipeline_id > after)
    return list(connection.execute(query))
