"""What the store says of assets: each partition's status, and whether an asset is fresh.

A partition is ``materialized`` (its newest attempt wrote it), ``failed`` (its newest
attempt was refused by a blocking check, or its run failed before writing), ``missing``
(never materialized) or ``stale`` (materialized, but an upstream partition it reads was
materialized again since).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.partitions import PartitionsDefinition
from headwater.store.records import MaterializationRecord
from headwater.store.sql import assets as asset_queries

MATERIALIZED = "materialized"
FAILED = "failed"
MISSING = "missing"
STALE = "stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionStatus:
    partition_key: str | None
    status: str
    materialized_at: datetime | None
    run_id: str | None


def partition_statuses(
    connection: Any,
    graph: AssetGraph,
    key: AssetKey,
    *,
    now: datetime,
    dynamic: Mapping[str, Sequence[str]] | None = None,
) -> list[PartitionStatus]:
    """Every partition of ``key`` (one row, None, for an unpartitioned asset), in order."""
    item = graph.assets[key]
    latest = asset_queries.latest_by_partition(connection, key_string(key))
    successes = asset_queries.latest_success_by_partition(connection, key_string(key))
    upstream_times = {
        i.key: asset_queries.latest_success_by_partition(connection, key_string(i.key))
        for i in graph.inputs[key]
        if i.key in graph.assets
    }
    if item.partitions is None:
        partitions: list[str | None] = [None]
    else:
        partitions = list(item.partitions.keys(now=now, dynamic=dynamic))
    found = []
    for partition in partitions:
        record = latest.get(partition or "")
        written = successes.get(partition or "")
        status = _status(record, written)
        if (
            status == MATERIALIZED
            and written is not None
            and _upstream_newer(graph, key, partition, written, upstream_times, dynamic, now)
        ):
            status = STALE
        found.append(
            PartitionStatus(
                partition_key=partition,
                status=status,
                materialized_at=written,
                run_id=record.run_id if record else None,
            )
        )
    return found


def _status(record: MaterializationRecord | None, written: datetime | None) -> str:
    if record is None:
        return MISSING
    if record.status == MATERIALIZED:
        return MATERIALIZED
    return FAILED


def _upstream_newer(
    graph: AssetGraph,
    key: AssetKey,
    partition: str | None,
    written: datetime,
    upstream_times: Mapping[AssetKey, Mapping[str, datetime]],
    dynamic: Mapping[str, Sequence[str]] | None,
    now: datetime,
) -> bool:
    item = graph.assets[key]
    for source in graph.inputs[key]:
        times = upstream_times.get(source.key)
        if not times:
            continue
        upstream = graph.assets[source.key].partitions
        try:
            keys = source.mapping.upstream_keys(
                partition, item.partitions, upstream, dynamic=dynamic, now=now
            )
        except Exception:  # a mapping that cannot say: not stale by it
            continue
        for upstream_key in keys if keys is not None else [None]:
            at = times.get(upstream_key or "")
            if at is not None and at > written:
                return True
    return False


def data_time(
    partitions: PartitionsDefinition | None, record: MaterializationRecord | None
) -> datetime | None:
    """How recent an asset's data is: the end of its newest materialized time partition's
    window (a partition written late is still that day's data), else when it was written."""
    if record is None:
        return None
    if partitions is not None and record.partition_key is not None:
        window = partitions.time_window(record.partition_key)
        if window is not None:
            return window[1]
    return record.created_at


def freshness(newest: datetime | None, limit: timedelta | None, now: datetime) -> dict[str, Any]:
    """Whether data as recent as ``newest`` (see ``data_time``) is fresh within ``limit``."""
    age = None if newest is None else max(0.0, (now - newest).total_seconds())
    stale = limit is not None and (age is None or age > limit.total_seconds())
    return {
        "age_seconds": age,
        "stale": stale,
        "limit_seconds": limit.total_seconds() if limit else None,
    }
