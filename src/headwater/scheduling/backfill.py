"""Backfills: runs for the past intervals of a schedule, a few at a time.

A backfill covers the intervals of the pipeline's schedule whose logical date lies in a
range (both ends included). For each interval it decides, from the run the interval
already has, whether to make a run, skip it or redo it (``plan_steps``, pure); then,
pass after pass (``advance_backfill``), it makes the next runs while fewer than its
``max_active_runs`` are queued or running, and records its end once every run it made
has finished. A backfill is recorded in the store: whoever holds its lease advances it
(the ``backfill`` command in the foreground, or a scheduler), and when that process
dies, the next scheduler to tick carries it on.

Its runs have run type ``backfill`` and priority 0, below the scheduled runs' 10, so a
scheduler always claims the latest scheduled interval first. Redoing an interval resets
its run (same run id, tries kept in the history) and hands it to the backfill: a date
never gets a second run.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import islice, takewhile
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.engine.ownership import DEFAULT_LEASE, owner_is_dead
from headwater.engine.runs import create_run, prepare_rerun, record_pipeline
from headwater.engine.states import RunState
from headwater.errors import ConfigError, RunExistsError, TransitionRejected
from headwater.schedules.intervals import parse_logical_date
from headwater.schedules.local_time import to_utc
from headwater.schedules.timetables import DataInterval
from headwater.store.base import StateStore
from headwater.store.records import BackfillRecord, Claim, RunRecord

logger = logging.getLogger("headwater.scheduler")

BACKFILL = "backfill"  # the run type of a backfill's runs
BACKFILL_PRIORITY = 0  # below the scheduled runs' SCHEDULED_PRIORITY
DEFAULT_MAX_ACTIVE_RUNS = 2
MAX_BACKFILL_INTERVALS = 100_000  # one backfill's range; a longer one is refused
_ACTIVE = (RunState.QUEUED.value, RunState.RUNNING.value)
Step = TypeVar("Step")


class Reprocess(StrEnum):
    """Which intervals that already have a finished run are run again."""

    NONE = "none"  # none: only intervals without a run
    FAILED = "failed"  # those whose run failed
    ALL = "all"  # every one, those that succeeded too


class Action(StrEnum):
    """What a backfill does with one interval."""

    RUN = "run"  # make its first run
    SKIP = "skip"  # leave its run alone
    REDO = "redo"  # reset its run so it runs again


class BackfillState(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by 'headwater backfills cancel': it starts no more runs


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillStep:
    """One interval of a backfill, what to do with it, and the run it has already."""

    interval: DataInterval
    action: Action
    existing: RunRecord | None = None


# planning: pure


def range_bounds(start: str, end: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``--start`` and ``--end`` as the first and last logical dates, both included, in UTC.

    Naive values are in ``zone``. A date alone means midnight as ``--start``, and the
    whole day as ``--end``: ``--end 2026-01-05`` includes a run at 02:00 that day.

    Raises:
        ConfigError: a value that is not an ISO date or datetime, or an end before the start.
    """
    first = _parse_bound("--start", start, zone)[0]
    last, date_only = _parse_bound("--end", end, zone)
    if date_only:
        last = _end_of_day(date.fromisoformat(end.strip()), zone)
    if last < first:
        raise ConfigError(f"--end {end!r} is before --start {start!r}; give the earlier date first")
    return first, last


def _end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The last instant of ``day`` in ``zone``, in UTC: just before the next local midnight.

    The last day of the calendar ends at the last instant headwater can keep.
    """
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    midnight = to_utc(datetime.combine(day + timedelta(days=1), time()), zone)
    if midnight is None:  # past the calendar in UTC
        return datetime.max.replace(tzinfo=UTC)
    return midnight - timedelta(microseconds=1)


def _parse_bound(option: str, value: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    try:
        return parse_logical_date(value, zone)
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def backfill_intervals(pipeline: Pipeline, first: datetime, last: datetime) -> list[DataInterval]:
    """The intervals of the pipeline's schedule whose logical date is in ``[first, last]``.

    They are the intervals the scheduler makes runs for, within the pipeline's own
    ``start`` and ``end``.

    Raises:
        ConfigError: the pipeline has no schedule, so it has no intervals to backfill, or
            the range holds more than MAX_BACKFILL_INTERVALS of them.
    """
    timetable = pipeline.timetable
    if timetable is None:
        raise ConfigError(
            f"pipeline {pipeline.pipeline_id!r} has no schedule, so it has no intervals to "
            "backfill; give it a schedule=, or run one date with 'headwater run FILE --date D'"
        )
    intervals = takewhile(lambda i: i.start <= last, timetable.intervals_from(first))
    found = list(islice(intervals, 2))
    # far more than the limit at the pace of the first intervals: refuse without walking
    too_many = len(found) == 2 and (last - first) > 2 * MAX_BACKFILL_INTERVALS * (
        found[1].start - found[0].start
    )
    if not too_many:
        found += islice(intervals, MAX_BACKFILL_INTERVALS - 1)
        too_many = len(found) > MAX_BACKFILL_INTERVALS
    if too_many:
        raise ConfigError(
            f"the range {first.isoformat()} to {last.isoformat()} holds more than "
            f"{MAX_BACKFILL_INTERVALS:,} intervals of pipeline {pipeline.pipeline_id!r}'s "
            f"schedule ({timetable.description}); backfill a shorter range at a time"
        )
    return found


def action_for(existing: RunRecord | None, reprocess: Reprocess, since: datetime) -> Action:
    """What to do with an interval whose run is ``existing`` (None: it has none).

    A queued or running run is on its way already: skipped. With ``reprocess=all``, a
    run that succeeded is redone only if it ended before ``since`` (when the backfill was
    made): one that succeeded since then ran the current code already.
    """
    if existing is None:
        return Action.RUN
    if existing.state in _ACTIVE:
        return Action.SKIP
    if existing.state == RunState.SUCCESS.value:
        fresh = existing.ended_at is not None and existing.ended_at > since
        return Action.REDO if reprocess is Reprocess.ALL and not fresh else Action.SKIP
    return Action.SKIP if reprocess is Reprocess.NONE else Action.REDO


def plan_steps(
    intervals: Iterable[DataInterval],
    runs: Mapping[datetime, RunRecord],
    reprocess: Reprocess,
    *,
    since: datetime,
    reverse: bool = False,
) -> list[BackfillStep]:
    """One step per interval, oldest first (newest first with ``reverse``).

    ``runs`` are the runs that exist, by logical date.
    """
    steps = [
        BackfillStep(
            interval=interval,
            action=action_for(runs.get(interval.logical_date), reprocess, since),
            existing=runs.get(interval.logical_date),
        )
        for interval in intervals
    ]
    return steps[::-1] if reverse else steps


def plan_backfill(
    pipeline: Pipeline,
    store: StateStore,
    first: datetime,
    last: datetime,
    reprocess: Reprocess,
    *,
    now: datetime,
    reverse: bool = False,
) -> list[BackfillStep]:
    """What a backfill of ``[first, last]`` made at ``now`` would do (``--dry-run``)."""
    intervals = backfill_intervals(pipeline, first, last)
    runs = {run.logical_date: run for run in store.runs_between(pipeline.pipeline_id, first, last)}
    return plan_steps(intervals, runs, reprocess, since=now, reverse=reverse)


# recording


def new_backfill_id(now: datetime) -> str:
    """``backfill__20260105T120000__3fa2c1``: readable, sortable by creation, unique."""
    # the fields by hand: strftime's %Y does not pad years before 1000
    stamp = (
        f"{now.year:04d}{now.month:02d}{now.day:02d}T{now.hour:02d}{now.minute:02d}{now.second:02d}"
    )
    return f"backfill__{stamp}__{secrets.token_hex(3)}"


def record_backfill(
    store: StateStore,
    pipeline: Pipeline,
    first: datetime,
    last: datetime,
    *,
    now: datetime,
    max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS,
    reprocess: Reprocess = Reprocess.FAILED,
    reverse: bool = False,
    params: Mapping[str, Any] | None = None,
    owner: str | None = None,
    lease_until: datetime | None = None,
) -> BackfillRecord:
    """Record a new running backfill (held by ``owner`` until ``lease_until``, if given).

    Raises:
        ConfigError: the pipeline has no schedule, ``max_active_runs`` is below 1, or a
            running backfill of the pipeline overlaps the range (two backfills would
            take the same intervals from each other).
    """
    backfill_intervals(pipeline, first, last)
    if max_active_runs < 1:
        raise ConfigError(f"--max-active-runs must be 1 or more, got {max_active_runs}")
    for other in store.list_backfills(pipeline.pipeline_id, state=BackfillState.RUNNING):
        if other.start_date <= last and first <= other.end_date:
            raise ConfigError(
                f"pipeline {pipeline.pipeline_id!r} already has a running backfill over "
                f"{other.start_date.isoformat()} to {other.end_date.isoformat()}: "
                f"{other.backfill_id}; wait for it to end, continue it here with "
                f"'headwater backfills resume {other.backfill_id}', or backfill another range"
            )
    record = BackfillRecord(
        backfill_id=new_backfill_id(now),
        pipeline_id=pipeline.pipeline_id,
        start_date=first,
        end_date=last,
        max_active_runs=max_active_runs,
        reprocess=reprocess.value,
        reverse=reverse,
        params=dict(params or {}),
        state=BackfillState.RUNNING.value,
        created_at=now,
        owner=owner,
        lease_expires_at=lease_until,
    )
    record_pipeline(store, pipeline, now)  # its file, for 'headwater backfills resume'
    store.create_backfill(record)
    return record


def acquire_backfill(
    store: StateStore, backfill_id: str, owner: str, now: datetime, lease: timedelta
) -> BackfillRecord | None:
    """Take (or renew) the lease on a running backfill; a dead owner on this host at once.

    None when another live process advances it, or it is no longer running.
    """
    claimed = store.claim_backfill(backfill_id, owner, now, now + lease)
    if claimed is not None:
        return claimed
    current = store.get_backfill(backfill_id)
    if current.state == BackfillState.RUNNING and current.owner and owner_is_dead(current.owner):
        return store.claim_backfill(backfill_id, owner, now, now + lease, take_over=True)
    return None


# advancing


@dataclass(slots=True, kw_only=True)
class BackfillProgressOf(Generic[Step]):
    """Where a backfill stands: its runs, the steps it skips, those still to start (a
    step is an interval, ``BackfillStep``, or a partition of assets)."""

    backfill: BackfillRecord
    runs: list[RunRecord]  # the backfill's runs, in the backfill's order
    skipped: list[Step]
    pending: list[Step]  # to run or redo, not started yet
    created: list[RunRecord] = field(default_factory=list)  # started by this pass

    @property
    def active(self) -> list[RunRecord]:
        return [run for run in self.runs if run.state in _ACTIVE]

    @property
    def total(self) -> int:
        """The runs the backfill makes in all, as far as it knows now."""
        return len(self.runs) + len(self.pending)

    @property
    def done(self) -> int:
        return sum(1 for run in self.runs if run.state not in _ACTIVE)

    @property
    def failed(self) -> list[RunRecord]:
        return [run for run in self.runs if run.state == RunState.FAILED.value]

    @property
    def finished(self) -> bool:
        """No run active, and none left to start (a cancelled backfill starts none)."""
        cancelled = self.backfill.state == BackfillState.CANCELLED
        return not self.active and (cancelled or not self.pending)


BackfillProgress = BackfillProgressOf[BackfillStep]


def backfill_progress(
    store: StateStore, pipeline: Pipeline, backfill: BackfillRecord
) -> BackfillProgress:
    """Where ``backfill`` stands now, from the runs in the store."""
    in_range = store.runs_between(pipeline.pipeline_id, backfill.start_date, backfill.end_date)
    ours = [run for run in in_range if run.backfill_id == backfill.backfill_id]
    others = {run.logical_date: run for run in in_range if run.backfill_id != backfill.backfill_id}
    taken = {run.logical_date for run in ours}
    intervals = [
        interval
        for interval in backfill_intervals(pipeline, backfill.start_date, backfill.end_date)
        if interval.logical_date not in taken
    ]
    steps = plan_steps(
        intervals,
        others,
        Reprocess(backfill.reprocess),
        since=backfill.created_at,
        reverse=backfill.reverse,
    )
    ours.sort(key=lambda run: run.logical_date, reverse=backfill.reverse)
    return BackfillProgress(
        backfill=backfill,
        runs=ours,
        skipped=[step for step in steps if step.action is Action.SKIP],
        pending=[step for step in steps if step.action is not Action.SKIP],
    )


def advance_backfill(
    store: StateStore,
    pipeline: Pipeline,
    backfill: BackfillRecord,
    *,
    clock: Clock,
    run_owner: str | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> BackfillProgress:
    """One pass: start the next runs while fewer than the limit are active; end when done.

    The caller holds the backfill's lease. With ``run_owner``, the runs started are
    leased to it at once (it drives them itself); without, they are left queued for
    whichever scheduler claims them.
    """
    return advance_with(
        store,
        backfill,
        pipeline.pipeline_id,
        clock,
        lambda: backfill_progress(store, pipeline, backfill),
        lambda step: _start(store, pipeline, backfill, step, clock, run_owner, lease),
    )


def advance_with(
    store: StateStore,
    backfill: BackfillRecord,
    pipeline_id: str,
    clock: Clock,
    progress_of: Callable[[], BackfillProgressOf[Step]],
    start: Callable[[Step], RunRecord | None],
) -> BackfillProgressOf[Step]:
    """One pass of a backfill of intervals or of partitions: ``start`` the next pending
    steps while fewer than the limit are active, and end the backfill when it is done."""
    progress = progress_of()
    room = backfill.max_active_runs - len(progress.active)
    created = [run for step in progress.pending[: max(room, 0)] if (run := start(step)) is not None]
    if created:
        progress = progress_of()
        progress.created = created
    elif progress.finished:
        state = BackfillState.FAILED if progress.failed else BackfillState.SUCCESS
        if store.finish_backfill(backfill.backfill_id, state.value, clock.now()):
            logger.info("backfill %s of %s: %s", backfill.backfill_id, pipeline_id, state)
        progress.backfill = store.get_backfill(backfill.backfill_id)
    return progress


def _start(
    store: StateStore,
    pipeline: Pipeline,
    backfill: BackfillRecord,
    step: BackfillStep,
    clock: Clock,
    run_owner: str | None,
    lease: timedelta,
) -> RunRecord | None:
    """Make or reset the step's run for the backfill; None if someone else got there first."""
    now = clock.now()
    lease_until = None if run_owner is None else now + lease
    try:
        if step.existing is None:
            return create_run(
                store,
                pipeline,
                clock=clock,
                interval=step.interval,
                params=backfill.params,
                run_type=BACKFILL,
                triggered_by=f"backfill {backfill.backfill_id}",
                owner=run_owner,
                lease_until=lease_until,
                priority=BACKFILL_PRIORITY,
                backfill_id=backfill.backfill_id,
            )
        # owned as it is queued again, so that no scheduler picks it up meanwhile
        return prepare_rerun(
            store,
            pipeline,
            step.existing.run_id,
            backfill.params,
            backfill_id=backfill.backfill_id,
            priority=BACKFILL_PRIORITY,
            claim=None
            if run_owner is None or lease_until is None
            else Claim(owner=run_owner, lease_until=lease_until),
        )
    except (RunExistsError, TransitionRejected, ConfigError) as lost:
        # a trigger, a scheduler or a user made or started the run meanwhile: the next
        # pass sees it and decides again
        logger.info("backfill %s: %s", backfill.backfill_id, lost)
        return None


def advance_backfills(
    store: StateStore,
    pipelines: Mapping[str, Pipeline],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    clock: Clock,
) -> list[RunRecord]:
    """For a scheduler's tick: advance the running backfills no live process holds.

    Backfills of pipelines not loaded here are left alone, and so are backfills of
    asset partitions (see ``advance_asset_backfills``). Returns the runs created; they
    are queued for the scheduler to claim.
    """
    created: list[RunRecord] = []
    for backfill in store.list_backfills(state=BackfillState.RUNNING):
        pipeline = pipelines.get(backfill.pipeline_id)
        if pipeline is None or backfill.partitions is not None:
            continue
        held = acquire_backfill(store, backfill.backfill_id, owner, now, lease)
        if held is not None:
            created.extend(advance_backfill(store, pipeline, held, clock=clock).created)
    return created


def step_json(step: BackfillStep) -> dict[str, str]:
    """A step of a backfill's plan as `backfill --dry-run --json` and the API show it."""
    return {
        "logical_date": step.interval.logical_date.isoformat(),
        "data_interval_start": step.interval.start.isoformat(),
        "data_interval_end": step.interval.end.isoformat(),
        "action": step.action.value,
    }
