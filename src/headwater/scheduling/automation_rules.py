"""The rules of declarative automation, as pure functions: store facts in, decisions out.

``automation="on_upstream_update"``: a partition of an asset is due when an upstream
partition it reads (through the partition mappings) was materialized after it was, and
every upstream partition it reads of an asset in the graph has been materialized at
least once (a run would fail to load a missing one). Materialization ids order the
materializations; they grow with time in every store.

``automation=cron(...)``: at each fire time, the newest partition complete at that time
(a time-partitioned asset, as a scheduled asset pipeline's run), the whole asset (an
unpartitioned one), or every partition of the other kinds (for a multi-partitioned asset
with a time dimension, those of the newest complete time partition).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from headwater.assets.automation import CronAutomation
from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.mappings import IdentityMapping, PartitionMapping
from headwater.assets.partitions import MultiPartitions, PartitionsDefinition, TimePartitions
from headwater.errors import HeadwaterError
from headwater.schedules.timetables import Timetable, timetable_for

MaterializedIds = Mapping[str, Mapping[str, int]]  # asset -> partition ("" = none) -> id
DynamicKeys = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamUpdate:
    """A partition older than what it reads: the newest upstream materialization it reads."""

    partition: str | None
    materialization_id: int
    upstream: str  # the asset (and partition) of that materialization, for people


def upstream_updates(
    graph: AssetGraph,
    key: AssetKey,
    ids: MaterializedIds,
    *,
    now: datetime,
    dynamic: DynamicKeys | None = None,
) -> list[UpstreamUpdate]:
    """The partitions of ``key`` due by ``on_upstream_update``, oldest first."""
    item = graph.assets[key]
    own = ids.get(key_string(key), {})
    partitions: Sequence[str | None] = (
        [None] if item.partitions is None else item.partitions.keys(now=now, dynamic=dynamic)
    )
    due = []
    for partition in partitions:
        newest = newest_read(graph, key, partition, ids, now=now, dynamic=dynamic)
        if newest is not None and newest[0] > own.get(partition or "", 0):
            due.append(
                UpstreamUpdate(
                    partition=partition, materialization_id=newest[0], upstream=newest[1]
                )
            )
    return due


def newest_read(
    graph: AssetGraph,
    key: AssetKey,
    partition: str | None,
    ids: MaterializedIds,
    *,
    now: datetime,
    dynamic: DynamicKeys | None = None,
) -> tuple[int, str] | None:
    """The newest materialization among the upstream partitions ``partition`` reads, and
    what it is; None when it reads none, or one of them was never materialized.

    An external upstream (a task's outlet, a source outside the graph) counts by its
    newest materialization of any partition, and never holds a partition back.
    """
    item = graph.assets[key]
    best, what = 0, ""
    for source in graph.inputs[key]:
        name = key_string(source.key)
        written = ids.get(name, {})
        if source.key not in graph.assets:
            for written_key, found in written.items():
                if found > best:
                    best, what = found, _shown(name, written_key)
            continue
        try:
            keys = read_keys(
                source.mapping,
                partition,
                item.partitions,
                graph.assets[source.key].partitions,
                dynamic=dynamic,
                now=now,
            )
        except HeadwaterError:  # a key the mapping cannot place: not due by it
            return None
        for upstream_key in keys if keys is not None else [None]:
            read = written.get(upstream_key or "")
            if read is None:
                return None  # wait until it exists
            if read > best:
                best, what = read, _shown(name, upstream_key)
    return (best, what) if best else None


def read_keys(
    mapping: PartitionMapping,
    partition: str | None,
    downstream: PartitionsDefinition | None,
    upstream: PartitionsDefinition | None,
    *,
    dynamic: DynamicKeys | None,
    now: datetime,
) -> list[str] | None:
    """The upstream keys ``partition`` reads (None: the upstream is unpartitioned).

    The same key when both sides share a definition under ``identity()``, by far the
    most common case, without asking the mapping (a tick asks for every partition).
    """
    if isinstance(mapping, IdentityMapping) and partition is not None and downstream == upstream:
        return [partition]
    return mapping.upstream_keys(partition, downstream, upstream, dynamic=dynamic, now=now)


def _shown(name: str, partition: str | None) -> str:
    return f"{name} {partition}" if partition else name


@functools.lru_cache(maxsize=256)
def _timetable(expression: str, timezone: str) -> Timetable | None:
    return timetable_for(expression, ZoneInfo(timezone))


def latest_fire(automation: CronAutomation, now: datetime) -> datetime | None:
    """The latest fire time of ``automation`` at or before ``now``."""
    timetable = _timetable(automation.expression, automation.timezone)
    interval = None if timetable is None else timetable.latest_complete(now)
    return None if interval is None else interval.end


def cron_partitions(
    partitions: PartitionsDefinition | None, fire: datetime, dynamic: DynamicKeys | None = None
) -> list[str | None]:
    """The partitions a cron automation materializes when it fires at ``fire``."""
    if partitions is None:
        return [None]
    if isinstance(partitions, TimePartitions):
        newest = partitions.last_complete_key(fire)
        return [] if newest is None else [newest]
    keys = partitions.keys(now=fire, dynamic=dynamic)
    time = partitions.time_dimension if isinstance(partitions, MultiPartitions) else None
    if isinstance(partitions, MultiPartitions) and time is not None:
        name, definition = time
        newest = definition.last_complete_key(fire)
        return [k for k in keys if partitions.split(k)[name] == newest]
    return list(keys)


def one_run_per_fire(partitions: PartitionsDefinition | None) -> bool:
    """Whether a cron automation starts one run per fire (else one per partition)."""
    return partitions is None or isinstance(partitions, TimePartitions)
