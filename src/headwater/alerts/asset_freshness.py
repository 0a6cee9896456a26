"""The asset freshness watcher: ``stale`` when an asset's newest data is too old.

``@asset(freshness=timedelta(hours=26))``: the asset is stale when its newest data is
older than that. For an asset partitioned by time, its newest data ends where the window
of its newest materialized partition ends (so a missing Tuesday is caught, even if
Monday was materialized again an hour ago); for any other asset, it is its newest
materialization. An asset never materialized counts from when the watchers first saw it.

Read from the store only (the ``assets`` table holds each asset's definition as the
scheduler or the CLI last recorded it), so it works while no scheduler runs. Like the
pipeline watchers: one ``stale`` alert, then nothing until the asset is fresh again (its
condition is resolved then); the next staleness alerts again. The condition is recorded
once, with its alert, so any number of watchers may run at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from headwater.asset_status import NewestByAsset, data_end, stored_partitions
from headwater.assets.freshness import format_duration
from headwater.assets.partitions import PartitionsDefinition, window_end
from headwater.store.records import AssetRecord
from headwater.store.sql import asset_reads, materialized, outbox
from headwater.store.sql import assets as asset_queries
from headwater.store.sql.store import SqlStore

STALE = "stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewestData:
    """How new an asset's data is: the moment it reaches, and what says so."""

    reaches: datetime  # the end of the newest partition's window, or the materialization
    partition: str | None
    materialized_at: datetime


def subject(asset_key: str) -> str:
    """What the asset's conditions are recorded for (apart from pipelines' ids)."""
    return f"asset:{asset_key}"


def newest_data(
    partitions: PartitionsDefinition | None, times: Mapping[str, datetime]
) -> NewestData | None:
    """The newest data among the materialized partitions ``times`` (partition -> when)."""
    windows = {}
    if partitions is not None:
        for key in times:
            # None: a key that covers no time, or one of an older definition
            if (end := window_end(partitions, key)) is not None:
                windows[key] = end
    if windows:
        partition = max(windows, key=lambda k: (windows[k], times[k]))
        return NewestData(
            reaches=windows[partition], partition=partition, materialized_at=times[partition]
        )
    if not times:
        return None
    partition = max(times, key=lambda k: times[k])
    moment = times[partition]
    return NewestData(reaches=moment, partition=partition or None, materialized_at=moment)


def watch_asset_freshness(
    store: SqlStore, now: datetime, newest_by_asset: NewestByAsset | None = None
) -> list[str]:
    """``stale`` once per asset while its newest data is older than its ``freshness``.

    ``newest_by_asset`` keeps each asset's newest data between rounds (as the metrics
    collector's does, so that the alert and the freshness gauge judge alike); without
    it, one grouped read. An asset removed from the code is not watched, and its open
    condition is closed (so that, defined again, it alerts again when stale)."""
    with store.engine.begin() as connection:
        asset_queries.resolve_conditions_of_removed(connection, STALE, subject(""), now)
    with store.engine.connect() as connection:
        watched = [
            record
            for record in asset_queries.list_assets(connection)
            if record.definition.get("freshness_seconds")
        ]
        latest = (newest_by_asset or NewestByAsset()).read(connection, now)
        # partitions with a time dimension beside others: their newest key in text order
        # is not the newest in time, so each of their partitions' times is read
        partitions = {
            r.asset_key: stored_partitions(r.definition.get("partitions")) for r in watched
        }
        split = [key for key, p in partitions.items() if getattr(p, "split", None) is not None]
        times = materialized.success_times(connection, split)
        stale_now = outbox.open_subjects(connection, STALE)
    opened = []
    for record in watched:
        key = record.asset_key
        if key in times:
            newest = newest_data(partitions[key], times[key])
        else:
            newest = _from_newest(latest.get(key), partitions[key])
        limit = timedelta(seconds=record.definition["freshness_seconds"])
        watched_as = subject(record.asset_key)
        if newest is not None and now - newest.reaches <= limit:
            # fresh: nothing to write, unless it was stale until now
            if watched_as in stale_now:
                with store.engine.begin() as connection:
                    outbox.resolve_conditions(connection, STALE, watched_as, now)
            continue
        if newest is not None and watched_as in stale_now:
            continue  # stale, and alerted already
        event_key = _watch(store, record, newest, limit, now)
        if event_key is not None:
            opened.append(event_key)
    return opened


def _from_newest(
    data: asset_reads.NewestData | None, partitions: PartitionsDefinition | None
) -> NewestData | None:
    """NewestData from an asset's newest data as the store groups it (see ``data_end``)."""
    if data is None:
        return None
    reaches = data_end(data, partitions)
    timed = data.greatest_partition is not None and reaches != data.materialized_at
    return NewestData(
        reaches=reaches,
        partition=data.greatest_partition if timed else None,
        materialized_at=data.materialized_at,
    )


def _watch(
    store: SqlStore,
    record: AssetRecord,
    newest: NewestData | None,
    limit: timedelta,
    now: datetime,
) -> str | None:
    """An asset stale, or never materialized (counted from when it was first seen)."""
    watched_as = subject(record.asset_key)
    with store.engine.begin() as connection:
        reference = newest.reaches if newest else outbox.first_seen(connection, watched_as, now)
        age = now - reference
        if age <= limit:
            outbox.resolve_conditions(connection, STALE, watched_as, now)
            return None
        episodes, open_now = materialized.condition_episodes(connection, STALE, watched_as)
        if open_now:
            return None  # alerted already, and not fresh since
        key = f"stale|{watched_as}|{episodes + 1}"
        if not outbox.open_condition(connection, key, STALE, watched_as, now):
            return None  # another watcher opened it just now
        outbox.insert_events(connection, [_event(key, record, newest, reference, age, limit, now)])
    return key


def _event(
    key: str,
    record: AssetRecord,
    newest: NewestData | None,
    reference: datetime,
    age: timedelta,
    limit: timedelta,
    now: datetime,
) -> outbox.AlertEventRow:
    return outbox.AlertEventRow(
        event_key=key,
        event=STALE,
        pipeline_id=None,
        run_id=None,
        logical_date=None,
        payload={
            "event": STALE,
            "asset_key": record.asset_key,
            "observed_at": now.isoformat(),
            "details": [describe(newest, reference, age, limit)],
            "newest_partition": None if newest is None else newest.partition,
            "newest_materialized_at": None
            if newest is None
            else newest.materialized_at.isoformat(),
            "data_until": reference.isoformat(),
            "age_seconds": age.total_seconds(),
            "freshness_seconds": limit.total_seconds(),
        },
        created_at=now,
    )


def describe(
    newest: NewestData | None, reference: datetime, age: timedelta, limit: timedelta
) -> str:
    """The sentence an alert says of the asset's freshness."""
    allowed = f"(allowed: {format_duration(limit)})"
    if newest is None:
        return (
            f"Freshness: never materialized; watched since {reference.isoformat()}, "
            f"{format_duration(age)} ago {allowed}"
        )
    materialized_at = newest.materialized_at.isoformat()
    if newest.partition is not None and newest.reaches != newest.materialized_at:
        return (
            f"Freshness: newest partition {newest.partition}, whose window ended "
            f"{reference.isoformat()}, {format_duration(age)} ago {allowed}; last "
            f"materialized {materialized_at}"
        )
    what = f"partition {newest.partition}" if newest.partition else "materialization"
    return f"Freshness: newest {what} at {materialized_at}, {format_duration(age)} ago {allowed}"
