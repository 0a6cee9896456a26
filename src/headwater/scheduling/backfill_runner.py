"""BackfillRunner: drive one backfill's runs in this process until it ends.

What ``headwater backfill`` does in the foreground: hold the backfill's lease, start its
next runs as earlier ones finish (``advance_backfill``), and drive them with an
EngineHost, as the scheduler service does. Runs of the backfill that another process
drives (a scheduler that took over) are waited for. Interrupted, it lets its leases go:
the backfill stays recorded and running, and a scheduler carries it on.

The loop (``BackfillLoop``) is the same for a backfill of asset partitions; only how a
pass advances the backfill and reads where it stands differ (``AssetBackfillRunner``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Generic, Protocol, TypeVar

from headwater.authoring.pipeline import Pipeline
from headwater.engine.host import EngineHost
from headwater.engine.ownership import DEFAULT_LEASE
from headwater.engine.run_loop import INTERRUPT_GRACE
from headwater.executors.factory import create_executor
from headwater.runtime import Runtime
from headwater.scheduling.backfill import (
    BackfillProgress,
    acquire_backfill,
    advance_backfill,
    backfill_progress,
)
from headwater.store.records import BackfillRecord, RunRecord

logger = logging.getLogger("headwater.scheduler")


class Progress(Protocol):
    """What the loop reads of where a backfill stands."""

    @property
    def backfill(self) -> BackfillRecord: ...

    @property
    def active(self) -> list[RunRecord]: ...

    @property
    def finished(self) -> bool: ...


ProgressT = TypeVar("ProgressT", bound=Progress)
ProgressSink = Callable[[BackfillProgress], None]


class BackfillLoop(Generic[ProgressT]):
    """Advances a recorded backfill and drives its runs here, until every run has ended.

    Subclasses say where the backfill stands (``_progress``) and make one pass
    (``_advance``), the caller holding its lease.
    """

    def __init__(
        self,
        runtime: Runtime,
        pipeline: Pipeline,
        backfill: BackfillRecord,
        *,
        executor: str = "thread",
        lease: timedelta = DEFAULT_LEASE,
        poll: float = 0.5,
        on_progress: Callable[[ProgressT], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock = runtime.clock
        self.owner = runtime.owner
        self.pipeline = pipeline
        self.backfill_id = backfill.backfill_id
        self.lease = lease
        self.poll = poll  # seconds between passes while no run of ours ends
        self.on_progress = on_progress
        self.host = EngineHost(
            runtime.store,
            create_executor(executor, clock=runtime.clock),
            clock=runtime.clock,
            result_store=runtime.result_store,
            logs_dir=runtime.settings.logs_dir,
            owner=runtime.owner,
            lease=lease,
        )

    def interrupt(self) -> None:
        """Ctrl-C: start no more tries; ``run`` raises KeyboardInterrupt soon (any thread)."""
        self.host.interrupt()

    @property
    def left_running(self) -> int:
        """Tries still running in this process (after an interrupt)."""
        return self.host.executing

    def _progress(self, backfill: BackfillRecord) -> ProgressT:
        raise NotImplementedError

    def _advance(self, held: BackfillRecord) -> ProgressT:
        raise NotImplementedError

    def run(self) -> ProgressT:
        """Drive the backfill until it ends; returns where it stands at the end.

        On an exception, or after ``interrupt()`` (raising KeyboardInterrupt), the
        outcomes of ended tries are committed and the leases let go before it propagates,
        so that a scheduler takes over at once; but not the leases of runs whose tries
        still run here (see ``EngineHost.release_leases``).
        """
        host = self.host
        host.start()
        try:
            next_pass = self.clock.monotonic()
            while True:
                if host.interrupted:
                    raise KeyboardInterrupt
                if self.clock.monotonic() >= next_pass:
                    progress = self._pass()
                    if self.on_progress is not None:
                        self.on_progress(progress)
                    if progress.finished and progress.backfill.state != "running":
                        return progress
                    next_pass = self.clock.monotonic() + self.poll
                if not host.drivers:
                    self.clock.sleep(max(0.0, next_pass - self.clock.monotonic()))
                elif host.step(max(0.0, next_pass - self.clock.monotonic())):
                    next_pass = self.clock.monotonic()  # a run ended: start the next one
        except BaseException:
            self._let_go()
            raise
        finally:
            host.shutdown(wait=not host.interrupted)

    def _pass(self) -> ProgressT:
        now = self.clock.now()
        held = acquire_backfill(self.store, self.backfill_id, self.owner, now, self.lease)
        if held is None:
            # another process advances it now (or finished it): watch it end
            return self._progress(self.store.get_backfill(self.backfill_id))
        progress = self._advance(held)
        busy = self.host.busy_runs()
        for run in progress.active:
            if run.run_id in busy:
                continue
            owned = self.store.claim_run(run.run_id, self.owner, now, now + self.lease)
            if owned is not None:
                self.host.add(self.pipeline, owned, claimed=True)
        return progress

    def _let_go(self) -> None:
        try:
            grace = INTERRUPT_GRACE if self.host.interrupted else 0
            if self.host.drain(grace):
                self.host.release_leases()
            busy = self.host.busy_runs()
            backfill = self.store.get_backfill(self.backfill_id)
            active = self._progress(backfill).active
            # queued ones not driven yet too: a lease ending now lets them go at once
            free = [run.run_id for run in active if run.run_id not in busy]
            self.store.extend_leases(self.owner, free, self.clock.now())
            self.store.release_backfill(self.backfill_id, self.owner)
        except Exception:  # the original error matters more
            logger.exception("could not release the leases of backfill %s", self.backfill_id)


class BackfillRunner(BackfillLoop[BackfillProgress]):
    """Advances a recorded backfill of intervals and drives its runs here."""

    def _progress(self, backfill: BackfillRecord) -> BackfillProgress:
        return backfill_progress(self.store, self.pipeline, backfill)

    def _advance(self, held: BackfillRecord) -> BackfillProgress:
        return advance_backfill(
            self.store,
            self.pipeline,
            held,
            clock=self.clock,
            run_owner=self.owner,
            lease=self.lease,
        )
