"""Assets as the REST API and the web UI show them, read from the store.

Definitions come from the store's registry of assets (each definition as JSON, recorded
by whatever process loads the pipelines folder), so a server without the folder still
answers. A partition is ``stale`` when an upstream partition it reads was written again
since; that needs the asset's partition mappings, which only the loaded definition has:
a server that did not load the asset shows ``materialized``, ``failed`` or ``missing``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from headwater.asset_status import (
    FAILED,
    MATERIALIZED,
    MISSING,
    STALE,
    PartitionStatus,
    data_ends,
    freshness,
    partition_statuses,
    stored_partitions,
)
from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey
from headwater.assets.partitions import PartitionsDefinition
from headwater.engine.assets import dynamic_names
from headwater.errors import NotFoundError
from headwater.reporting import iso_or_none
from headwater.store.records import AssetRecord, CheckResultRecord, MaterializationRecord
from headwater.store.sql import asset_reads
from headwater.store.sql import assets as asset_queries

# one character per partition status, as the matrix is drawn
STATUS_CODES = {MATERIALIZED: "m", FAILED: "f", MISSING: ".", STALE: "s"}


def key_of(text: str) -> AssetKey:
    return tuple(text.split("/"))


def get_record(connection: Connection, key: str) -> AssetRecord:
    """The asset ``key`` of the store's registry.

    Raises:
        NotFoundError: the store knows no such asset.
    """
    record = asset_queries.get_asset(connection, key)
    if record is None:
        raise NotFoundError(
            f"no asset {key!r} in the metadata store; assets are recorded when a server or "
            "a scheduler loads the pipelines folder that defines them"
        )
    return record


def materialization_json(
    item: MaterializationRecord, checks: Sequence[CheckResultRecord] | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": item.id,
        "partition": item.partition_key,
        "status": item.status,
        "run_id": item.run_id,
        "task_id": item.task_id,
        "try_number": item.try_number,
        "created_at": item.created_at.isoformat(),
        "metadata": item.metadata,
    }
    if checks is not None:
        document["checks"] = [check_json(c) for c in checks]
    return document


def check_json(result: CheckResultRecord) -> dict[str, Any]:
    return {
        "check": result.check_name,
        "passed": result.passed,
        "blocking": result.blocking,
        "outcome": outcome(result),
        "description": result.description,
        "partition": result.partition_key,
        "materialization_id": result.materialization_id,
        "created_at": result.created_at.isoformat(),
        "metadata": result.metadata,
    }


def outcome(result: CheckResultRecord) -> str:
    """``passed``; ``failed`` (a blocking check: the value was refused); ``warned``."""
    if result.passed:
        return "passed"
    return "failed" if result.blocking else "warned"


def freshness_json(
    record: AssetRecord, data_until: datetime | None, now: datetime
) -> dict[str, Any]:
    """Whether the asset's data is recent enough for its ``freshness`` (if it has one)."""
    seconds = record.definition.get("freshness_seconds")
    limit = None if seconds is None else timedelta(seconds=float(seconds))
    return {**freshness(data_until, limit, now), "data_until": iso_or_none(data_until)}


def summaries(
    connection: Connection, records: Sequence[AssetRecord], now: datetime, loaded: set[str]
) -> list[dict[str, Any]]:
    """The list's item of each asset: a few grouped queries for the whole page."""
    keys = [r.asset_key for r in records]
    attempts = asset_reads.latest_attempts(connection, keys)
    definitions = {r.asset_key: stored_partitions(r.definition.get("partitions")) for r in records}
    ends = data_ends(connection, definitions, keys)
    written = asset_reads.materialized_counts(connection, keys)
    totals = partition_totals(definitions, now)
    checks: dict[str, list[CheckResultRecord]] = {}
    for result in asset_reads.latest_checks(connection, keys):
        checks.setdefault(result.asset_key, []).append(result)
    items = []
    for record in records:
        key = record.asset_key
        item = summary(record, attempts.get(key), ends.get(key), checks.get(key, []), now)
        item["loaded"] = key in loaded
        if definitions[key] is not None:
            item["partitions_summary"] = {
                "materialized": written.get(key, 0),
                "total": totals.get(key),
            }
        items.append(item)
    return items


def partition_totals(
    definitions: Mapping[str, PartitionsDefinition | None], now: datetime
) -> dict[str, int]:
    """How many partitions each asset has so far (counted once per definition; those of
    dynamic partitions are left out: the store holds their keys)."""
    counted: dict[PartitionsDefinition, int | None] = {}
    totals: dict[str, int] = {}
    for key, definition in definitions.items():
        if definition is None:
            continue
        if definition not in counted:
            counted[definition] = (
                None if dynamic_names(definition) else len(definition.keys(now=now))
            )
        total = counted[definition]
        if total is not None:
            totals[key] = total
    return totals


def summary(
    record: AssetRecord,
    attempt: MaterializationRecord | None,
    data_until: datetime | None,
    checks: Iterable[CheckResultRecord],
    now: datetime,
) -> dict[str, Any]:
    counts = Counter(outcome(result) for result in checks)
    return {
        "key": record.asset_key,
        "group": record.group_name,
        "description": record.description,
        "partitions": record.definition.get("partitions_description"),
        "last_materialization": None if attempt is None else materialization_json(attempt),
        "freshness": freshness_json(record, data_until, now),
        "partitions_summary": None,
        "check_summary": {name: counts.get(name, 0) for name in ("passed", "warned", "failed")},
        "loaded": False,
    }


def statuses(
    connection: Connection, record: AssetRecord, graph: AssetGraph | None, now: datetime
) -> list[PartitionStatus]:
    """Every partition of the asset with its status, in the definition's order (one, with
    key None, for an unpartitioned asset). ``graph``: the loaded graph, if it has it."""
    key = key_of(record.asset_key)
    partitions = stored_partitions(record.definition.get("partitions"))
    names = dynamic_names(partitions)
    dynamic = asset_queries.dynamic_keys(connection, names) if names else {}
    if graph is not None and key in graph.assets:
        return partition_statuses(connection, graph, key, now=now, dynamic=dynamic)
    latest = asset_queries.latest_by_partition(connection, record.asset_key)
    written = asset_queries.latest_success_by_partition(connection, record.asset_key)
    every: list[str | None] = [None]
    if partitions is not None:
        every = list(partitions.keys(now=now, dynamic=dynamic))
    found = []
    for partition in every:
        attempt = latest.get(partition or "")
        found.append(
            PartitionStatus(
                partition_key=partition,
                status=MISSING if attempt is None else attempt.status,
                materialized_at=written.get(partition or ""),
                run_id=None if attempt is None else attempt.run_id,
            )
        )
    return found


def status_json(status: PartitionStatus) -> dict[str, Any]:
    return {
        "partition": status.partition_key,
        "status": status.status,
        "materialized_at": iso_or_none(status.materialized_at),
        "run_id": status.run_id,
    }


def status_counts(found: Iterable[PartitionStatus]) -> dict[str, int]:
    counts = Counter(status.status for status in found)
    return {name: counts.get(name, 0) for name in STATUS_CODES}


def latest_checks(
    record: AssetRecord, results: Iterable[CheckResultRecord]
) -> list[dict[str, Any]]:
    """Each check of the asset with its latest result (None if it never ran): those of
    its definition first, then any other that recorded a result."""
    by_name = {result.check_name: result for result in results}
    defined = [c for c in record.definition.get("checks", []) if isinstance(c, dict)]
    names = [str(c.get("name")) for c in defined]
    blocking = {str(c.get("name")): bool(c.get("blocking")) for c in defined}
    names += sorted(set(by_name) - set(names))
    return [
        {
            "check": name,
            "blocking": blocking.get(name, by_name[name].blocking if name in by_name else False),
            "latest": None if name not in by_name else check_json(by_name[name]),
        }
        for name in names
    ]


def asset_document(
    connection: Connection,
    record: AssetRecord,
    graph: AssetGraph | None,
    now: datetime,
) -> dict[str, Any]:
    """One asset: its definition, freshness, partitions by status, its checks' latest
    results and its latest materialization."""
    key = record.asset_key
    loaded = graph is not None and key_of(key) in graph.assets
    (item,) = summaries(connection, [record], now, {key} if loaded else set())
    found = statuses(connection, record, graph, now)
    definition = {k: v for k, v in record.definition.items() if k not in ("checks", "key")}
    return {
        **item,
        **definition,
        "source_file": record.source_file,
        "updated_at": iso_or_none(record.updated_at),
        "removed_at": iso_or_none(record.removed_at),
        "partitions": record.definition.get("partitions_description"),
        "partitions_definition": record.definition.get("partitions"),
        "partitions_status": {
            "total": len(found) if record.definition.get("partitions") else 0,
            "counts": status_counts(found),
        },
        "checks": latest_checks(record, asset_reads.latest_checks(connection, [key])),
    }
