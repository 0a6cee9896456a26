"""Reads about many assets at once, for the REST API, the web UI and the metrics.

Each is one query bounded by its caller: a keyset page of the registry (by key), and
per-asset summaries of the keys on a page (their newest materialization, their checks'
latest results), grouped over the ``(asset_key, ...)`` indexes. The one query that reads
every asset, ``newest_materialized_all``, is the metrics' (one grouped pass per scrape).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.records import AssetRecord, CheckResultRecord, MaterializationRecord
from headwater.store.sql.assets import MATERIALIZED, _asset, _check_result, _materialization
from headwater.store.sql.schema import asset_check_results, asset_materializations, assets

_a = assets.c
_m = asset_materializations.c
_c = asset_check_results.c
_CHUNK = 500  # values per IN list
_DEFINED = _a.removed_at.is_(None)  # the assets the code defines (not removed from it)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewestData:
    """An asset's newest successful materializations, in short.

    Attributes:
        materialized_at: when it was last materialized successfully.
        greatest_partition: the greatest partition key materialized successfully (in
            text order, which is time order for the keys of time partitions); None when
            unpartitioned.
    """

    asset_key: str
    materialized_at: datetime
    greatest_partition: str | None


def assets_page(
    connection: Connection,
    *,
    limit: int,
    after: str | None = None,
    search: str = "",
    group: str | None = None,
) -> list[AssetRecord]:
    """Assets by key, strictly after ``after``; ``search`` is found in the key or the
    description (any case), ``group`` names one group."""
    query = assets.select().where(_DEFINED).order_by(_a.asset_key).limit(limit)
    if after is not None:
        query = query.where(_a.asset_key > after)
    if search:
        query = query.where(
            sa.or_(
                _a.asset_key.icontains(search, autoescape=True),
                _a.description.icontains(search, autoescape=True),
            )
        )
    if group is not None:
        query = query.where(_a.group_name == group)
    return [_asset(row) for row in connection.execute(query)]


def group_counts(connection: Connection) -> list[tuple[str, int]]:
    """Each group of the registry with its number of assets, by name."""
    query = (
        sa.select(_a.group_name, sa.func.count())
        .where(_DEFINED)
        .group_by(_a.group_name)
        .order_by(_a.group_name)
    )
    return [(name, count) for name, count in connection.execute(query)]


def latest_attempts(
    connection: Connection, keys: Sequence[str]
) -> dict[str, MaterializationRecord]:
    """Per asset of ``keys``, its newest materialization attempt (written or refused)."""
    if not keys:
        return {}
    newest = (
        sa.select(sa.func.max(_m.id))
        .where(_m.asset_key.in_(list(keys)))
        .group_by(_m.asset_key)
        .scalar_subquery()
    )
    rows = connection.execute(asset_materializations.select().where(_m.id.in_(newest)))
    return {row.asset_key: _materialization(row) for row in rows}


def _newest_query(keys: Sequence[str] | None) -> Any:
    query = (
        sa.select(_m.asset_key, sa.func.max(_m.created_at), sa.func.max(_m.partition_key))
        .where(_m.status == MATERIALIZED)
        .group_by(_m.asset_key)
    )
    return query if keys is None else query.where(_m.asset_key.in_(list(keys)))


def newest_data(connection: Connection, keys: Sequence[str] | None) -> dict[str, NewestData]:
    """Per asset of ``keys`` (every asset with None), its newest successful data."""
    if keys is not None and not keys:
        return {}
    return {
        key: NewestData(
            asset_key=key, materialized_at=_aware(at), greatest_partition=partition or None
        )
        for key, at, partition in connection.execute(_newest_query(keys))
    }


def newest_data_after(
    connection: Connection, after_id: int, settled_before: datetime
) -> tuple[dict[str, NewestData], int | None]:
    """Per asset, its newest successful data among the materializations whose id is past
    ``after_id`` (all with 0); and the id of the newest row recorded before
    ``settled_before`` (rows of lower ids were given theirs before it, so they are
    committed by now; the rows after it may still be joined by rows of lower ids)."""
    query = _newest_query(None)
    if after_id:  # the new rows only, through the primary key (0: the grouping index)
        query = query.where(_m.id > after_id)
    newest = {
        key: NewestData(
            asset_key=key, materialized_at=_aware(at), greatest_partition=partition or None
        )
        for key, at, partition in connection.execute(query)
    }
    settled = connection.execute(
        sa.select(_m.id)
        .where(_m.created_at < settled_before)
        .order_by(_m.created_at.desc())
        .limit(1)
    ).scalar()
    return newest, settled


def materialized_counts(connection: Connection, keys: Sequence[str]) -> dict[str, int]:
    """Per asset of ``keys``, how many partitions it materialized successfully, ever."""
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(_m.asset_key, sa.func.count(sa.distinct(_m.partition_key)))
        .where(_m.asset_key.in_(list(keys)), _m.status == MATERIALIZED)
        .group_by(_m.asset_key)
    )
    return {key: int(count) for key, count in rows}


def materialized_partitions(connection: Connection, keys: Sequence[str]) -> dict[str, list[str]]:
    """Per asset of ``keys``, every partition it materialized successfully."""
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(_m.asset_key, _m.partition_key)
        .where(_m.asset_key.in_(list(keys)), _m.status == MATERIALIZED)
        .group_by(_m.asset_key, _m.partition_key)
    )
    found: dict[str, list[str]] = {}
    for key, partition in rows:
        found.setdefault(key, []).append(partition)
    return found


def asset_count(connection: Connection) -> int:
    query = sa.select(sa.func.count()).select_from(assets).where(_DEFINED)
    return int(connection.execute(query).scalar_one())


def definitions_of(connection: Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The recorded definitions of ``keys`` (those the registry has), by key."""
    found: dict[str, dict[str, Any]] = {}
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), _CHUNK):
        query = sa.select(_a.asset_key, _a.definition).where(
            _a.asset_key.in_(wanted[start : start + _CHUNK])
        )
        found.update((key, json.loads(text)) for key, text in connection.execute(query))
    return found


def all_definitions(connection: Connection) -> dict[str, dict[str, Any]]:
    """Every recorded definition, by key (for a small registry: see ``asset_count``)."""
    rows = connection.execute(
        sa.select(_a.asset_key, _a.definition).where(_DEFINED).order_by(_a.asset_key)
    )
    return {key: json.loads(text) for key, text in rows}


def asset_versions(connection: Connection) -> dict[str, datetime]:
    """Every asset of the registry with when its definition was last recorded, by key."""
    rows = connection.execute(sa.select(_a.asset_key, _a.updated_at).where(_DEFINED))
    return {key: _aware(at) for key, at in rows}


def removed_keys(connection: Connection) -> set[str]:
    """The assets recorded once and since removed from the code."""
    return set(
        connection.execute(sa.select(_a.asset_key).where(_a.removed_at.is_not(None))).scalars()
    )


def latest_checks(connection: Connection, keys: Sequence[str]) -> list[CheckResultRecord]:
    """The newest result of each check of the assets of ``keys``, by asset and check."""
    if not keys:
        return []
    newest = (
        sa.select(sa.func.max(_c.id))
        .where(_c.asset_key.in_(list(keys)))
        .group_by(_c.asset_key, _c.check_name)
        .scalar_subquery()
    )
    query = (
        asset_check_results.select().where(_c.id.in_(newest)).order_by(_c.asset_key, _c.check_name)
    )
    return [_check_result(row) for row in connection.execute(query)]


def _aware(moment: datetime) -> datetime:
    """A stored time as aware UTC (aggregates keep the column's type; this is a guard)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
