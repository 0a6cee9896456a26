"""The alert outbox in SQL: events written with the changes that cause them, their
routing into per-channel deliveries, the leases senders hold on deliveries, and the
conditions (a missed deadline, a stale pipeline) that alert once while they hold.

The one table saying which stored change is which alert event is ``RUN_EVENTS`` and
``TASK_EVENTS`` below: ``record_change_events`` applies it inside the transaction of
``SqlStore.apply_many``, so an event exists exactly when its change was committed; a
rejected or fenced batch rolls both back. Only final states make events, never a try
that will be retried (that is ``task_retry``, its own, opt-in event).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from headwater.store.records import Batch, FinishTry, SetState
from headwater.store.sql.schema import (
    alert_conditions,
    alert_events,
    alert_outbox,
    runs,
    task_instances,
)

# stored state -> alert event: the only place that decides which change alerts
RUN_EVENTS = {"failed": "run_failed", "success": "run_succeeded"}
TASK_EVENTS = {"failed": "task_failed", "up_for_retry": "task_retry"}
ERROR_LINE_LIMIT = 500  # characters of an error's last line kept in a message

PENDING, SENT, DEAD = "pending", "sent", "dead"  # alert_outbox.state
_e, _o, _c, _r = alert_events.c, alert_outbox.c, alert_conditions.c, runs.c


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEventRow:
    """Something that may deserve an alert, before routing."""

    event_key: str
    event: str
    pipeline_id: str | None
    run_id: str | None
    logical_date: datetime | None
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRow:
    """One alert owed to one channel (a row of alert_outbox)."""

    id: int
    idempotency_key: str
    channel: str
    event: str
    pipeline_id: str | None
    run_id: str | None
    logical_date: datetime | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


def last_line(error: str | None) -> str | None:
    """The last non-blank line of an error, cut to ERROR_LINE_LIMIT characters."""
    if not error:
        return None
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    return line if len(line) <= ERROR_LINE_LIMIT else line[: ERROR_LINE_LIMIT - 1] + "…"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _insert_ignoring_duplicates(
    connection: Connection, table: sa.Table, key: str, rows: list[dict[str, Any]]
) -> int:
    """Insert ``rows``, skipping those whose ``key`` exists; how many were new."""
    inserted = 0
    for row in rows:  # one by one: rowcount says, per row, whether it was new
        statement = _insert_if_new(connection.dialect.name, table, key, tuple(row))
        inserted += len(connection.execute(statement, row).all())
    return inserted


@functools.cache
def _insert_if_new(dialect_name: str, table: sa.Table, key: str, columns: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING key``, built once: run ends
    insert an event in the engine's transaction, and building the statement costs more
    than executing it."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(table)
        .values({column: sa.bindparam(column, type_=table.c[column].type) for column in columns})
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[key])  # rowcount is not reliable here on every driver
    )


def insert_events(connection: Connection, events: Iterable[AlertEventRow]) -> int:
    """Insert events whose key is new; returns how many were. Idempotent."""
    rows = [
        {
            "event_key": event.event_key,
            "event": event.event,
            "pipeline_id": event.pipeline_id,
            "run_id": event.run_id,
            "logical_date": event.logical_date,
            "payload": json.dumps(event.payload, sort_keys=True, default=str),
            "created_at": event.created_at,
        }
        for event in events
    ]
    return _insert_ignoring_duplicates(connection, alert_events, "event_key", rows)


# events of committed changes


_RUNS_BY_ID = runs.select().where(_r.run_id.in_(sa.bindparam("run_ids", expanding=True)))


def record_change_events(connection: Connection, batches: Sequence[Batch]) -> None:
    """Write the alert events of ``batches``' changes, in their transaction."""
    task_changes = [
        change
        for batch in batches
        for change in batch.changes
        if (isinstance(change, FinishTry) and change.instance_state in TASK_EVENTS)
        or (isinstance(change, SetState) and change.state == "failed")
    ]
    run_updates = [
        batch.run_update
        for batch in batches
        if batch.run_update is not None and batch.run_update.state in RUN_EVENTS
    ]
    if not task_changes and not run_updates:
        return
    run_ids = {change.run_id for change in task_changes} | {u.run_id for u in run_updates}
    rows = {row.run_id: row for row in connection.execute(_RUNS_BY_ID, {"run_ids": list(run_ids)})}
    events = [_task_event(change, rows.get(change.run_id)) for change in task_changes]
    for update in run_updates:
        row = rows.get(update.run_id)
        if row is not None:
            events += _run_events(connection, row, update.state)
    insert_events(connection, [event for event in events if event is not None])


def _run_facts(row: Any) -> dict[str, Any]:
    duration = None
    if row.started_at is not None and row.ended_at is not None:
        duration = (row.ended_at - row.started_at).total_seconds()
    return {
        "pipeline_id": row.pipeline_id,
        "run_id": row.run_id,
        "logical_date": _iso(row.logical_date),
        "data_interval_start": _iso(row.data_interval_start),
        "data_interval_end": _iso(row.data_interval_end),
        "run_type": row.run_type,
        "state": row.state,
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "duration": duration,
        "note": row.note,
    }


def _task_event(change: FinishTry | SetState, run: Any) -> AlertEventRow | None:
    if run is None:
        return None
    if isinstance(change, FinishTry):
        event = TASK_EVENTS[change.instance_state]
        ended: datetime | None = change.ended_at
        try_number, error = change.try_number, change.error
        duration: float | None = change.duration
    else:
        event, try_number, ended, error = "task_failed", None, change.ended_at, change.error
        duration = None
    moment: datetime = ended or run.ended_at or run.created_at
    task = {
        "task_id": change.task_id,
        "map_index": change.map_index,
        "try_number": try_number,
        "error": last_line(error),
        "duration": duration,
        "next_try_at": _iso(change.next_try_at) if isinstance(change, FinishTry) else None,
    }
    return AlertEventRow(
        event_key=f"{event}|{change.run_id}|{change.task_id}|{change.map_index}|"
        f"{try_number if try_number is not None else moment.isoformat()}",
        event=event,
        pipeline_id=run.pipeline_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        payload={**_run_facts(run), "event": event, "tasks": [task]},
        created_at=moment,
    )


def _run_events(connection: Connection, run: Any, state: str) -> list[AlertEventRow]:
    event = RUN_EVENTS[state]
    moment: datetime = run.ended_at or run.started_at or run.created_at
    facts = {**_run_facts(run), "event": event, "tasks": []}
    if state == "failed":
        facts["tasks"] = _failed_tasks(connection, run.run_id)
    events = [_run_event(run, event, facts, moment)]
    if state == "success":
        interval_failed, previous_failed = _failed_before(connection, run)
        if interval_failed or previous_failed:
            recovered = {**facts, "event": "run_recovered", "resolves_interval": interval_failed}
            events.append(_run_event(run, "run_recovered", recovered, moment))
    return events


def _run_event(run: Any, event: str, payload: dict[str, Any], moment: datetime) -> AlertEventRow:
    return AlertEventRow(
        event_key=f"{event}|{run.run_id}|{moment.isoformat()}",
        event=event,
        pipeline_id=run.pipeline_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        payload=payload,
        created_at=moment,
    )


def _failed_tasks(connection: Connection, run_id: str) -> list[dict[str, Any]]:
    ti = task_instances.c
    rows = connection.execute(
        sa.select(ti.task_id, ti.map_index, ti.try_number, ti.error, ti.duration)
        .where(ti.run_id == run_id, ti.state == "failed")
        .order_by(ti.task_id, ti.map_index)
        .limit(50)
    )
    return [
        {
            "task_id": row.task_id,
            "map_index": row.map_index,
            "try_number": row.try_number,
            "error": last_line(row.error),
            "duration": row.duration,
        }
        for row in rows
    ]


# Built once (it is asked at every run's success, in the engine's transaction): whether
# this run failed before (its interval did), and the state of the last ended run of the
# interval before it.
_FAILED_BEFORE = sa.select(
    sa.exists()
    .where(_e.run_id == sa.bindparam("run_id"), _e.event == "run_failed")
    .label("interval_failed"),
    sa.select(_r.state)
    .where(
        _r.pipeline_id == sa.bindparam("pipeline_id"),
        _r.logical_date < sa.bindparam("logical_date", type_=runs.c.logical_date.type),
        _r.state.in_(tuple(RUN_EVENTS)),
    )
    .order_by(_r.logical_date.desc())
    .limit(1)
    .scalar_subquery()
    .label("previous"),
)


def _failed_before(connection: Connection, run: Any) -> tuple[bool, bool]:
    """Whether this run's interval failed before, and whether the interval before did."""
    row = connection.execute(
        _FAILED_BEFORE,
        {"run_id": run.run_id, "pipeline_id": run.pipeline_id, "logical_date": run.logical_date},
    ).one()
    return bool(row.interval_failed), row.previous == "failed"


# conditions: once-only alerts while something holds


def open_condition(
    connection: Connection, key: str, event: str, pipeline_id: str | None, now: datetime
) -> bool:
    """Record condition ``key`` as open; False when it was already recorded (open or not)."""
    row = {"condition_key": key, "event": event, "pipeline_id": pipeline_id, "opened_at": now}
    return _insert_ignoring_duplicates(connection, alert_conditions, "condition_key", [row]) == 1


def resolve_conditions(
    connection: Connection, event: str, pipeline_id: str | None, now: datetime
) -> int:
    """Close the open conditions of ``event`` (for ``pipeline_id``); how many were open."""
    where = [_c.event == event, _c.resolved_at.is_(None)]
    if pipeline_id is not None:
        where.append(_c.pipeline_id == pipeline_id)
    return connection.execute(
        alert_conditions.update().where(*where).values(resolved_at=now)
    ).rowcount


def open_subjects(connection: Connection, event: str) -> set[str]:
    """What the open ``event`` conditions are recorded for (their ``pipeline_id``)."""
    query = sa.select(_c.pipeline_id).where(_c.event == event, _c.resolved_at.is_(None))
    return {subject for subject in connection.execute(query).scalars() if subject is not None}


def first_seen(connection: Connection, pipeline_id: str, now: datetime) -> datetime:
    """When watchers first saw ``pipeline_id`` (recorded now if never)."""
    key = f"seen|{pipeline_id}"
    open_condition(connection, key, "seen", pipeline_id, now)
    moment: datetime = connection.execute(
        sa.select(_c.opened_at).where(_c.condition_key == key)
    ).scalar_one()
    return moment


# routing: events -> deliveries


def has_unrouted(connection: Connection) -> bool:
    query = sa.select(_e.id).where(_e.routed_at.is_(None)).limit(1)
    return connection.execute(query).first() is not None


def unrouted_events(connection: Connection, limit: int) -> list[AlertEventRow]:
    """The oldest events not yet routed, locked against other senders where possible."""
    query = (
        sa.select(alert_events)
        .where(_e.routed_at.is_(None))
        .order_by(_e.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        AlertEventRow(
            event_key=row.event_key,
            event=row.event,
            pipeline_id=row.pipeline_id,
            run_id=row.run_id,
            logical_date=row.logical_date,
            payload=json.loads(row.payload),
            created_at=row.created_at,
        )
        for row in connection.execute(query)
    ]


def route(
    connection: Connection, event: AlertEventRow, channels: Iterable[str], now: datetime
) -> None:
    """Owe ``event`` to each of ``channels`` (once per channel, whoever routes it)."""
    rows = [
        {
            "idempotency_key": f"{event.event_key}|{channel}",
            "channel": channel,
            "event": event.event,
            "pipeline_id": event.pipeline_id,
            "run_id": event.run_id,
            "logical_date": event.logical_date,
            "payload": json.dumps(event.payload, sort_keys=True, default=str),
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for channel in sorted(set(channels))
    ]
    _insert_ignoring_duplicates(connection, alert_outbox, "idempotency_key", rows)
    connection.execute(_MARK_ROUTED, {"key": event.event_key, "now": now})


# built once: a sender routes every run's end (its transaction holds the write lock)
_MARK_ROUTED = (
    alert_events.update()
    .where(_e.event_key == sa.bindparam("key"))
    .values(routed_at=sa.bindparam("now", type_=alert_events.c.routed_at.type))
)


def delivered_channels(
    connection: Connection, pipeline_id: str, logical_date: datetime, events: Sequence[str]
) -> set[str]:
    """Channels owed one of ``events`` for this interval of this pipeline."""
    query = sa.select(_o.channel).where(
        _o.pipeline_id == pipeline_id, _o.logical_date == logical_date, _o.event.in_(events)
    )
    return set(connection.execute(query).scalars())


# deliveries: claimed with a lease, finished with an outcome


def has_due(connection: Connection, now: datetime) -> bool:
    """Whether some delivery may be due (a cheap read before a claim's write)."""
    query = (
        sa.select(_o.id)
        .where(
            _o.state == PENDING,
            _o.next_attempt_at <= now,
            sa.or_(_o.lease_until.is_(None), _o.lease_until < now),
        )
        .limit(1)
    )
    return connection.execute(query).first() is not None


def claim_deliveries(
    connection: Connection, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[DeliveryRow]:
    """Lease the due deliveries that head their (channel, pipeline) queue.

    A delivery is due when pending, its next attempt has come and no live lease holds
    it. Only the oldest pending delivery of each (channel, pipeline) is taken, so they
    are delivered in order: a resolve never overtakes its trigger.
    """
    older = alert_outbox.alias("older")
    ahead = (
        sa.select(older.c.id)
        .where(
            older.c.channel == _o.channel,
            sa.func.coalesce(older.c.pipeline_id, "") == sa.func.coalesce(_o.pipeline_id, ""),
            older.c.state == PENDING,
            older.c.id < _o.id,
        )
        .exists()
    )
    due = (
        sa.select(_o.id)
        .where(
            _o.state == PENDING,
            _o.next_attempt_at <= now,
            sa.or_(_o.lease_until.is_(None), _o.lease_until < now),
            ~ahead,
        )
        .order_by(_o.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        alert_outbox.update()
        .where(_o.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=lease_until)
        .returning(*alert_outbox.c)
    )
    return sorted((_delivery(row) for row in connection.execute(statement)), key=lambda d: d.id)


def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(
        id=row.id,
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        event=row.event,
        pipeline_id=row.pipeline_id,
        run_id=row.run_id,
        logical_date=row.logical_date,
        payload=json.loads(row.payload),
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def finish_delivery(
    connection: Connection,
    delivery_id: int,
    owner: str,
    *,
    state: str,
    now: datetime,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> bool:
    """Record an attempt's outcome, if ``owner`` still holds the lease; whether it did."""
    values: dict[str, Any] = {
        "state": state,
        "attempts": _o.attempts + 1,
        "lease_owner": None,
        "lease_until": None,
        "last_error": error,
    }
    if state == SENT:
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    statement = (
        alert_outbox.update()
        .where(_o.id == delivery_id, _o.lease_owner == owner, _o.state == PENDING)
        .values(values)
    )
    return bool(connection.execute(statement).rowcount == 1)


def release_delivery(
    connection: Connection, delivery_id: int, owner: str, next_attempt_at: datetime
) -> None:
    """Give a leased delivery back untried, due again at ``next_attempt_at``."""
    connection.execute(
        alert_outbox.update()
        .where(_o.id == delivery_id, _o.lease_owner == owner, _o.state == PENDING)
        .values(lease_owner=None, lease_until=None, next_attempt_at=next_attempt_at)
    )


def newest_success_end(connection: Connection, pipeline_id: str) -> datetime | None:
    """The end of the newest data interval a run of ``pipeline_id`` succeeded for."""
    query = sa.select(sa.func.max(_r.data_interval_end)).where(
        _r.pipeline_id == pipeline_id, _r.state == "success"
    )
    moment: datetime | None = connection.execute(query).scalar()
    return moment


def open_condition_keys(connection: Connection, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` already recorded as conditions (open or resolved)."""
    if not keys:
        return set()
    query = sa.select(_c.condition_key).where(_c.condition_key.in_(keys))
    return set(connection.execute(query).scalars())


def recent_deliveries(
    connection: Connection, limit: int, channel: str | None = None
) -> list[DeliveryRow]:
    """The newest deliveries first (at most ``limit``), of one channel or all."""
    query = alert_outbox.select().order_by(_o.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(_o.channel == channel)
    return [_delivery(row) for row in connection.execute(query)]


# keeping the tables small


def prune(connection: Connection, before: datetime) -> tuple[int, int]:
    """Forget events routed before ``before``, and deliveries that ended (sent or dead)
    and were created before it; returns how many of each. Pending deliveries stay."""
    events = connection.execute(alert_events.delete().where(_e.routed_at < before)).rowcount
    deliveries = connection.execute(
        alert_outbox.delete().where(_o.state.in_(("sent", "dead")), _o.created_at < before)
    ).rowcount
    return events, deliveries
