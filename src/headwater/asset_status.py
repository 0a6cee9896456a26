"""What the store says of assets: each partition's status, and whether an asset is fresh.

A partition is ``materialized`` (its newest attempt wrote it), ``failed`` (its newest
attempt was refused by a blocking check, or its run failed before writing), ``missing``
(never materialized) or ``stale`` (materialized, but an upstream partition it reads was
materialized again since).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.partitions import PartitionsDefinition, window_end
from headwater.errors import HeadwaterError
from headwater.store.records import MaterializationRecord
from headwater.store.sql import asset_reads
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


def freshness(newest: datetime | None, limit: timedelta | None, now: datetime) -> dict[str, Any]:
    """Whether data as recent as ``newest`` (see ``data_end``) is fresh within ``limit``."""
    age = None if newest is None else max(0.0, (now - newest).total_seconds())
    stale = limit is not None and (age is None or age > limit.total_seconds())
    return {
        "age_seconds": age,
        "stale": stale,
        "limit_seconds": limit.total_seconds() if limit else None,
    }


def stored_partitions(stored: Mapping[str, Any] | None) -> PartitionsDefinition | None:
    """The partitions definition recorded with an asset (``definition["partitions"]``);
    None when it has none, or one this version cannot read."""
    if not stored:
        return None
    return _read_partitions(json.dumps(stored, sort_keys=True))


@lru_cache(maxsize=256)  # assets share a few definitions; a scrape reads them all
def _read_partitions(text: str) -> PartitionsDefinition | None:
    try:
        return PartitionsDefinition.from_json(json.loads(text))
    except HeadwaterError:
        return None


class PartitionsByAsset:
    """The partitions definition of every asset of the registry, read again only for the
    assets recorded anew since the last ``read`` (a scrape reads them all)."""

    LIMIT = 200_000  # assets remembered; past it, everything is read again

    def __init__(self) -> None:
        self._known: dict[str, tuple[datetime, PartitionsDefinition | None]] = {}

    def read(self, connection: Any) -> dict[str, PartitionsDefinition | None]:
        versions = asset_reads.asset_versions(connection)
        if len(self._known) > self.LIMIT:
            self._known = {}
        known = self._known
        changed = [key for key, at in versions.items() if known.get(key, (None,))[0] != at]
        for key, definition in asset_reads.definitions_of(connection, changed).items():
            known[key] = (versions[key], stored_partitions(definition.get("partitions")))
        return {key: known[key][1] for key in versions if key in known}


class NewestByAsset:
    """Each asset's newest successful data, kept between reads: a read takes only the
    materializations recorded since the last one (a row is never changed once written).

    The rows of the last ``SETTLE`` are read again each time, so that a row committed
    after rows of greater ids (PostgreSQL hands ids out before the commit) is not missed;
    and everything is read again every ``FULL_EVERY``.
    """

    SETTLE = timedelta(minutes=10)
    FULL_EVERY = timedelta(hours=1)

    def __init__(self) -> None:
        self._after = 0
        self._newest: dict[str, asset_reads.NewestData] = {}
        self._full_at: datetime | None = None
        self._lock = threading.Lock()  # scrapes at once (each gets its own copy)

    def read(self, connection: Any, now: datetime) -> dict[str, asset_reads.NewestData]:
        with self._lock:
            return dict(self._read(connection, now))

    def _read(self, connection: Any, now: datetime) -> dict[str, asset_reads.NewestData]:
        if self._full_at is None or now - self._full_at >= self.FULL_EVERY or now < self._full_at:
            self._after, self._newest, self._full_at = 0, {}, now
        found, settled = asset_reads.newest_data_after(connection, self._after, now - self.SETTLE)
        known = self._newest
        for key, data in found.items():
            before = known.get(key)
            if before is None:
                known[key] = data
                continue
            partitions = [p for p in (before.greatest_partition, data.greatest_partition) if p]
            known[key] = asset_reads.NewestData(
                asset_key=key,
                materialized_at=max(before.materialized_at, data.materialized_at),
                greatest_partition=max(partitions) if partitions else None,
            )
        if settled is not None:
            self._after = max(self._after, settled)
        return known


def data_end(
    newest: asset_reads.NewestData,
    partitions: PartitionsDefinition | None,
    materialized: Sequence[str] = (),
) -> datetime:
    """How recent an asset's data is: for an asset partitioned by time, the end of the
    window of the newest partition it materialized; for any other, when it was last
    materialized. ``materialized`` lists its partitions when they have a time dimension
    beside others (the newest key is then not the greatest in text order)."""
    if partitions is None or newest.greatest_partition is None:
        return newest.materialized_at
    split = getattr(partitions, "split", None) is not None
    ends = [
        end
        for key in (materialized if split else [newest.greatest_partition])
        if (end := window_end(partitions, key)) is not None
    ]
    return max(ends) if ends else newest.materialized_at


def data_ends(
    connection: Any,
    definitions: Mapping[str, PartitionsDefinition | None],
    keys: Sequence[str] | None = None,
    *,
    newest: Mapping[str, asset_reads.NewestData] | None = None,
) -> dict[str, datetime]:
    """``data_end`` of each asset of ``keys`` (of every asset with None) that was ever
    materialized; ``definitions`` gives their partitions, ``newest`` (of every asset) the
    newest data when known already. Two grouped queries at most."""
    if newest is None:
        newest = asset_reads.newest_data(connection, keys)
    split = [
        key
        for key, data in newest.items()
        if data.greatest_partition is not None
        and getattr(definitions.get(key), "split", None) is not None
    ]
    partitions = asset_reads.materialized_partitions(connection, split)
    return {
        key: data_end(data, definitions.get(key), partitions.get(key, ()))
        for key, data in newest.items()
    }
