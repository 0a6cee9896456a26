"""SqlStore: the StateStore on SQLAlchemy Core, for SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from headwater.config import Settings
from headwater.errors import (
    EventSeenError,
    NotFoundError,
    RunExistsError,
    TransitionRejected,
)
from headwater.store.base import StateStore
from headwater.store.records import (
    AddInstances,
    AddPartitions,
    AssetRecord,
    BackfillRecord,
    Batch,
    Change,
    FinishTry,
    HeartbeatRecord,
    MaterializationRecord,
    PipelineRecord,
    PoolRecord,
    RecordMaterialization,
    ReleaseSlots,
    ResetMapped,
    RunRecord,
    RunUpdate,
    SetState,
    SlotGrants,
    SlotRequest,
    StartTry,
    TaskInstanceRecord,
    TryRecord,
)
from headwater.store.sql import (
    assets,
    backfills,
    controls,
    leases,
    materialized,
    outbox,
    pools,
    queries,
)
from headwater.store.sql.database_errors import database_error, translate_errors, url_error
from headwater.store.sql.engine import create_engine
from headwater.store.sql.migrate import ensure_schema
from headwater.store.sql.schema import events, pipelines, runs, task_instances, task_tries

_CHANGE_ORDER: dict[type, int] = {
    AddInstances: 0,
    ResetMapped: 0,
    FinishTry: 1,
    SetState: 2,
    StartTry: 3,
    ReleaseSlots: 4,
    RecordMaterialization: 5,
    AddPartitions: 5,
}


def _run_from_row(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        pipeline_id=row.pipeline_id,
        logical_date=row.logical_date,
        data_interval_start=row.data_interval_start,
        data_interval_end=row.data_interval_end,
        params=json.loads(row.params),
        state=row.state,
        run_type=row.run_type,
        triggered_by=row.triggered_by,
        source_file=row.source_file,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        owner=row.owner,
        lease_expires_at=row.lease_expires_at,
        backfill_id=row.backfill_id,
        priority=row.priority,
        lease_generation=row.lease_generation,
        cancel_requested_at=row.cancel_requested_at,
        note=row.note,
        partition_key=row.partition_key,
    )


# tries of a write that another process may race by inserting the same rows first
_RACED_WRITE_ATTEMPTS = 3


class SqlStore(StateStore):
    """The metadata store on a SQLAlchemy engine."""

    def __init__(self, engine: Engine, *, migrate: bool = True) -> None:
        self.engine = engine
        url = engine.url
        # an in-memory SQLite database is private to its connection: no one else opens it
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        self.url = None if in_memory else url.render_as_string(hide_password=False)
        self._sane_multi_rowcount = engine.dialect.supports_sane_multi_rowcount
        translate_errors(engine)
        if migrate:
            try:
                ensure_schema(engine)
            except sa.exc.DBAPIError as exc:  # those left to the store: integrity errors
                raise database_error(url, exc, connecting=True) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlStore:
        """The store at ``settings.database_url``, migrated to the newest schema.

        Raises:
            StoreError: the URL names no usable database, or the database cannot be
                opened; the message names it (without its password) and what to do.
        """
        try:
            engine = create_engine(settings)
        except (sa.exc.ArgumentError, ValueError, ImportError, OSError) as exc:
            raise url_error(settings.database_url, exc) from exc
        try:
            return cls(engine)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    # pipelines

    def upsert_pipeline(self, record: PipelineRecord) -> None:
        values = {
            "pipeline_id": record.pipeline_id,
            "source_file": record.source_file,
            "description": record.description,
            "schedule": record.schedule,
            "timezone": record.timezone,
            "graph": json.dumps(record.graph, sort_keys=True),
            "updated_at": record.updated_at,
            "removed_at": None,  # recorded again: defined again
        }
        update = pipelines.update().where(pipelines.c.pipeline_id == record.pipeline_id)
        with self.engine.begin() as connection:
            if connection.execute(update.values(values)).rowcount == 1:
                return
        try:
            with self.engine.begin() as connection:
                connection.execute(pipelines.insert().values(values))
        except sa.exc.IntegrityError:
            # another process inserted it meanwhile (two schedulers starting at once)
            with self.engine.begin() as connection:
                connection.execute(update.values(values))

    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        with self.engine.connect() as connection:
            row = connection.execute(
                pipelines.select().where(pipelines.c.pipeline_id == pipeline_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no pipeline {pipeline_id!r} in the metadata store")
        return controls.pipeline_from_row(row)

    def list_pipelines(self, *, removed: bool = False) -> list[PipelineRecord]:
        with self.engine.connect() as connection:
            return controls.list_pipelines(connection, removed=removed)

    def remove_pipelines(
        self, removed: Callable[[PipelineRecord], bool], now: datetime
    ) -> list[str]:
        with self.engine.begin() as connection:
            return controls.remove_pipelines(connection, removed, now)

    def set_paused(self, pipeline_id: str, paused: bool) -> None:
        with self.engine.begin() as connection:
            controls.set_paused(connection, pipeline_id, paused)

    # runs

    def create_run(
        self,
        run: RunRecord,
        instances: Sequence[tuple[str, int, int, int]],
        *,
        event_key: str | None = None,
    ) -> None:
        try:
            self._insert_run(run, instances, event_key)
        except sa.exc.IntegrityError:
            if event_key is not None and self.seen_events(run.pipeline_id, [event_key]):
                raise EventSeenError(
                    f"pipeline {run.pipeline_id!r} already reacted to {event_key!r}"
                ) from None
            existing = self.find_run(run.pipeline_id, run.logical_date)
            if existing is None:
                raise
            raise RunExistsError(
                f"pipeline {run.pipeline_id!r} already has a run for logical date "
                f"{run.logical_date.isoformat()}: {existing.run_id} ({existing.state})",
                run_id=existing.run_id,
            ) from None

    def record_event(self, pipeline_id: str, event_key: str, now: datetime) -> bool:
        """Note an event that started no run; False if it was already recorded."""
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    events.insert().values(
                        pipeline_id=pipeline_id, event_key=event_key, seen_at=now
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def seen_events(self, pipeline_id: str, event_keys: Sequence[str]) -> set[str]:
        """Which of ``event_keys`` the pipeline already reacted to."""
        if not event_keys:
            return set()
        query = sa.select(events.c.event_key).where(
            events.c.pipeline_id == pipeline_id, events.c.event_key.in_(list(event_keys))
        )
        with self.engine.connect() as connection:
            return set(connection.execute(query).scalars())

    def find_run(self, pipeline_id: str, logical_date: datetime) -> RunRecord | None:
        """The pipeline's run for ``logical_date``, if there is one."""
        query = runs.select().where(
            runs.c.pipeline_id == pipeline_id, runs.c.logical_date == logical_date
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _run_from_row(row)

    def _insert_run(
        self,
        run: RunRecord,
        instances: Sequence[tuple[str, int, int, int]],
        event_key: str | None,
    ) -> None:
        with self.engine.begin() as connection:
            if event_key is not None:
                # the event and its run are recorded together: neither without the other
                connection.execute(
                    events.insert().values(
                        pipeline_id=run.pipeline_id,
                        event_key=event_key,
                        seen_at=run.created_at,
                        run_id=run.run_id,
                    )
                )
            connection.execute(
                runs.insert().values(
                    run_id=run.run_id,
                    pipeline_id=run.pipeline_id,
                    logical_date=run.logical_date,
                    data_interval_start=run.data_interval_start,
                    data_interval_end=run.data_interval_end,
                    params=json.dumps(run.params, sort_keys=True, default=str),
                    state=run.state,
                    run_type=run.run_type,
                    triggered_by=run.triggered_by,
                    source_file=run.source_file,
                    created_at=run.created_at,
                    started_at=run.started_at,
                    ended_at=run.ended_at,
                    backfill_id=run.backfill_id,
                    priority=run.priority,
                    owner=run.owner,
                    lease_expires_at=run.lease_expires_at,
                    lease_generation=run.lease_generation,
                    partition_key=run.partition_key,
                )
            )
            self._add_instances(connection, run.run_id, instances)

    def get_run(self, run_id: str) -> RunRecord:
        with self.engine.connect() as connection:
            row = connection.execute(runs.select().where(runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(
                f"no run {run_id!r} in the metadata store; 'headwater runs list' shows the runs"
            )
        return _run_from_row(row)

    def list_runs(
        self, pipeline_id: str | None = None, limit: int = 50, state: str | None = None
    ) -> list[RunRecord]:
        query = runs.select().order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
        if pipeline_id is not None:
            query = query.where(runs.c.pipeline_id == pipeline_id)
        if state is not None:
            query = query.where(runs.c.state == state)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_run_from_row(row) for row in rows]

    # run ownership: leases renewed while a process drives the run

    def claim_run(
        self,
        run_id: str,
        owner: str,
        now: datetime,
        lease_until: datetime,
        *,
        take_over: bool = False,
        max_active: int | None = None,
    ) -> RunRecord | None:
        with self.engine.begin() as connection:
            claimed = leases.claim_run(
                connection,
                run_id,
                owner,
                now,
                lease_until,
                take_over=take_over,
                max_active=max_active,
            )
        return self.get_run(run_id) if claimed else None

    def extend_leases(
        self,
        owner: str,
        run_ids: Sequence[str],
        lease_until: datetime,
        *,
        generations: Mapping[str, int] | None = None,
        slot_runs: Sequence[str] = (),
    ) -> set[str]:
        with self.engine.begin() as connection:
            lost = leases.extend_leases(connection, owner, run_ids, lease_until, generations)
            held = sorted((set(run_ids) - lost) | set(slot_runs))
            pools.extend_slot_leases(connection, owner, held, lease_until)
            return lost

    def release_run(self, run_id: str, owner: str, generation: int | None = None) -> None:
        with self.engine.begin() as connection:
            leases.release_run(connection, run_id, owner, generation)

    def live_owners(self, now: datetime) -> set[str]:
        with self.engine.connect() as connection:
            return leases.live_owners(connection, now)

    def reap_abandoned(self, owner: str, now: datetime) -> None:
        with self.engine.begin() as connection:
            leases.reap_abandoned(connection, owner, now)

    def claimable_runs(self, now: datetime, limit: int = 100) -> list[RunRecord]:
        """Queued runs, and running runs whose driver's lease expired; by priority, then age."""
        query = (
            runs.select()
            .where(
                sa.or_(
                    runs.c.state == "queued",
                    sa.and_(
                        runs.c.state == "running",
                        sa.or_(runs.c.lease_expires_at < now, runs.c.lease_expires_at.is_(None)),
                    ),
                )
            )
            .order_by(runs.c.priority.desc(), runs.c.created_at, runs.c.run_id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [_run_from_row(row) for row in rows]

    def active_run_counts(self) -> dict[str, int]:
        """Per pipeline, how many runs are queued or running (backfill runs aside)."""
        query = (
            sa.select(runs.c.pipeline_id, sa.func.count())
            .where(runs.c.state.in_(("queued", "running")), runs.c.backfill_id.is_(None))
            .group_by(runs.c.pipeline_id)
        )
        with self.engine.connect() as connection:
            return {row[0]: int(row[1]) for row in connection.execute(query)}

    def latest_run(self, pipeline_id: str, run_types: Sequence[str]) -> RunRecord | None:
        """The pipeline's run of one of ``run_types`` with the latest logical date."""
        query = (
            runs.select()
            .where(runs.c.pipeline_id == pipeline_id, runs.c.run_type.in_(run_types))
            .order_by(runs.c.logical_date.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _run_from_row(row)

    # task instances and tries

    def get_task_instances(self, run_id: str) -> list[TaskInstanceRecord]:
        query = (
            task_instances.select()
            .where(task_instances.c.run_id == run_id)
            .order_by(task_instances.c.task_id, task_instances.c.map_index)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [TaskInstanceRecord(**row._asdict()) for row in rows]

    def get_tries(
        self, run_id: str, task_id: str | None = None, map_index: int | None = None
    ) -> list[TryRecord]:
        query = task_tries.select().where(task_tries.c.run_id == run_id)
        if task_id is not None:
            query = query.where(task_tries.c.task_id == task_id)
        if map_index is not None:
            query = query.where(task_tries.c.map_index == map_index)
        query = query.order_by(
            task_tries.c.task_id, task_tries.c.map_index, task_tries.c.try_number
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [TryRecord(**{k: v for k, v in row._asdict().items() if k != "id"}) for row in rows]

    # pools

    def set_pool(self, name: str, slots: int, description: str | None, now: datetime) -> None:
        try:
            with self.engine.begin() as connection:
                pools.set_pool(connection, name, slots, description, now)
        except sa.exc.IntegrityError:
            # another process created the pool meanwhile: update it instead
            with self.engine.begin() as connection:
                pools.set_pool(connection, name, slots, description, now)

    def list_pools(self, now: datetime) -> list[PoolRecord]:
        with self.engine.connect() as connection:
            return pools.list_pools(connection, now)

    def delete_pool(self, name: str) -> None:
        with self.engine.begin() as connection:
            pools.delete_pool(connection, name)

    def acquire_slots(
        self,
        requests: Sequence[SlotRequest],
        owner: str,
        now: datetime,
        lease_until: datetime,
    ) -> SlotGrants:
        with self.engine.begin() as connection:
            return pools.acquire_slots(connection, requests, owner, now, lease_until)

    # backfills

    def runs_between(self, pipeline_id: str, first: datetime, last: datetime) -> list[RunRecord]:
        query = (
            runs.select()
            .where(
                runs.c.pipeline_id == pipeline_id,
                runs.c.logical_date >= first,
                runs.c.logical_date <= last,
            )
            .order_by(runs.c.logical_date)
        )
        with self.engine.connect() as connection:
            return [_run_from_row(row) for row in connection.execute(query)]

    def create_backfill(self, record: BackfillRecord) -> None:
        with self.engine.begin() as connection:
            backfills.insert_backfill(connection, record)

    def get_backfill(self, backfill_id: str) -> BackfillRecord:
        with self.engine.connect() as connection:
            return backfills.get_backfill(connection, backfill_id)

    def list_backfills(
        self, pipeline_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[BackfillRecord]:
        with self.engine.connect() as connection:
            return backfills.list_backfills(connection, pipeline_id, state, limit)

    def claim_backfill(
        self,
        backfill_id: str,
        owner: str,
        now: datetime,
        lease_until: datetime,
        *,
        take_over: bool = False,
    ) -> BackfillRecord | None:
        with self.engine.begin() as connection:
            claimed = backfills.claim_backfill(
                connection, backfill_id, owner, now, lease_until, take_over
            )
        return self.get_backfill(backfill_id) if claimed else None

    def release_backfill(self, backfill_id: str, owner: str) -> None:
        with self.engine.begin() as connection:
            backfills.release_backfill(connection, backfill_id, owner)

    def finish_backfill(self, backfill_id: str, state: str, ended_at: datetime) -> bool:
        with self.engine.begin() as connection:
            return backfills.finish_backfill(connection, backfill_id, state, ended_at)

    def request_cancel(self, run_id: str, now: datetime, note: str) -> bool:
        with self.engine.begin() as connection:
            return controls.request_cancel(connection, run_id, now, note)

    def cancel_requests(self, run_ids: Sequence[str]) -> dict[str, str]:
        with self.engine.connect() as connection:
            return controls.cancel_requests(connection, run_ids)

    def cancel_backfill(
        self, backfill_id: str, now: datetime, note: str, *, with_runs: bool = False
    ) -> list[str]:
        with self.engine.begin() as connection:
            return controls.cancel_backfill(connection, backfill_id, now, note, with_runs=with_runs)

    def paused_pipeline_ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return controls.paused_pipeline_ids(connection)

    def beat(self, record: HeartbeatRecord) -> None:
        with self.engine.begin() as connection:
            controls.beat(connection, record)

    def prune_heartbeats(self, now: datetime, keep: timedelta) -> int:
        with self.engine.begin() as connection:
            return controls.prune_heartbeats(connection, now, keep)

    def heartbeats(self, limit: int = 100) -> list[HeartbeatRecord]:
        with self.engine.connect() as connection:
            return controls.heartbeats(connection, limit)

    # assets

    def upsert_assets(
        self,
        records: Sequence[AssetRecord],
        *,
        removed: Callable[[AssetRecord], bool] | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        attempt = 1
        while True:
            try:
                with self.engine.begin() as connection:
                    return assets.upsert_assets(connection, records, removed=removed, now=now)
            except sa.exc.IntegrityError:
                # another process inserted one of them meanwhile (a scheduler and a server
                # starting at once): read again, and update what is there now
                if attempt == _RACED_WRITE_ATTEMPTS:
                    raise
                attempt += 1

    def asset_connection(self) -> Any:
        """A connection for the read queries of ``store.sql.assets`` (a context manager)."""
        return self.engine.connect()

    def previous_metadata(self, key: str, partition_key: str | None) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            return assets.previous_metadata(connection, key, partition_key)

    def newest_materializations(self, key: str, limit: int = 500) -> list[MaterializationRecord]:
        with self.engine.connect() as connection:
            return [
                m
                for m in assets.materializations(connection, key, limit=limit)
                if m.status == assets.MATERIALIZED
            ]

    def dynamic_keys(self, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
        with self.engine.connect() as connection:
            return assets.dynamic_keys(connection, names)

    def materialized_ids(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        with self.engine.connect() as connection:
            return materialized.success_ids(connection, keys)

    def newest_materialization_id(self) -> int:
        with self.engine.connect() as connection:
            return materialized.newest_id(connection)

    def apply_many(self, batches: Sequence[Batch]) -> None:
        batches = [batch for batch in batches if batch]
        if not batches:
            return
        changes = [change for batch in batches for change in batch.changes]
        # Grouped by kind (one executemany each, across runs too), in the order of causes:
        # instances exist before they start, a try ends before the next one starts.
        changes.sort(key=lambda change: _CHANGE_ORDER[type(change)])
        with self.engine.begin() as connection:
            for change_type, group in groupby(changes, key=type):
                self._apply_group(connection, change_type, list(group))
            for batch in batches:
                if batch.run_update is not None:
                    self._update_run(connection, batch.run_update)
            # the alerts these changes cause, in their transaction: see outbox.py
            outbox.record_change_events(connection, batches)
            # after the writes: see leases.check_fences
            leases.check_fences(connection, [b.lease for b in batches if b.lease is not None])

    @staticmethod
    def _update_run(connection: Connection, update: RunUpdate) -> None:
        values: dict[str, Any] = {"state": update.state}
        if update.started_at is not None:
            values["started_at"] = update.started_at
        elif update.clear_started_at:
            values["started_at"] = None
        if update.ended_at is not None:
            values["ended_at"] = update.ended_at
        elif update.clear_ended_at:
            values["ended_at"] = None
        if update.params is not None:
            values["params"] = json.dumps(update.params, sort_keys=True, default=str)
        if update.backfill_id is not None:
            values["backfill_id"] = update.backfill_id
        if update.priority is not None:
            values["priority"] = update.priority
        if update.claim is not None:
            values["owner"] = update.claim.owner
            values["lease_expires_at"] = update.claim.lease_until
            values["lease_generation"] = runs.c.lease_generation + 1
        if update.state in ("success", "failed"):
            values["lease_expires_at"] = None  # a finished run holds no lease
        elif update.state == "queued" and update.clear_ended_at:
            # reset to run again (retry, clear): a cancel and its note were the last
            # attempt's, as its end was
            values["cancel_requested_at"] = None
            values["note"] = None
        result = connection.execute(
            runs.update()
            .where(runs.c.run_id == update.run_id, runs.c.state.in_(update.expected))
            .values(values)
        )
        if result.rowcount != 1:
            raise TransitionRejected(
                f"run {update.run_id!r}: cannot move to {update.state!r}, its state "
                f"is not one of {list(update.expected)} (changed by another process?)"
            )

    def _apply_group(
        self, connection: Connection, change_type: type[Change], group: list[Any]
    ) -> None:
        if change_type is AddInstances:
            for change in group:
                if change.remove_placeholder is not None:
                    connection.execute(
                        task_instances.delete().where(
                            task_instances.c.run_id == change.run_id,
                            task_instances.c.task_id == change.remove_placeholder,
                            task_instances.c.map_index == -1,
                        )
                    )
                self._add_instances(connection, change.run_id, change.instances)
            return
        if change_type is ResetMapped:
            for change in group:
                connection.execute(
                    task_instances.delete().where(
                        task_instances.c.run_id == change.run_id,
                        task_instances.c.task_id == change.task_id,
                    )
                )
                self._add_instances(
                    connection,
                    change.run_id,
                    [(change.task_id, -1, change.max_tries, change.try_number)],
                )
            return
        if change_type is StartTry:
            fresh = [change for change in group if not change.poke_again]
            again = [change for change in group if change.poke_again]
            if fresh:
                self._guarded(
                    connection, queries.START_INSTANCE, queries.start_instance_params(fresh)
                )
                connection.execute(queries.INSERT_TRY, queries.insert_try_params(fresh))
            if again:
                self._guarded(
                    connection,
                    queries.POKE_AGAIN_INSTANCE,
                    queries.poke_again_instance_params(again),
                )
                self._guarded(
                    connection, queries.POKE_AGAIN_TRY, queries.poke_again_try_params(again)
                )
        elif change_type is FinishTry:
            self._guarded(connection, queries.FINISH_TRY, queries.finish_try_params(group))
            self._guarded(
                connection, queries.FINISH_INSTANCE, queries.finish_instance_params(group)
            )
        elif change_type is SetState:
            for clearing, changes in groupby(group, key=lambda c: c.max_tries is not None):
                statement = queries.CLEAR_INSTANCE if clearing else queries.SET_STATE
                self._guarded(connection, statement, queries.set_state_params(list(changes)))
        elif change_type is ReleaseSlots:
            pools.release_slots(connection, group)
        elif change_type is RecordMaterialization:
            assets.record_materializations(connection, group)
        elif change_type is AddPartitions:
            assets.add_partitions(connection, group)
        else:  # pragma: no cover - the union is exhaustive
            raise TypeError(f"unknown change {change_type!r}")

    def _guarded(
        self, connection: Connection, statement: Any, params: list[dict[str, Any]]
    ) -> None:
        result = connection.execute(statement, params)
        if len(params) > 1 and not self._sane_multi_rowcount:
            return
        if result.rowcount != len(params):
            first = params[0]
            raise TransitionRejected(
                f"run {first['b_run_id']!r}: {len(params) - result.rowcount} of "
                f"{len(params)} task change(s) found an unexpected state "
                f"(first: task {first['b_task_id']!r}); another process changed the run"
            )

    @staticmethod
    def _add_instances(
        connection: Connection, run_id: str, instances: Sequence[tuple[str, int, int, int]]
    ) -> None:
        if instances:
            connection.execute(
                queries.INSERT_INSTANCES,
                [
                    {
                        "run_id": run_id,
                        "task_id": task_id,
                        "map_index": map_index,
                        "state": "none",
                        "try_number": try_number,
                        "max_tries": max_tries,
                    }
                    for task_id, map_index, max_tries, try_number in instances
                ],
            )
