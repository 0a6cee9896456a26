"""Runtime: settings, store, result store and executor wired together for one process.

The CLI and the testing helpers use it; it is the one place that builds an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock, SystemClock
from headwater.config import Settings
from headwater.engine.ownership import new_owner_id
from headwater.engine.results import ResultStore
from headwater.engine.run_loop import Listener, RunEngine
from headwater.engine.runs import create_run, prepare_clear, prepare_rerun, prepare_retry
from headwater.errors import NotFoundError, PipelineLoadError, RunExistsError
from headwater.executors.factory import create_executor
from headwater.loader import find_recorded
from headwater.private_files import make_private_dir
from headwater.reporting import run_document
from headwater.schedules.timetables import DataInterval
from headwater.store.records import Claim, RunRecord
from headwater.store.sql.store import SqlStore


class Runtime:
    """Everything a process needs to run pipelines against one metadata store."""

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings or Settings.from_env()
        make_private_dir(self.settings.home)  # before anything is written there
        self.clock = clock or SystemClock()
        self.store = SqlStore.from_settings(self.settings)
        self.result_store = ResultStore.from_settings(self.settings)
        self.owner = new_owner_id()
        self.current_engine: RunEngine | None = None  # the last one made (see interrupt)

    def close(self) -> None:
        self.store.close()

    def engine(
        self,
        pipeline: Pipeline,
        *,
        executor: str = "thread",
        max_concurrency: int | None = None,
        listener: Listener | None = None,
    ) -> RunEngine:
        engine = self.current_engine = RunEngine(
            pipeline,
            self.store,
            create_executor(executor, max_concurrency=max_concurrency, clock=self.clock),
            result_store=self.result_store,
            logs_dir=self.settings.logs_dir,
            clock=self.clock,
            listener=listener,
            owner=self.owner,
            lease=self.settings.lease,
        )
        return engine

    def _claim(self) -> Claim:
        """This process's claim on a run it is about to drive."""
        return Claim(owner=self.owner, lease_until=self.clock.now() + self.settings.lease)

    @property
    def left_running(self) -> int:
        """Tries still running when the last engine stopped (after an interrupt)."""
        return self.current_engine.left_running if self.current_engine is not None else 0

    def interrupt(self) -> None:
        """Ctrl-C: the engine driving a run now stops starting tries (any thread)."""
        if self.current_engine is not None:
            self.current_engine.interrupt()

    def create_run(
        self,
        pipeline: Pipeline,
        *,
        logical_date: datetime | date | None = None,
        params: Mapping[str, Any] | None = None,
        triggered_by: str = "cli",
        replace: bool = False,
        interval: DataInterval | None = None,
        partition_key: str | None = None,
    ) -> RunRecord:
        """Record a new run; with ``replace``, a date that already has a run runs again.

        Raises:
            RunExistsError: the date already has a run and ``replace`` is False.
            ConfigError: ``replace`` is True but that run is still running.
        """
        try:
            return create_run(
                self.store,
                pipeline,
                clock=self.clock,
                logical_date=logical_date,
                params=params,
                triggered_by=triggered_by,
                interval=interval,
                partition_key=partition_key,
                # owned from the start, so that no scheduler picks it up meanwhile
                owner=self.owner,
                lease_until=self.clock.now() + self.settings.lease,
            )
        except RunExistsError as exists:
            if not replace:
                raise RunExistsError(
                    f"{exists}; repair it with 'headwater retry {exists.run_id}' (what "
                    f"failed) or 'headwater clear {exists.run_id} TASK...', or run every "
                    "task again with --rerun",
                    run_id=exists.run_id,
                ) from None
            return prepare_rerun(self.store, pipeline, exists.run_id, params, claim=self._claim())

    def run(
        self,
        pipeline: Pipeline,
        *,
        logical_date: datetime | date | None = None,
        params: Mapping[str, Any] | None = None,
        executor: str = "thread",
        listener: Listener | None = None,
        triggered_by: str = "cli",
    ) -> RunRecord:
        """Create a run (or run its date again) and drive it to completion."""
        run = self.create_run(
            pipeline,
            logical_date=logical_date,
            params=params,
            triggered_by=triggered_by,
            replace=True,
        )
        return self.engine(pipeline, executor=executor, listener=listener).drive(run.run_id)

    def pipeline_of(self, run_id: str) -> Pipeline:
        """Import the file (or folder, for assets) a run's pipeline came from, and return it."""
        run = self.store.get_run(run_id)
        if run.source_file is None:
            raise PipelineLoadError(
                f"run {run_id!r} has no recorded pipeline file", path="<unknown>"
            )
        try:
            recorded = self.store.get_pipeline(run.pipeline_id).graph.get("assets")
        except NotFoundError:
            recorded = None
        found = find_recorded(run.pipeline_id, run.source_file, recorded)
        if found is None:
            raise PipelineLoadError(
                f"{run.source_file}: pipeline {run.pipeline_id!r} of run {run_id!r} is no "
                "longer defined there",
                path=run.source_file,
            )
        return found

    def resume(self, run_id: str, pipeline: Pipeline | None = None, **options: Any) -> RunRecord:
        """Continue a run from the store: what succeeded is not run again."""
        pipeline = pipeline or self.pipeline_of(run_id)
        return self.engine(pipeline, **options).drive(run_id)

    def retry(self, run_id: str, pipeline: Pipeline | None = None, **options: Any) -> RunRecord:
        """Re-run the failed and upstream-failed tasks of a finished run."""
        pipeline = pipeline or self.pipeline_of(run_id)
        prepare_retry(self.store, pipeline.plan, run_id, claim=self._claim())
        return self.engine(pipeline, **options).drive(run_id)

    def clear(
        self,
        run_id: str,
        task_ids: list[str],
        *,
        downstream: bool = False,
        run: bool = True,
        pipeline: Pipeline | None = None,
        **options: Any,
    ) -> RunRecord:
        """Reset tasks so they run again, then (unless ``run`` is False) run them."""
        pipeline = pipeline or self.pipeline_of(run_id)
        prepare_clear(
            self.store,
            pipeline.plan,
            run_id,
            task_ids,
            downstream=downstream,
            claim=self._claim() if run else None,
        )
        if not run:
            return self.store.get_run(run_id)
        return self.engine(pipeline, **options).drive(run_id)

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run as ``run --json`` and ``runs show --json`` print it."""
        run = self.store.get_run(run_id)
        return run_document(
            run, self.store.get_task_instances(run_id), self.store.get_tries(run_id)
        )
