"""Run leases on SQL: claiming a run, renewing and releasing leases, and fencing writes.

A process drives a run while it holds the run's lease: ``owner`` and ``lease_expires_at``
on the run's row. Every claim increments ``lease_generation``; the driver's writes carry
the generation its claim received and are applied only while it is still the run's latest
(``check_fences``, in the transaction of the writes). So a driver that stalled past its
lease, and whose run another process took over, can no longer write anything to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import LeaseLost
from headwater.store.records import Lease
from headwater.store.sql.schema import backfills, pool_slots, runs

_r = runs.c
_TICK = timedelta(microseconds=1)
CLAIM_LOCK_NAMESPACE = 0x68770001  # the first key of PostgreSQL advisory locks on claims
ACTIVE_STATES = ("queued", "running")


def claim_run(
    connection: Connection,
    run_id: str,
    owner: str,
    now: datetime,
    lease_until: datetime,
    *,
    take_over: bool,
    max_active: int | None,
) -> bool:
    """See ``StateStore.claim_run``; ``connection`` is in a transaction."""
    query = runs.update().where(_r.run_id == run_id, _r.state.in_(ACTIVE_STATES))
    if not take_over:
        query = query.where(
            sa.or_(
                _r.owner.is_(None),
                _r.owner == owner,
                _r.lease_expires_at.is_(None),
                _r.lease_expires_at < now,
            )
        )
    if max_active is not None:
        pipeline_id = connection.execute(
            sa.select(_r.pipeline_id).where(_r.run_id == run_id)
        ).scalar()
        if pipeline_id is None:
            return False
        if connection.dialect.name == "postgresql":
            # Claims of one pipeline's runs queue up on this lock, held to the commit, so
            # that two schedulers never both see room for one more run (SQLite's write
            # lock, taken by the UPDATE below before it counts, does the same).
            connection.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(
                        CLAIM_LOCK_NAMESPACE, sa.func.hashtext(pipeline_id)
                    )
                )
            )
        query = query.where(_active_runs(pipeline_id, run_id, now) < max_active)
    claimed = connection.execute(
        query.values(
            owner=owner, lease_expires_at=lease_until, lease_generation=_r.lease_generation + 1
        )
    )
    return claimed.rowcount == 1


def _active_runs(pipeline_id: str, run_id: str, now: datetime) -> Any:
    """How many other runs of the pipeline (backfills aside) run or are claimed to."""
    other = runs.alias("other")
    return (
        sa.select(sa.func.count())
        .where(
            other.c.pipeline_id == pipeline_id,
            other.c.run_id != run_id,
            other.c.backfill_id.is_(None),
            sa.or_(
                other.c.state == "running",
                sa.and_(
                    other.c.state == "queued",
                    other.c.owner.is_not(None),
                    other.c.lease_expires_at >= now,
                ),
            ),
        )
        .scalar_subquery()
    )


def extend_leases(
    connection: Connection,
    owner: str,
    run_ids: Sequence[str],
    lease_until: datetime,
    generations: Mapping[str, int] | None,
) -> set[str]:
    """Renew ``owner``'s leases on ``run_ids``; returns the ids it no longer holds."""
    if not run_ids:
        return set()
    connection.execute(
        runs.update()
        .where(_r.owner == owner, _r.run_id.in_(list(run_ids)))
        .values(lease_expires_at=lease_until)
    )
    held = {
        row.run_id
        for row in connection.execute(
            sa.select(_r.run_id, _r.lease_generation).where(
                _r.owner == owner, _r.run_id.in_(list(run_ids))
            )
        )
        if generations is None or generations.get(row.run_id) in (None, row.lease_generation)
    }
    return set(run_ids) - held


def release_run(connection: Connection, run_id: str, owner: str, generation: int | None) -> None:
    query = runs.update().where(_r.run_id == run_id, _r.owner == owner)
    if generation is not None:
        query = query.where(_r.lease_generation == generation)
    connection.execute(query.values(lease_expires_at=None))


# Built once (see queries.py): their cache keys are computed once. One run (the common
# case: a run driven alone) needs no IN list.
_FENCE_COLUMNS = (_r.run_id, _r.owner, _r.lease_generation)
FENCE_ONE = sa.select(*_FENCE_COLUMNS).where(_r.run_id == sa.bindparam("b_run_id"))
FENCE_ONE_LOCKED = FENCE_ONE.with_for_update()
FENCE_MANY = sa.select(*_FENCE_COLUMNS).where(
    _r.run_id.in_(sa.bindparam("b_run_ids", expanding=True))
)
FENCE_MANY_LOCKED = FENCE_MANY.order_by(_r.run_id).with_for_update()


def check_fences(connection: Connection, leases: Iterable[Lease]) -> None:
    """Raise LeaseLost unless every lease is still its run's latest.

    Called in the transaction of the writes it guards, after them: on SQLite the writes
    took the database's write lock, which holds until the commit; on PostgreSQL the rows
    read here are locked until the commit, so a claim waits for it.
    """
    expected = {lease.run_id: lease for lease in leases}
    if not expected:
        return
    locked = connection.dialect.name == "postgresql"
    if len(expected) == 1:
        statement = FENCE_ONE_LOCKED if locked else FENCE_ONE
        rows = connection.execute(statement, {"b_run_id": next(iter(expected))})
    else:
        statement = FENCE_MANY_LOCKED if locked else FENCE_MANY
        rows = connection.execute(statement, {"b_run_ids": sorted(expected)})
    current = {row.run_id: row for row in rows}
    lost = frozenset(
        run_id
        for run_id, lease in expected.items()
        if run_id not in current
        or current[run_id].lease_generation != lease.generation
        or current[run_id].owner != lease.owner
    )
    if lost:
        raise LeaseLost(
            f"run(s) {', '.join(sorted(lost))}: another process claimed them since this one "
            "did; its changes were not written",
            run_ids=lost,
        )


def live_owners(connection: Connection, now: datetime) -> set[str]:
    """The owners holding a live lease on a run, a backfill or pool slots."""
    owners: set[str] = set()
    for table in (runs, backfills):
        owners.update(
            connection.execute(
                sa.select(table.c.owner)
                .where(table.c.owner.is_not(None), table.c.lease_expires_at >= now)
                .distinct()
            ).scalars()
        )
    owners.update(
        connection.execute(
            sa.select(pool_slots.c.owner).where(pool_slots.c.lease_expires_at >= now).distinct()
        ).scalars()
    )
    return owners


def reap_abandoned(connection: Connection, owner: str, now: datetime) -> None:
    """End every lease of ``owner`` (a process known to be dead) at once."""
    expired = now - _TICK
    connection.execute(
        runs.update()
        .where(_r.owner == owner, _r.lease_expires_at >= expired)
        .values(lease_expires_at=expired)
    )
    connection.execute(
        backfills.update()
        .where(backfills.c.owner == owner, backfills.c.lease_expires_at >= expired)
        .values(lease_expires_at=expired)
    )
    connection.execute(pool_slots.delete().where(pool_slots.c.owner == owner))
