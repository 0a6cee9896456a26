"""``Pipeline.test()``: run a pipeline in this process against a temporary store."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.authoring.params import convert_params
from headwater.clock import Clock
from headwater.config import Settings
from headwater.config_file import MAX_POOL_SLOTS
from headwater.engine.run_state import label
from headwater.errors import NotFoundError
from headwater.runtime import Runtime
from headwater.schedules.intervals import parse_logical_date

if TYPE_CHECKING:
    from headwater.authoring.pipeline import Pipeline


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """One task instance of a test run."""

    state: str
    tries: int
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestRun:
    """A finished test run: its state and every task's state, tries and result."""

    __test__ = False  # not a pytest test class, despite its name

    run_id: str
    pipeline_id: str
    state: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    tasks: Mapping[str, TaskResult] = field(default_factory=dict)
    home: Path | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def result(self, task_id: str) -> Any:
        """The value a task returned (a list for a mapped task)."""
        if task_id in self.tasks:
            return self.tasks[task_id].result
        mapped = sorted(
            (int(key[len(task_id) + 1 : -1]), value.result)
            for key, value in self.tasks.items()
            if key.startswith(task_id + "[")
        )
        if not mapped:
            raise NotFoundError(f"test run of {self.pipeline_id!r} has no task {task_id!r}")
        return [value for _, value in mapped]

    def state_of(self, task_id: str) -> str:
        return self.tasks[task_id].state

    def log(self, task_id: str, try_number: int | None = None) -> str:
        """The log of a task's try (the last one by default); empty if it wrote nothing.

        ``task_id`` may name a mapped instance as ``"task[2]"``.
        """
        if task_id not in self.tasks or self.home is None:
            raise NotFoundError(f"test run of {self.pipeline_id!r} has no task {task_id!r}")
        number = try_number or self.tasks[task_id].tries
        name = task_id.replace("[", ".").rstrip("]")
        path = self.home / "logs" / self.pipeline_id / self.run_id / name / f"try-{number}.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""


def run_pipeline_test(
    pipeline: Pipeline,
    *,
    date: str | date | datetime | None = None,
    params: Mapping[str, Any] | None = None,
    executor: str = "thread",
    clock: Clock | None = None,
    home: Path | None = None,
) -> TestRun:
    """Run ``pipeline`` once against a fresh SQLite store in a temporary folder."""
    logical_date: datetime | None
    if isinstance(date, str):
        logical_date, _ = parse_logical_date(date, pipeline.zone)
    elif isinstance(date, datetime):
        logical_date = date
    elif date is not None:
        logical_date = datetime(date.year, date.month, date.day, tzinfo=pipeline.zone)
    else:
        logical_date = None
    folder = home or Path(tempfile.mkdtemp(prefix="headwater-test-"))
    runtime = Runtime(Settings.for_home(folder), clock=clock)
    try:
        # Pools limit what runs at once across runs; a test run is alone, so every pool
        # its tasks name exists here and holds them all.
        for pool in sorted({n.options.pool for n in pipeline.plan.nodes if n.options.pool}):
            runtime.store.set_pool(pool, MAX_POOL_SLOTS, "Pipeline.test()", runtime.clock.now())
        run = runtime.run(
            pipeline,
            logical_date=logical_date,
            params=convert_params(pipeline.pipeline_id, pipeline.params, params or {}),
            executor=executor,
            triggered_by="test",
        )
        tasks = {
            label(ti.task_id, ti.map_index): TaskResult(
                state=ti.state,
                tries=ti.try_number,
                result=runtime.result_store.decode(ti.result, ti.result_ref)
                if ti.state == "success"
                else None,
                error=ti.error,
            )
            for ti in runtime.store.get_task_instances(run.run_id)
        }
    finally:
        runtime.close()
    return TestRun(
        run_id=run.run_id,
        pipeline_id=run.pipeline_id,
        state=run.state,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        tasks=tasks,
        home=folder,
    )
