"""Assets in the store: definitions, materializations, check results, dynamic partitions.

A materialization is written in the transaction that records its try's success (see
``SqlStore.apply_many``), with its checks' results, so the store never shows data
written by a try it does not count as successful.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.records import (
    AddPartitions,
    AssetRecord,
    CheckResultRecord,
    MaterializationRecord,
    RecordMaterialization,
)
from headwater.store.sql.schema import (
    alert_conditions,
    asset_check_results,
    asset_materializations,
    assets,
    dynamic_partitions,
)

_m = asset_materializations.c
_c = asset_check_results.c
MATERIALIZED = "materialized"
_CHUNK = 500  # keys per IN (...), well under SQLite's bound on parameters


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def record_materializations(
    connection: Connection, changes: Sequence[RecordMaterialization]
) -> None:
    for change in changes:
        partition = change.partition_key or ""
        materialization_id = connection.execute(
            asset_materializations.insert()
            .values(
                asset_key=change.asset_key,
                partition_key=partition,
                status=change.status,
                run_id=change.run_id,
                task_id=change.task_id,
                try_number=change.try_number,
                created_at=change.created_at,
                metadata=_json(change.metadata),
            )
            .returning(_m.id)
        ).scalar_one()
        if change.checks:
            connection.execute(
                asset_check_results.insert(),
                [
                    {
                        "materialization_id": materialization_id,
                        "asset_key": change.asset_key,
                        "partition_key": partition,
                        "check_name": check.check_name,
                        "passed": check.passed,
                        "blocking": check.blocking,
                        "description": check.description,
                        "metadata": _json(check.metadata),
                        "created_at": change.created_at,
                    }
                    for check in change.checks
                ],
            )


def add_partitions(connection: Connection, changes: Sequence[AddPartitions]) -> None:
    for change in changes:
        wanted = list(dict.fromkeys(change.keys))
        existing = set(
            connection.execute(
                sa.select(dynamic_partitions.c.partition_key).where(
                    dynamic_partitions.c.name == change.name,
                    dynamic_partitions.c.partition_key.in_(wanted),
                )
            ).scalars()
        )
        new = [key for key in wanted if key not in existing]
        if new:
            connection.execute(
                dynamic_partitions.insert(),
                [
                    {"name": change.name, "partition_key": k, "added_at": change.added_at}
                    for k in new
                ],
            )


def dynamic_keys(connection: Connection, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    rows = connection.execute(
        sa.select(dynamic_partitions.c.name, dynamic_partitions.c.partition_key)
        .where(dynamic_partitions.c.name.in_(wanted))
        .order_by(dynamic_partitions.c.added_at, dynamic_partitions.c.partition_key)
    )
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for name, key in rows:
        found[name].append(key)
    return {name: tuple(keys) for name, keys in found.items()}


def upsert_assets(
    connection: Connection,
    records: Sequence[AssetRecord],
    *,
    removed: Callable[[AssetRecord], bool] | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Record the assets' definitions as the loader last saw them (one statement each).

    ``removed``, given by a loader that read a whole folder, says of a recorded asset
    missing from ``records`` whether the code no longer defines it (its file is gone, or
    imported without it); those are marked removed at ``now``, and returned. An asset
    recorded again is defined again.
    """
    keys = [r.asset_key for r in records]
    known: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(keys), _CHUNK):
        query = assets.select().where(assets.c.asset_key.in_(keys[start : start + _CHUNK]))
        for row in connection.execute(query):
            # a removed asset recorded again is updated, even with the same definition
            same = (row.definition, row.group_name, row.description, row.source_file)
            known[row.asset_key] = same if row.removed_at is None else (*same, "removed")
    for record in records:
        values = {
            "group_name": record.group_name,
            "description": record.description,
            "source_file": record.source_file,
            "definition": _json(record.definition),
            "updated_at": record.updated_at,
            "removed_at": None,
        }
        before = known.get(record.asset_key)
        if before is None:
            connection.execute(assets.insert().values(asset_key=record.asset_key, **values))
        elif before != (
            values["definition"],
            values["group_name"],
            values["description"],
            values["source_file"],
        ):
            connection.execute(
                assets.update().where(assets.c.asset_key == record.asset_key).values(values)
            )
    if removed is None:
        return []
    present = set(keys)
    defined = connection.execute(assets.select().where(assets.c.removed_at.is_(None)))
    gone = [
        row.asset_key for row in defined if row.asset_key not in present and removed(_asset(row))
    ]
    for start in range(0, len(gone), _CHUNK):
        connection.execute(
            assets.update()
            .where(assets.c.asset_key.in_(gone[start : start + _CHUNK]))
            .values(removed_at=now)
        )
    return gone


def _conditions_of_removed(event: str, subject_prefix: str) -> Any:
    removed = sa.select(sa.literal(subject_prefix) + assets.c.asset_key).where(
        assets.c.removed_at.is_not(None)
    )
    return sa.and_(
        alert_conditions.c.event == event,
        alert_conditions.c.resolved_at.is_(None),
        alert_conditions.c.pipeline_id.in_(removed),
    )


def resolve_conditions_of_removed(
    connection: Connection, event: str, subject_prefix: str, now: datetime
) -> int:
    """Close the open ``event`` conditions of removed assets (subject prefix + key); reads
    first, so that a round with none writes nothing."""
    where = _conditions_of_removed(event, subject_prefix)
    if connection.execute(sa.select(alert_conditions.c.condition_key).where(where)).first() is None:
        return 0
    return connection.execute(
        alert_conditions.update().where(where).values(resolved_at=now)
    ).rowcount


def _asset(row: Any) -> AssetRecord:
    return AssetRecord(
        asset_key=row.asset_key,
        group_name=row.group_name,
        description=row.description,
        source_file=row.source_file,
        definition=json.loads(row.definition),
        updated_at=row.updated_at,
        removed_at=row.removed_at,
    )


def list_assets(connection: Connection) -> list[AssetRecord]:
    """The assets the code defines (not those removed from it), by key."""
    query = assets.select().where(assets.c.removed_at.is_(None)).order_by(assets.c.asset_key)
    return [_asset(row) for row in connection.execute(query)]


def get_asset(connection: Connection, key: str) -> AssetRecord | None:
    row = connection.execute(assets.select().where(assets.c.asset_key == key)).first()
    return None if row is None else _asset(row)


def _materialization(row: Any) -> MaterializationRecord:
    return MaterializationRecord(
        id=row.id,
        asset_key=row.asset_key,
        partition_key=row.partition_key or None,
        status=row.status,
        run_id=row.run_id,
        task_id=row.task_id,
        try_number=row.try_number,
        created_at=row.created_at,
        metadata=json.loads(row.metadata),
    )


def materializations(
    connection: Connection,
    key: str,
    *,
    partition_key: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[MaterializationRecord]:
    """Newest first; ``before_id`` pages back."""
    query = asset_materializations.select().where(_m.asset_key == key)
    if partition_key is not None:
        query = query.where(_m.partition_key == partition_key)
    if before_id is not None:
        query = query.where(_m.id < before_id)
    query = query.order_by(_m.id.desc()).limit(limit)
    return [_materialization(row) for row in connection.execute(query)]


def latest_by_partition(connection: Connection, key: str) -> dict[str, MaterializationRecord]:
    """Each partition's newest materialization attempt ("" for an unpartitioned asset)."""
    newest = (
        sa.select(sa.func.max(_m.id).label("id"))
        .where(_m.asset_key == key)
        .group_by(_m.partition_key)
        .subquery()
    )
    rows = connection.execute(
        asset_materializations.select().where(_m.id.in_(sa.select(newest.c.id)))
    )
    return {row.partition_key: _materialization(row) for row in rows}


def latest_success_by_partition(connection: Connection, key: str) -> dict[str, datetime]:
    """When each partition was last materialized successfully."""
    rows = connection.execute(
        sa.select(_m.partition_key, sa.func.max(_m.created_at))
        .where(_m.asset_key == key, _m.status == MATERIALIZED)
        .group_by(_m.partition_key)
    )
    return dict(rows.all())


def newest_materialized(
    connection: Connection, keys: Sequence[str]
) -> dict[str, MaterializationRecord]:
    """Per asset, its newest successful materialization (any partition)."""
    if not keys:
        return {}
    newest = (
        sa.select(sa.func.max(_m.id).label("id"))
        .where(_m.asset_key.in_(list(keys)), _m.status == MATERIALIZED)
        .group_by(_m.asset_key)
        .subquery()
    )
    rows = connection.execute(
        asset_materializations.select().where(_m.id.in_(sa.select(newest.c.id)))
    )
    return {row.asset_key: _materialization(row) for row in rows}


def previous_metadata(
    connection: Connection, key: str, partition_key: str | None
) -> dict[str, Any] | None:
    """The metadata of the newest successful materialization of ``key``'s partition."""
    row = connection.execute(
        sa.select(_m.metadata)
        .where(
            _m.asset_key == key,
            _m.partition_key == (partition_key or ""),
            _m.status == MATERIALIZED,
        )
        .order_by(_m.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(json.loads(row.metadata))


def materializations_after(
    connection: Connection, keys: Sequence[str], after_id: int, limit: int = 500
) -> list[MaterializationRecord]:
    """Successful materializations of ``keys`` newer than ``after_id``, oldest first."""
    if not keys:
        return []
    query = (
        asset_materializations.select()
        .where(_m.asset_key.in_(list(keys)), _m.status == MATERIALIZED, _m.id > after_id)
        .order_by(_m.id)
        .limit(limit)
    )
    return [_materialization(row) for row in connection.execute(query)]


def check_results(
    connection: Connection,
    key: str,
    *,
    materialization_ids: Sequence[int] | None = None,
    limit: int = 200,
) -> list[CheckResultRecord]:
    """Newest first: the results of ``key``'s checks (of some materializations only)."""
    query = asset_check_results.select().where(_c.asset_key == key)
    if materialization_ids is not None:
        query = query.where(_c.materialization_id.in_(list(materialization_ids)))
    query = query.order_by(_c.id.desc()).limit(limit)
    return [_check_result(row) for row in connection.execute(query)]


def _check_result(row: Any) -> CheckResultRecord:
    return CheckResultRecord(
        id=row.id,
        materialization_id=row.materialization_id,
        asset_key=row.asset_key,
        partition_key=row.partition_key or None,
        check_name=row.check_name,
        passed=row.passed,
        blocking=row.blocking,
        description=row.description,
        metadata=json.loads(row.metadata),
        created_at=row.created_at,
    )
