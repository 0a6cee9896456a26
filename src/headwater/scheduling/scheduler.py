"""Scheduler.tick: which runs are due, and which queued runs this process should start.

``tick(now)`` only reads and writes the store; it never sleeps and never runs a task.
The service (``scheduling/service.py``) calls it in a loop and hands the runs it claims
to an EngineHost. Runs are unique per pipeline and logical date in the store, so two
schedulers ticking at once never create the same run twice: the loser's insert fails
and it moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice, takewhile

from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.engine.ownership import DEFAULT_LEASE, owner_is_dead
from headwater.engine.runs import create_run
from headwater.errors import RunExistsError
from headwater.schedules.timetables import DataInterval, Timetable
from headwater.scheduling.asset_backfill_advance import advance_asset_backfills
from headwater.scheduling.automation import Automator
from headwater.scheduling.backfill import advance_backfills
from headwater.scheduling.event_runs import create_event_runs
from headwater.store.base import StateStore
from headwater.store.records import RunRecord

logger = logging.getLogger("headwater.scheduler")

SCHEDULED = "scheduled"
SCHEDULED_PRIORITY = 10  # the latest scheduled interval goes ahead of backfill runs
DEFAULT_MAX_ACTIVE_RUNS = 16
DEFAULT_MAX_ACTIVE_RUNS_CATCHUP = 1
# Intervals a catch-up tick looks at first; the window doubles past intervals with runs.
_FIRST_WINDOW = 32


def max_active_runs(pipeline: Pipeline) -> int:
    """The pipeline's limit, or its default: 1 with catchup, 16 without."""
    if pipeline.max_active_runs is not None:
        return pipeline.max_active_runs
    return DEFAULT_MAX_ACTIVE_RUNS_CATCHUP if pipeline.catchup else DEFAULT_MAX_ACTIVE_RUNS


@dataclass(slots=True)
class TickResult:
    """What one tick did: the runs it created and the runs it claimed to drive here."""

    created: list[RunRecord] = field(default_factory=list)
    claimed: list[tuple[Pipeline, RunRecord]] = field(default_factory=list)


class Scheduler:
    """Creates due runs and claims queued ones, for the pipelines it is given."""

    def __init__(
        self,
        store: StateStore,
        pipelines: Callable[[], Mapping[str, Pipeline]],
        *,
        clock: Clock,
        owner: str,
        lease: timedelta = DEFAULT_LEASE,
        resolve: Callable[[str], Pipeline | None] | None = None,
    ) -> None:
        self.store = store
        self.pipelines = pipelines
        # finds the pipelines no file defines (``materialize.*``) for the runs made of them
        self.resolve = resolve
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.automator = Automator(store, clock)

    def tick(self, now: datetime, *, capacity: int = 100, busy: Collection[str] = ()) -> TickResult:
        """Create the runs that are due at ``now``, then claim up to ``capacity`` runs.

        Paused pipelines get no new runs (see ``StateStore.set_paused``).

        ``busy`` are the runs this process drives already (or whose tries still run
        here): they count against ``capacity``, and are never claimed again. A pipeline
        whose runs cannot be created (its schedule raises, the database refuses) is
        logged and skipped; the others go on.
        """
        result = TickResult()
        pipelines = self.pipelines()
        self._reap_dead_owners(now)
        active = self.store.active_run_counts()
        # A paused pipeline gets no scheduled or event runs; its runs already made, and
        # manual ones (run, trigger), are claimed and driven as usual.
        paused = self.store.paused_pipeline_ids()
        for pipeline in pipelines.values():
            if pipeline.pipeline_id in paused:
                continue
            try:
                result.created.extend(self._create_due_runs(pipeline, now, active))
                room = max_active_runs(pipeline) - active.get(pipeline.pipeline_id, 0)
                events = create_event_runs(self.store, pipeline, now, room, self.clock)
            except Exception:
                logger.exception("pipeline %s: could not create its due runs", pipeline.pipeline_id)
                continue
            active[pipeline.pipeline_id] = active.get(pipeline.pipeline_id, 0) + len(events)
            result.created.extend(events)
        # assets with automation= (their pipelines are among ``pipelines``)
        result.created.extend(
            self.automator.create_runs(
                pipelines.values(), now, active=active, paused=paused, max_active=max_active_runs
            )
        )
        result.created.extend(self._advance_backfills(pipelines, now))
        result.claimed = self._claim(pipelines, now, capacity - len(busy), set(busy))
        return result

    def _reap_dead_owners(self, now: datetime) -> None:
        """End at once the leases of dead processes of this host (a restarted scheduler).

        Their runs, backfills and pool slots are then free to take over now, rather than
        when their leases would have expired.
        """
        for owner in self.store.live_owners(now) - {self.owner}:
            if owner_is_dead(owner):
                logger.info("process %s is gone: taking over its runs now", owner)
                self.store.reap_abandoned(owner, now)

    def _advance_backfills(
        self, pipelines: Mapping[str, Pipeline], now: datetime
    ) -> list[RunRecord]:
        """Carry on the recorded backfills no live process holds (``--detach``, a dead owner)."""
        return [
            *advance_backfills(
                self.store, pipelines, owner=self.owner, now=now, lease=self.lease, clock=self.clock
            ),
            *advance_asset_backfills(
                self.store, pipelines, owner=self.owner, now=now, lease=self.lease, clock=self.clock
            ),
        ]

    # creating runs

    def due_intervals(self, pipeline: Pipeline, now: datetime, active: int) -> list[DataInterval]:
        """The scheduled intervals of ``pipeline`` to create runs for at ``now``."""
        timetable = pipeline.timetable
        if timetable is None:
            return []
        latest = timetable.latest_complete(now)
        if latest is None:
            return []
        last = self.store.latest_run(pipeline.pipeline_id, (SCHEDULED,))
        if last is not None and last.logical_date >= latest.logical_date:
            return []
        if not pipeline.catchup:
            # First deploy, or the scheduler was down: only the latest complete interval.
            return [latest] if active < max_active_runs(pipeline) else []
        room = max_active_runs(pipeline) - active
        if room <= 0:
            return []
        first = (
            timetable.next_after(last.logical_date)
            if last is not None
            else next(timetable.intervals_from(timetable.start or latest.start), None)
        )
        if first is None:
            return []
        return self._missed_intervals(pipeline.pipeline_id, timetable, first, latest, room)

    def _missed_intervals(
        self,
        pipeline_id: str,
        timetable: Timetable,
        first: DataInterval,
        latest: DataInterval,
        room: int,
    ) -> list[DataInterval]:
        """The ``room`` oldest intervals from ``first`` to ``latest`` that have no run.

        The intervals are walked lazily, and the runs read one window of them at a time,
        so a tick costs what it can create, not the length of the backlog (a year of a
        minutely schedule is half a million intervals).
        """
        missed = takewhile(
            lambda interval: interval.start <= latest.start, timetable.intervals_from(first.start)
        )
        due: list[DataInterval] = []
        size = max(room, _FIRST_WINDOW)
        while len(due) < room:
            window = list(islice(missed, size))
            if not window:
                break
            # Intervals a backfill or a trigger ran already are not due: passing over them
            # keeps the schedule moving instead of retrying the same existing run forever.
            runs = self.store.runs_between(pipeline_id, window[0].start, window[-1].start)
            taken = {run.logical_date for run in runs}
            due.extend(interval for interval in window if interval.logical_date not in taken)
            size *= 2  # a long stretch that has runs already: look further at once
        return due[:room]

    def _create_due_runs(
        self, pipeline: Pipeline, now: datetime, active: dict[str, int]
    ) -> list[RunRecord]:
        created = []
        for interval in self.due_intervals(pipeline, now, active.get(pipeline.pipeline_id, 0)):
            try:
                run = create_run(
                    self.store,
                    pipeline,
                    clock=self.clock,
                    interval=interval,
                    run_type=SCHEDULED,
                    triggered_by="scheduler",
                    priority=SCHEDULED_PRIORITY,
                )
            except RunExistsError as exists:
                # another scheduler, a trigger or a backfill made it first: not ours to make
                logger.debug("%s", exists)
                continue
            active[pipeline.pipeline_id] = active.get(pipeline.pipeline_id, 0) + 1
            created.append(run)
            logger.info(
                "created run %s of %s for %s",
                run.run_id,
                pipeline.pipeline_id,
                interval.logical_date.isoformat(),
            )
        return created

    # claiming runs

    def _claim(
        self,
        pipelines: Mapping[str, Pipeline],
        now: datetime,
        room: int,
        busy: set[str],
    ) -> list[tuple[Pipeline, RunRecord]]:
        if room <= 0:
            return []
        claimed: list[tuple[Pipeline, RunRecord]] = []
        for run in self.store.claimable_runs(now, limit=room * 4 + len(busy)):
            if len(claimed) >= room:
                break
            if run.run_id in busy:
                continue  # this process drives it (or a try of it still runs here)
            pipeline = pipelines.get(run.pipeline_id)
            if pipeline is None and self.resolve is not None:
                pipeline = self.resolve(run.pipeline_id)
            if pipeline is None:
                continue  # its file is not loaded here (yet), or fails to import
            # A queued run counts against the pipeline's max_active_runs, checked in the
            # claim itself so that two schedulers never exceed it together; a backfill's
            # runs count against the backfill's own limit, and a running run taken over
            # from a dead process is already counted.
            limited = run.state == "queued" and run.backfill_id is None
            owned = self.store.claim_run(
                run.run_id,
                self.owner,
                now,
                now + self.lease,
                max_active=max_active_runs(pipeline) if limited else None,
            )
            if owned is None:
                continue  # another scheduler was quicker, or the pipeline is at its limit
            claimed.append((pipeline, owned))
        return claimed
