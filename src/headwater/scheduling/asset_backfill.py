"""Backfills of asset partitions: which partitions to materialize, and their record.

``headwater backfill --asset KEY --partitions FIRST..LAST`` materializes a selection of
assets (KEY, with what it reads or what reads it) as one ad hoc pipeline
(``materialize_pipeline``), one run per partition, a few at a time, like a backfill of a
pipeline's intervals (``scheduling/backfill.py``) whose record, lease and limit it shares.

What happens to a partition depends on its status across the selected partitioned
assets (``asset_status.partition_statuses``) and on the backfill's ``Redo``: ``missing``
materializes only partitions never materialized, ``failed`` those and those whose newest
attempt failed (a blocking check refused it), ``all`` every one; ``stale`` partitions
count as materialized unless asked for. A time partition's run covers its window (its
logical date is the window's start), and materializing the partition again resets that
run, as a backfill of intervals does; other partitions get a new run each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from headwater.asset_status import FAILED, MATERIALIZED, MISSING, STALE, partition_statuses
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.partitions import PartitionsDefinition, TimePartitions
from headwater.assets.partitions.base import PartitionError
from headwater.engine.assets import dynamic_names
from headwater.engine.runs import record_pipeline
from headwater.errors import ConfigError
from headwater.schedules.timetables import DataInterval
from headwater.scheduling.backfill import (
    DEFAULT_MAX_ACTIVE_RUNS,
    MAX_BACKFILL_INTERVALS,
    Action,
    BackfillState,
    new_backfill_id,
)
from headwater.store.records import BackfillRecord, RunRecord
from headwater.store.sql.store import SqlStore

_ACTIVE = ("queued", "running")
# A partition's status across assets: the first of these that one of them has. Failed
# comes first: when an asset fails, those downstream of it are never tried (missing).
_RANK = {FAILED: 0, MISSING: 1, STALE: 2, MATERIALIZED: 3}


class Redo(StrEnum):
    """Which partitions a backfill of assets materializes (besides stale ones, if asked)."""

    MISSING = "missing"  # those never materialized
    FAILED = "failed"  # those, and those whose newest attempt a blocking check refused
    ALL = "all"  # every partition in the range


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetReprocess:
    """``--missing``, ``--failed`` or ``--all``, and whether stale partitions count too.

    Stored in the backfill's ``reprocess`` as ``missing``, ``failed+stale``...
    """

    redo: Redo = Redo.MISSING
    stale: bool = False

    @property
    def value(self) -> str:
        return self.redo.value + ("+stale" if self.stale and self.redo is not Redo.ALL else "")

    @classmethod
    def parse(cls, text: str) -> AssetReprocess:
        redo, _, stale = text.partition("+")
        return cls(redo=Redo(redo), stale=stale == "stale")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionState:
    """What the store says of one partition across the selected partitioned assets.

    ``status`` is the first of failed, missing, stale and materialized that one of the
    assets has; ``materialized_at`` the oldest of their newest materializations (None
    if one of them has none); ``run_id`` the run behind the status.
    """

    status: str
    materialized_at: datetime | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionStep:
    """One partition of a backfill of assets, what to do with it, and why."""

    partition_key: str
    action: Action
    state: PartitionState
    window: tuple[datetime, datetime] | None = None  # of a time partition: its run's interval
    existing: RunRecord | None = None  # the run of that window, reset to materialize it again


# planning: pure


def combine(states: Iterable[PartitionState]) -> PartitionState:
    """One partition's state across assets: the worst status, the oldest materialization."""
    found = list(states)
    if not found:
        return PartitionState(status=MISSING)
    worst = min(found, key=lambda state: _RANK.get(state.status, 0))
    times = [state.materialized_at for state in found]
    oldest = None if None in times else min(t for t in times if t is not None)
    return PartitionState(status=worst.status, materialized_at=oldest, run_id=worst.run_id)


def partition_action(
    state: PartitionState, reprocess: AssetReprocess, *, since: datetime, active: bool = False
) -> Action:
    """What to do with a partition in ``state`` (``active``: a run of its window is on its way).

    With ``all``, a partition every asset materialized after ``since`` (when the backfill
    was made) is skipped: it was written by the current code already.
    """
    if active:
        return Action.SKIP
    status = state.status
    if status == MISSING:
        return Action.RUN
    if reprocess.redo is Redo.ALL:
        written = state.materialized_at
        fresh = status == MATERIALIZED and written is not None and written > since
        return Action.SKIP if fresh else Action.REDO
    if status == FAILED and reprocess.redo is Redo.FAILED:
        return Action.REDO
    return Action.REDO if status == STALE and reprocess.stale else Action.SKIP


def partition_interval(
    definition: PartitionsDefinition, partition: str, *, now: datetime, offset: int = 0
) -> DataInterval:
    """The data interval of a new run for ``partition``.

    A time partition's run covers its window: one run per partition, reset to run it
    again. Other partitions' runs start at ``now`` plus ``offset`` microseconds (one run
    per logical date), as long as the partition's window if it has one.
    """
    window = definition.time_window(partition)
    if window is not None and isinstance(definition, TimePartitions):
        return DataInterval(start=window[0], end=window[1])
    start = now + timedelta(microseconds=offset)
    span = window[1] - window[0] if window is not None else timedelta(0)
    return DataInterval(start=start, end=start + span)


def reuses_runs(definition: PartitionsDefinition | None) -> bool:
    """Whether a partition's run is the run of its window (time partitions)."""
    return isinstance(definition, TimePartitions)


# planning: from the store


def selection_partitions(
    graph: AssetGraph, keys: Sequence[AssetKey], named: Sequence[AssetKey], asked: str
) -> PartitionsDefinition:
    """The one partitions definition of a backfill's assets.

    Raises:
        ConfigError: an asset named (``named``) is not partitioned, or the selection mixes
            partitions definitions (a run materializes one partition of them all).
    """
    for key in named:
        if graph.assets[key].partitions is None:
            raise ConfigError(
                f"asset {key_string(key)!r} is not partitioned, so it has no partitions to "
                f"backfill; materialize it with 'headwater materialize {key_string(key)}'"
            )
    found: dict[PartitionsDefinition, AssetKey] = {}
    for key in keys:
        definition = graph.assets[key].partitions
        if definition is not None:
            found.setdefault(definition, key)
    if len(found) > 1:
        (first, a), (second, b) = list(found.items())[:2]
        raise ConfigError(
            f"backfill of {asked}: the assets selected are partitioned differently "
            f"({key_string(a)}: {first.describe()}; {key_string(b)}: {second.describe()}); "
            "a run materializes one partition of them all, so backfill each separately"
        )
    return next(iter(found))


def dynamic_keys(store: SqlStore, definition: PartitionsDefinition) -> dict[str, tuple[str, ...]]:
    names = dynamic_names(definition)
    return store.dynamic_keys(names) if names else {}


def backfill_partitions(
    definition: PartitionsDefinition,
    text: str,
    *,
    now: datetime,
    dynamic: Mapping[str, Sequence[str]],
) -> list[str]:
    """The partitions ``--partitions`` names: ``FIRST..LAST`` (both included) or one key.

    Raises:
        ConfigError: an unknown key, a backward range, a partition that has not ended
            yet (or is not a partition yet), or more than MAX_BACKFILL_INTERVALS of them.
    """
    try:
        keys = definition.parse_range(text, now=now, dynamic=dynamic)
    except PartitionError as exc:
        raise ConfigError(f"--partitions {text!r}: {exc}") from None
    if len(keys) > MAX_BACKFILL_INTERVALS:
        raise ConfigError(
            f"--partitions {text!r} holds {len(keys):,} partitions of {definition.describe()}, "
            f"more than {MAX_BACKFILL_INTERVALS:,}; backfill a shorter range at a time"
        )
    every = definition.keys(now=now, dynamic=dynamic)
    known = set(every)
    outside = [key for key in keys if key not in known]
    if outside:
        newest = f"end the range at {every[-1]!r} or before" if every else "none has ended yet"
        raise ConfigError(
            f"--partitions {text!r}: partition {outside[0]!r} of {definition.describe()} "
            f"has not ended yet, so it cannot be backfilled; {newest}"
        )
    return keys


def selection_states(
    store: SqlStore,
    pipeline: AssetPipeline,
    *,
    now: datetime,
    dynamic: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, PartitionState]:
    """Each partition's state across the pipeline's partitioned assets."""
    per_partition: dict[str, list[PartitionState]] = {}
    with store.asset_connection() as connection:
        for key in pipeline.asset_keys:
            if pipeline.graph.assets[key].partitions is None:
                continue  # materialized whole by every run: not a partition's status
            for found in partition_statuses(
                connection, pipeline.graph, key, now=now, dynamic=dynamic
            ):
                state = PartitionState(
                    status=found.status,
                    materialized_at=found.materialized_at,
                    run_id=found.run_id,
                )
                per_partition.setdefault(found.partition_key or "", []).append(state)
    return {partition: combine(states) for partition, states in per_partition.items()}


def plan_partitions(
    store: SqlStore,
    pipeline: AssetPipeline,
    partitions: Sequence[str],
    reprocess: AssetReprocess,
    *,
    now: datetime,
    since: datetime,
    reverse: bool = False,
) -> list[PartitionStep]:
    """One step per partition, in the order given (reversed with ``reverse``)."""
    definition = pipeline.partitions
    if definition is None or not partitions:
        return []
    states = selection_states(store, pipeline, now=now, dynamic=dynamic_keys(store, definition))
    windows = {key: definition.time_window(key) for key in partitions}
    runs: dict[datetime, RunRecord] = {}
    starts = [window[0] for window in windows.values() if window is not None]
    if reuses_runs(definition) and starts:
        found = store.runs_between(pipeline.pipeline_id, min(starts), max(starts))
        runs = {run.logical_date: run for run in found}
    steps = []
    for key in partitions:
        window = windows[key]
        existing = runs.get(window[0]) if window is not None else None
        state = states.get(key, PartitionState(status=MISSING))
        active = existing is not None and existing.state in _ACTIVE
        steps.append(
            PartitionStep(
                partition_key=key,
                action=partition_action(state, reprocess, since=since, active=active),
                state=state,
                window=window,
                existing=existing,
            )
        )
    return steps[::-1] if reverse else steps


def step_json(step: PartitionStep) -> dict[str, str | None]:
    """A step of the plan as ``backfill --asset --dry-run --json`` shows it."""
    window = step.window
    existing = step.existing
    return {
        "partition_key": step.partition_key,
        "status": step.state.status,
        "action": step.action.value,
        "data_interval_start": None if window is None else window[0].isoformat(),
        "data_interval_end": None if window is None else window[1].isoformat(),
        "run_id": existing.run_id if existing is not None else step.state.run_id,
    }


# recording


def record_asset_backfill(
    store: SqlStore,
    pipeline: AssetPipeline,
    partitions: Sequence[str],
    *,
    now: datetime,
    reprocess: AssetReprocess | None = None,
    max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS,
    reverse: bool = False,
    owner: str | None = None,
    lease_until: datetime | None = None,
) -> BackfillRecord:
    """Record a new running backfill of ``partitions`` of the pipeline's assets.

    Its ``start_date`` and ``end_date`` are the first and last windows' starts for time
    partitions (its runs' logical dates), and ``now`` for others.

    Raises:
        ConfigError: no partitions, ``max_active_runs`` below 1, or a running backfill
            materializes one of the same assets for one of the same partitions.
    """
    definition = pipeline.partitions
    if definition is None or not partitions:
        raise ConfigError(f"pipeline {pipeline.pipeline_id!r}: no partition to backfill")
    if max_active_runs < 1:
        raise ConfigError(f"--max-active-runs must be 1 or more, got {max_active_runs}")
    selection = tuple(key_string(key) for key in pipeline.asset_keys)
    _refuse_overlap(store, selection, partitions)
    first = last = now
    if reuses_runs(definition):
        starts = [window[0] for key in partitions if (window := definition.time_window(key))]
        first, last = min(starts), max(starts)
    record = BackfillRecord(
        backfill_id=new_backfill_id(now),
        pipeline_id=pipeline.pipeline_id,
        start_date=first,
        end_date=last,
        max_active_runs=max_active_runs,
        reprocess=(reprocess or AssetReprocess()).value,
        reverse=reverse,
        params={},
        state=BackfillState.RUNNING.value,
        created_at=now,
        owner=owner,
        lease_expires_at=lease_until,
        partitions=tuple(partitions),
        asset_selection=selection,
    )
    record_pipeline(store, pipeline, now)  # its folder, for 'headwater backfills resume'
    store.create_backfill(record)
    return record


def _refuse_overlap(store: SqlStore, selection: Sequence[str], partitions: Sequence[str]) -> None:
    """Two backfills would materialize the same partitions of the same assets at once."""
    wanted = set(partitions)
    for other in store.list_backfills(state=BackfillState.RUNNING):
        if other.asset_selection is None or other.partitions is None:
            continue
        shared = [key for key in selection if key in other.asset_selection]
        if shared and wanted.intersection(other.partitions):
            raise ConfigError(
                f"asset {shared[0]!r} already has a running backfill over partitions "
                f"{other.partitions[0]}..{other.partitions[-1]}: {other.backfill_id}; wait "
                f"for it to end, continue it here with 'headwater backfills resume "
                f"{other.backfill_id}', or backfill other partitions"
            )


def backfill_pipeline(graph: AssetGraph, backfill: BackfillRecord, folder: str) -> AssetPipeline:
    """The ad hoc pipeline of a recorded backfill of assets, built from ``graph`` again.

    Raises:
        ConfigError: an asset of the backfill is no longer defined, or the assets now make
            another pipeline (so its runs would not be found).
    """
    selection = backfill.asset_selection
    if not selection:
        raise ConfigError(f"backfill {backfill.backfill_id} is not a backfill of assets")
    by_name = {key_string(key): key for key in graph.assets}
    gone = [name for name in selection if name not in by_name]
    if gone:
        raise ConfigError(
            f"backfill {backfill.backfill_id}: asset {gone[0]!r} is no longer defined under "
            f"{folder}; define it again, or cancel the backfill with 'headwater backfills "
            f"cancel {backfill.backfill_id}'"
        )
    keys = [by_name[name] for name in selection]
    selection_partitions(graph, keys, (), f"backfill {backfill.backfill_id}")
    pipeline = materialize_pipeline(graph, keys, source_file=folder)
    if pipeline.pipeline_id != backfill.pipeline_id:  # the same keys always make the same id
        raise ConfigError(
            f"backfill {backfill.backfill_id}: its assets make pipeline "
            f"{pipeline.pipeline_id!r}, not {backfill.pipeline_id!r}; cancel it and start anew"
        )
    return pipeline
