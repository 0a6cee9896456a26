"""RunEngine: drive one run of a pipeline to completion (a host with a single run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.engine.driver import Listener
from headwater.engine.host import EngineHost
from headwater.engine.results import ResultStore
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
    ) -> None:
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
        run = self.store.get_run(run_id)
        host = EngineHost(
            self.store,
            self.executor,
            clock=self.clock,
            result_store=self.result_store,
            logs_dir=self.logs_dir,
            listener=self.listener,
        )
        if host.add(self.pipeline, run):
            host.start()
            try:
                host.run_until_done()
            finally:
                host.shutdown()
        return self.store.get_run(run_id)
