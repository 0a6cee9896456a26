"""Pools on SQL: their rows, the slots leased to tries, and granting slots.

A slot lease is a row of ``pool_slots`` (pool, task instance, slots, owner, expiry). The
slots in use of a pool are the sum over its rows whose lease has not expired, so the
slots of a process that died come back once its leases expire, without anyone having to
notice the death. Granting is serialized across processes: PostgreSQL locks the
requested pools' rows (``SELECT … FOR UPDATE``); SQLite has one writer at a time, and
the transaction writes before it reads, so it holds that lock while it counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import NotFoundError
from headwater.store.records import PoolRecord, ReleaseSlots, SlotGrants, SlotRequest
from headwater.store.sql.schema import pool_slots, pools

_ps = pool_slots.c


def _instance_key() -> Any:
    return sa.and_(
        _ps.run_id == sa.bindparam("b_run_id"),
        _ps.task_id == sa.bindparam("b_task_id"),
        _ps.map_index == sa.bindparam("b_map_index"),
    )


# Built once (see queries.py): their cache key is computed once.
DELETE_INSTANCE_SLOTS = pool_slots.delete().where(_instance_key())
DELETE_EXPIRED = pool_slots.delete().where(
    _ps.pool.in_(sa.bindparam("b_pools", expanding=True)),
    _ps.lease_expires_at < sa.bindparam("b_now"),
)
INSERT_SLOTS = pool_slots.insert()
RELEASE_SLOTS = pool_slots.delete().where(_instance_key(), _ps.owner == sa.bindparam("b_owner"))


def _key_params(keys: Sequence[tuple[str, str, int]]) -> list[dict[str, Any]]:
    return [
        {"b_run_id": run_id, "b_task_id": task_id, "b_map_index": map_index}
        for run_id, task_id, map_index in keys
    ]


def set_pool(
    connection: Connection, name: str, slots: int, description: str | None, now: datetime
) -> None:
    values: dict[str, Any] = {"slots": slots, "updated_at": now}
    if description is not None:
        values["description"] = description
    updated = connection.execute(pools.update().where(pools.c.name == name).values(values))
    if updated.rowcount == 0:
        connection.execute(pools.insert().values(name=name, **{"description": "", **values}))


def list_pools(connection: Connection, now: datetime) -> list[PoolRecord]:
    in_use = (
        sa.select(_ps.pool, sa.func.sum(_ps.slots).label("in_use"))
        .where(_ps.lease_expires_at >= now)
        .group_by(_ps.pool)
        .subquery()
    )
    query = (
        sa.select(pools, sa.func.coalesce(in_use.c.in_use, 0).label("in_use"))
        .select_from(pools.outerjoin(in_use, in_use.c.pool == pools.c.name))
        .order_by(pools.c.name)
    )
    return [
        PoolRecord(
            name=row.name,
            slots=row.slots,
            description=row.description,
            updated_at=row.updated_at,
            in_use=int(row.in_use),
        )
        for row in connection.execute(query)
    ]


def delete_pool(connection: Connection, name: str) -> None:
    if connection.execute(pools.delete().where(pools.c.name == name)).rowcount == 0:
        raise NotFoundError(f"no pool {name!r}; 'headwater pools list' shows the pools")


def release_slots(connection: Connection, changes: Sequence[ReleaseSlots]) -> None:
    # Only the releaser's own rows: if its run was taken over meanwhile, the new
    # owner's row for the same instance is not its to delete.
    connection.execute(
        RELEASE_SLOTS,
        [
            {
                "b_run_id": c.run_id,
                "b_task_id": c.task_id,
                "b_map_index": c.map_index,
                "b_owner": c.owner,
            }
            for c in changes
        ],
    )


def acquire_slots(
    connection: Connection,
    requests: Sequence[SlotRequest],
    owner: str,
    now: datetime,
    lease_until: datetime,
) -> SlotGrants:
    """See ``StateStore.acquire_slots``; ``connection`` is in a transaction."""
    if not requests:
        return SlotGrants(granted=frozenset(), sizes={})
    names = sorted({request.pool for request in requests})
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # Lock the pools (in name order: two acquirers never wait on each other in a
        # cycle) before touching their slots: concurrent acquirers queue up here.
        sizes = _pool_sizes(connection, names, lock=True)
    # On SQLite this first write takes the database's write lock, held to the commit:
    # no other process can grant slots between the count below and the inserts. Only
    # the rows of the pools locked here are deleted, so that two PostgreSQL acquirers
    # of different pools never wait on each other's rows.
    connection.execute(DELETE_EXPIRED, {"b_pools": names, "b_now": now})
    connection.execute(DELETE_INSTANCE_SLOTS, _key_params([r.key for r in requests]))
    if not postgres:
        sizes = _pool_sizes(connection, names, lock=False)
    in_use = _slots_in_use(connection, [name for name in names if name in sizes], now)
    granted: list[SlotRequest] = []
    for request in requests:
        size = sizes.get(request.pool)
        if size is None:
            continue
        used = in_use.get(request.pool, 0)
        if used + request.slots <= size:
            in_use[request.pool] = used + request.slots
            granted.append(request)
    if granted:
        connection.execute(
            INSERT_SLOTS,
            [
                {
                    "pool": r.pool,
                    "run_id": r.run_id,
                    "task_id": r.task_id,
                    "map_index": r.map_index,
                    "slots": r.slots,
                    "owner": owner,
                    "lease_expires_at": lease_until,
                }
                for r in granted
            ],
        )
    return SlotGrants(granted=frozenset(r.key for r in granted), sizes=sizes)


def extend_slot_leases(
    connection: Connection, owner: str, run_ids: Sequence[str], lease_until: datetime
) -> None:
    """Renew the leases of the slots ``owner`` holds for tries of ``run_ids``."""
    if run_ids:
        connection.execute(
            pool_slots.update()
            .where(_ps.owner == owner, _ps.run_id.in_(list(run_ids)))
            .values(lease_expires_at=lease_until)
        )


def _pool_sizes(connection: Connection, names: list[str], *, lock: bool) -> dict[str, int]:
    query = sa.select(pools.c.name, pools.c.slots).where(pools.c.name.in_(names))
    if lock:
        query = query.order_by(pools.c.name).with_for_update()
    return {row.name: row.slots for row in connection.execute(query)}


def _slots_in_use(connection: Connection, names: list[str], now: datetime) -> dict[str, int]:
    if not names:
        return {}
    query = (
        sa.select(_ps.pool, sa.func.sum(_ps.slots))
        .where(_ps.pool.in_(names), _ps.lease_expires_at >= now)
        .group_by(_ps.pool)
    )
    return {row[0]: int(row[1]) for row in connection.execute(query)}
