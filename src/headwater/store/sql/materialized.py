"""What has been materialized, partition by partition: what automation and freshness read.

Two readers ask the same question of many assets at once, every few seconds: the
scheduler (which asset partitions are older than what they read) and the alert watchers
(how old each asset's newest data is). One grouped query answers for all of them; the
index on (asset_key, partition_key, id) serves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.sql.schema import alert_conditions, asset_materializations

MATERIALIZED = "materialized"
_m = asset_materializations.c
_c = alert_conditions.c


def success_ids(connection: Connection, keys: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per asset of ``keys``, each partition's newest successful materialization id.

    The partition of an unpartitioned asset is ``""``; an asset never materialized has
    no entry.
    """
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(_m.asset_key, _m.partition_key, sa.func.max(_m.id))
        .where(_m.asset_key.in_(list(dict.fromkeys(keys))), _m.status == MATERIALIZED)
        .group_by(_m.asset_key, _m.partition_key)
    )
    found: dict[str, dict[str, int]] = {}
    for asset_key, partition_key, newest in rows:
        found.setdefault(asset_key, {})[partition_key or ""] = int(newest)
    return found


def success_times(connection: Connection, keys: Sequence[str]) -> dict[str, dict[str, datetime]]:
    """Per asset of ``keys``, when each partition was last materialized successfully."""
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(_m.asset_key, _m.partition_key, sa.func.max(_m.created_at))
        .where(_m.asset_key.in_(list(dict.fromkeys(keys))), _m.status == MATERIALIZED)
        .group_by(_m.asset_key, _m.partition_key)
    )
    found: dict[str, dict[str, datetime]] = {}
    for asset_key, partition_key, moment in rows:
        found.setdefault(asset_key, {})[partition_key or ""] = moment
    return found


def newest_id(connection: Connection) -> int:
    """The id of the newest materialization of any asset, in any state (0: none yet)."""
    newest = connection.execute(sa.select(sa.func.max(_m.id))).scalar()
    return int(newest or 0)


def condition_episodes(connection: Connection, event: str, subject: str) -> tuple[int, bool]:
    """How many ``event`` conditions ``subject`` has had, and whether one is open now.

    ``subject`` is what the conditions were recorded for (their ``pipeline_id``).
    """
    row = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(_c.condition_key).filter(_c.resolved_at.is_(None)),
        ).where(_c.event == event, _c.pipeline_id == subject)
    ).one()
    return int(row[0]), bool(row[1])
