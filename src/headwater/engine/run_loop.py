"""RunEngine: drive one run of a pipeline to completion (a host with a single run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.engine.driver import Listener
from headwater.engine.host import EngineHost
from headwater.engine.ownership import DEFAULT_LEASE, new_owner_id, owner_is_dead
from headwater.engine.results import ResultStore
from headwater.errors import ConfigError
from headwater.executors.base import Executor
from headwater.scheduling.clock import Clock, SystemClock
from headwater.store.base import StateStore
from headwater.store.records import RunRecord

__all__ = ["Listener", "RunEngine"]


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

    def drive(self, run_id: str) -> RunRecord:
        """Run ``run_id`` until every task is final; returns the run as recorded."""
        run = self._claim(run_id)
        host = EngineHost(
            self.store,
            self.executor,
            clock=self.clock,
            result_store=self.result_store,
            logs_dir=self.logs_dir,
            listener=self.listener,
            owner=self.owner,
        )
        if host.add(self.pipeline, run, claimed=True):
            host.start()
            try:
                host.run_until_done()
            finally:
                host.shutdown()
        else:
            self.store.release_run(run_id, self.owner)
        return self.store.get_run(run_id)

    def _claim(self, run_id: str) -> RunRecord:
        """Take the run's lease; a dead owner on this host is taken over at once."""
        now = self.clock.now()
        until = now + DEFAULT_LEASE
        run = self.store.claim_run(run_id, self.owner, now, until)
        if run is not None:
            return run
        current = self.store.get_run(run_id)
        if current.owner is not None and owner_is_dead(current.owner):
            taken = self.store.claim_run(run_id, self.owner, now, until, take_over=True)
            if taken is not None:
                return taken
        raise ConfigError(
            f"run {run_id!r} is being driven by {current.owner} (its lease runs until "
            f"{current.lease_expires_at}); wait for it to finish, or for the lease to "
            "expire if that process died"
        )
