"""RunEngine: drive one run of a pipeline to completion (a host with a single run)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.clock import Clock, SystemClock
from headwater.engine.driver import Listener
from headwater.engine.host import EngineHost, EngineInterrupted
from headwater.engine.ownership import DEFAULT_LEASE, new_owner_id, owner_is_dead
from headwater.engine.results import ResultStore
from headwater.errors import ConfigError, StoreError
from headwater.executors.base import Executor
from headwater.store.base import StateStore
from headwater.store.records import RunRecord

__all__ = ["INTERRUPT_GRACE", "Listener", "RunEngine"]

INTERRUPT_GRACE = 2.0  # seconds running tries get to end after Ctrl-C


class RunEngine:
    """Drives runs of one pipeline through an executor, recording everything in a store."""

    def __init__(
        self,
        pipeline: Any,
        store: StateStore,
        executor: Executor,
        *,
        result_store: ResultStore,
        logs_dir: Path,
        clock: Clock | None = None,
        listener: Listener | None = None,
        owner: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.owner = owner or new_owner_id()
        self.pipeline = pipeline
        self.plan = pipeline.plan
        self.store = store
        self.executor = executor
        self.result_store = result_store
        self.logs_dir = logs_dir
        self.clock = clock or SystemClock()
        self.listener = listener
        self.lease = lease
        self.host: EngineHost | None = None
        self.left_running = 0  # tries still running when drive() returned (after Ctrl-C)

    def interrupt(self) -> None:
        """Stop starting tries; ``drive`` raises KeyboardInterrupt soon (any thread)."""
        if self.host is not None:
            self.host.interrupt()

    def drive(self, run_id: str) -> RunRecord:
        """Run ``run_id`` until every task is final; returns the run as recorded.

        Raises:
            KeyboardInterrupt: after ``interrupt()``: the tries that ended within a
                couple of seconds are recorded, and the run is left to ``resume``.
            StoreError: the run's changes could not be recorded (the database is
                unreachable, full, or another process took the run over).
        """
        run = self._claim(run_id)
        host = self.host = EngineHost(
            self.store,
            self.executor,
            clock=self.clock,
            result_store=self.result_store,
            logs_dir=self.logs_dir,
            listener=self.listener,
            owner=self.owner,
            lease=self.lease,
        )
        host.log_abandoned = False  # drive() raises it, naming the run
        if not host.add(self.pipeline, run, claimed=True):
            return self.store.get_run(run_id)
        host.start()
        try:
            host.run_until_done()
        except EngineInterrupted:
            if host.drain(INTERRUPT_GRACE):
                host.release_leases()  # nothing runs here any more: resume may start now
            self.left_running = host.executing
            raise KeyboardInterrupt from None
        finally:
            host.shutdown(wait=not host.interrupted)
        self.left_running = host.executing
        abandoned = host.abandoned.get(run_id)
        if abandoned is not None:
            raise StoreError(
                f"run {run_id!r} stopped: {abandoned}; once the cause is fixed, continue it "
                f"with 'headwater resume {run_id}'"
            )
        return self.store.get_run(run_id)

    def _claim(self, run_id: str) -> RunRecord:
        """Take the run's lease; a dead owner on this host is taken over at once."""
        now = self.clock.now()
        until = now + self.lease
        run = self.store.claim_run(run_id, self.owner, now, until)
        if run is not None:
            return run
        current = self.store.get_run(run_id)
        if current.state in ("success", "failed"):
            return current  # nothing to drive: it stays as recorded
        if current.owner is not None and owner_is_dead(current.owner):
            taken = self.store.claim_run(run_id, self.owner, now, until, take_over=True)
            if taken is not None:
                return taken
        raise ConfigError(
            f"run {run_id!r} is being driven by {current.owner} (its lease runs until "
            f"{current.lease_expires_at}); wait for it to finish, or for the lease to "
            "expire if that process died"
        )
