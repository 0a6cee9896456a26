"""Read helpers of the web UI: bounded, index-backed queries, never "everything".

States travel to the browser as one character per task (``STATE_CODES``), in the order
of the pipeline's graph description, so a run of 10,000 tasks is a 10 KB string.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.records import TaskInstanceRecord
from headwater.store.sql.schema import UTCDateTime, pipelines, runs, task_instances

STATE_CODES = {
    "none": "n",
    "queued": "q",
    "running": "r",
    "success": "s",
    "failed": "f",
    "skipped": "k",
    "upstream_failed": "u",
    "up_for_retry": "y",
    "up_for_reschedule": "w",
}
STATE_NAMES = {code: state for state, code in STATE_CODES.items()}
MISSING = "."  # the task has no instance in that run (added to the pipeline later)
# which state a mapped task shows, from the states of its items: the most urgent first
_URGENCY = ["failed", "upstream_failed", "up_for_retry", "running", "up_for_reschedule"]
_URGENCY += ["queued", "none", "skipped", "success"]
_RANK = {state: rank for rank, state in enumerate(_URGENCY)}
FINISHED = frozenset({"success", "failed"})
MAX_LIMIT = 1000
EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # before any logical date


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineRow:
    pipeline_id: str
    description: str
    schedule: str | None
    timezone: str
    paused: bool
    freshness: timedelta | None  # as stored with its graph (``@pipeline(freshness=...)``)
    newest_success_end: datetime | None  # the end of its newest successful interval


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCell:
    run_id: str
    state: str
    logical_date: datetime
    backfill_id: str | None = None


def pipeline_rows(
    connection: Connection, *, search: str = "", after: str | None = None, limit: int = 500
) -> list[PipelineRow]:
    """Pipelines by id, whose id or description contains ``search``, after ``after``, with
    their stored freshness limit and the end of their newest successful data interval
    (a correlated subquery that reads the ``(pipeline_id, logical_date)`` index backwards
    to the newest success: it does not grow with history)."""
    c = pipelines.c
    newest = _newest_success(c.pipeline_id)
    # the graph is JSON in a text column: PostgreSQL needs a cast, SQLite's JSON functions
    # read the text as it is (and a CAST to JSON there would make it a number)
    graph: Any = (
        sa.type_coerce(c.graph, sa.JSON)
        if connection.dialect.name == "sqlite"
        else sa.cast(c.graph, sa.JSON)
    )
    stored_freshness = graph[("alerting", "freshness_seconds")].as_float()
    query = sa.select(
        c.pipeline_id,
        c.description,
        c.schedule,
        c.timezone,
        c.paused,
        stored_freshness.label("freshness_seconds"),
        newest.label("newest_success_end"),
    )
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                c.pipeline_id.ilike(pattern, escape="\\"), c.description.ilike(pattern, escape="\\")
            )
        )
    if after is not None:
        query = query.where(c.pipeline_id > after)
    query = query.where(c.removed_at.is_(None)).order_by(c.pipeline_id).limit(min(limit, MAX_LIMIT))
    return [
        PipelineRow(
            pipeline_id=row.pipeline_id,
            description=row.description,
            schedule=row.schedule,
            timezone=row.timezone,
            paused=bool(row.paused),
            freshness=(
                None if row.freshness_seconds is None else timedelta(seconds=row.freshness_seconds)
            ),
            newest_success_end=_moment(row.newest_success_end),
        )
        for row in connection.execute(query)
    ]


def _newest_success(pipeline_id: Any) -> Any:
    """The end of the data interval of the pipeline's latest successful run (by logical
    date), walking the ``(pipeline_id, logical_date)`` index backwards."""
    r = runs.c
    return (
        sa.select(r.data_interval_end)
        .where(r.pipeline_id == pipeline_id, r.state == "success")
        .order_by(r.logical_date.desc())
        .limit(1)
        .scalar_subquery()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Strip:
    """A pipeline's latest runs, oldest first: one state character each, and their ids."""

    states: str
    run_ids: list[str]

    @property
    def last_state(self) -> str | None:
        return STATE_NAMES.get(self.states[-1]) if self.states else None


def strips(
    connection: Connection, pipeline_ids: Sequence[str], per_pipeline: int
) -> dict[str, Strip]:
    """The latest ``per_pipeline`` runs of each pipeline, in one statement.

    For each pipeline (a primary-key lookup) a correlated subquery finds the logical date
    of its ``per_pipeline``-th latest run by reading the ``(pipeline_id, logical_date)``
    index backwards, and the runs from that date on are one range of the same index: the
    cost grows with the pipelines on the page, never with their history. Only ids and
    states travel (no dates to convert), in index order.
    """
    found: dict[str, tuple[list[str], list[str]]] = {p: ([], []) for p in pipeline_ids}
    if pipeline_ids and per_pipeline > 0:
        recent, earlier = runs.alias("recent"), runs.alias("earlier")
        p, r, older = pipelines.c, recent.c, earlier.c
        cutoff = (
            sa.select(older.logical_date)
            .where(older.pipeline_id == p.pipeline_id)
            .order_by(older.logical_date.desc())
            .offset(per_pipeline - 1)
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            sa.select(r.pipeline_id, r.run_id, r.state)
            .select_from(pipelines.join(recent, r.pipeline_id == p.pipeline_id))
            .where(
                p.pipeline_id.in_(list(pipeline_ids)),
                r.logical_date >= sa.func.coalesce(cutoff, sa.literal(EPOCH, UTCDateTime)),
            )
            .order_by(r.pipeline_id, r.logical_date)
        )
        for pipeline_id, run_id, state in connection.execute(statement):
            codes, ids = found[pipeline_id]
            codes.append(STATE_CODES.get(state, "n"))
            ids.append(run_id)
    return {p: Strip(states="".join(codes), run_ids=ids) for p, (codes, ids) in found.items()}


def _cell(row: Any) -> RunCell:
    moment = row.logical_date
    if isinstance(moment, str):  # a UNION on SQLite hands back the stored text
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return RunCell(
        run_id=row.run_id, state=row.state, logical_date=moment, backfill_id=row.backfill_id
    )


def run_window(
    connection: Connection, pipeline_id: str, *, before: datetime | None, limit: int
) -> list[RunCell]:
    """Up to ``limit`` runs of the pipeline whose logical date is before ``before``,
    newest first (a keyset page of its history)."""
    c = runs.c
    query = sa.select(c.run_id, c.state, c.logical_date, c.backfill_id).where(
        c.pipeline_id == pipeline_id
    )
    if before is not None:
        query = query.where(c.logical_date < before)
    query = query.order_by(c.logical_date.desc()).limit(min(limit, MAX_LIMIT))
    return [_cell(row) for row in connection.execute(query)]


def _fold(order: dict[str, int], rows: Any) -> str:
    """One character per task of ``order`` from (task_id, state) rows."""
    best: list[str | None] = [None] * len(order)
    for task_id, state in rows:
        position = order.get(task_id)
        if position is None:
            continue
        held = best[position]
        if held is None or _RANK.get(state, 0) < _RANK.get(held, 0):
            best[position] = state
    return "".join(MISSING if s is None else STATE_CODES.get(s, "n") for s in best)


def run_states(connection: Connection, run_id: str, order: dict[str, int]) -> str:
    """The run's task states, one character per task of ``order`` (a mapped task shows
    the most urgent state of its items)."""
    ti = task_instances.c
    rows = connection.execute(sa.select(ti.task_id, ti.state).where(ti.run_id == run_id))
    return _fold(order, rows)


class StatesCache:
    """State strings of finished runs: they change only when a run is retried or
    cleared, which moves it out of its finished state (and changes the key)."""

    def __init__(self, size: int = 400) -> None:
        self._items: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, str, str], value: str) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def grid_rows(
    connection: Connection,
    window: Sequence[RunCell],
    order: dict[str, int],
    graph_key: str,
    cache: StatesCache,
) -> list[str]:
    """The state string of each run of ``window``, in one query for those not cached."""
    keys = {cell.run_id: (cell.run_id, cell.state, graph_key, "") for cell in window}
    rows: dict[str, str] = {}
    missing = []
    for cell in window:
        cached = cache.get(keys[cell.run_id]) if cell.state in FINISHED else None
        if cached is None:
            missing.append(cell.run_id)
        else:
            rows[cell.run_id] = cached
    if missing:
        ti = task_instances.c
        grouped: dict[str, list[tuple[str, str]]] = {run_id: [] for run_id in missing}
        statement = sa.select(ti.run_id, ti.task_id, ti.state).where(ti.run_id.in_(missing))
        for run_id, task_id, state in connection.execute(statement):
            grouped[run_id].append((task_id, state))
        states = {cell.run_id: cell.state for cell in window}
        for run_id, pairs in grouped.items():
            rows[run_id] = _fold(order, pairs)
            if states[run_id] in FINISHED:
                cache.put(keys[run_id], rows[run_id])
    return [rows[cell.run_id] for cell in window]


def task_timing(
    connection: Connection, run_id: str
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Each task's first start and last end in the run (over its items)."""
    ti = task_instances.c
    statement = (
        sa.select(ti.task_id, sa.func.min(ti.started_at), sa.func.max(ti.ended_at))
        .where(ti.run_id == run_id)
        .group_by(ti.task_id)
    )
    timing: dict[str, tuple[datetime | None, datetime | None]] = {}
    for task_id, started, ended in connection.execute(statement):
        timing[task_id] = (_moment(started), _moment(ended))
    return timing


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def task_page(
    connection: Connection,
    run_id: str,
    *,
    state: str = "",
    search: str = "",
    after: tuple[str, int] | None = None,
    limit: int = 200,
) -> list[Any]:
    """A keyset page of the run's task instances by (task_id, map_index)."""
    ti = task_instances.c
    query = sa.select(
        ti.task_id,
        ti.map_index,
        ti.state,
        ti.try_number,
        ti.started_at,
        ti.ended_at,
        ti.duration,
        ti.error,
    ).where(ti.run_id == run_id)
    if state:
        query = query.where(ti.state == state)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ti.task_id.ilike(f"%{escaped}%", escape="\\"))
    if after is not None:
        query = query.where(sa.tuple_(ti.task_id, ti.map_index) > sa.tuple_(*after))
    query = query.order_by(ti.task_id, ti.map_index).limit(min(limit, MAX_LIMIT))
    return list(connection.execute(query))


def task_instance(
    connection: Connection, run_id: str, task_id: str, map_index: int
) -> TaskInstanceRecord | None:
    ti = task_instances.c
    row = connection.execute(
        task_instances.select().where(
            ti.run_id == run_id, ti.task_id == task_id, ti.map_index == map_index
        )
    ).first()
    if row is None:
        return None
    return TaskInstanceRecord(
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        state=row.state,
        try_number=row.try_number,
        max_tries=row.max_tries,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration=row.duration,
        next_try_at=row.next_try_at,
        error=row.error,
    )


def state_counts(connection: Connection, run_id: str) -> dict[str, int]:
    ti = task_instances.c
    statement = sa.select(ti.state, sa.func.count()).where(ti.run_id == run_id).group_by(ti.state)
    return {str(row[0]): int(row[1]) for row in connection.execute(statement)}


def waiting_tries(connection: Connection) -> int:
    """Task instances queued (ready, waiting for a slot or an executor)."""
    ti = task_instances.c
    statement = sa.select(sa.func.count()).where(ti.state == "queued")
    return int(connection.execute(statement).scalar_one())


def backfill_counts(
    connection: Connection, backfill_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per backfill, how many of its runs are in each state."""
    c = runs.c
    counts: dict[str, dict[str, int]] = {backfill_id: {} for backfill_id in backfill_ids}
    if not backfill_ids:
        return counts
    statement = (
        sa.select(c.backfill_id, c.state, sa.func.count())
        .where(c.backfill_id.in_(list(backfill_ids)))
        .group_by(c.backfill_id, c.state)
    )
    for backfill_id, state, count in connection.execute(statement):
        counts[backfill_id][state] = count
    return counts
