"""Building the requests that the executor tests submit, and waiting on their workers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headwater import Pipeline
from headwater.executors.base import TryRequest
from headwater.graph.plan import PipelineRef


def try_request(
    pipe: Pipeline,
    task_id: str,
    tmp_path: Path,
    *,
    try_number: int = 1,
    args: tuple[Any, ...] = (),
    log_path: str | None = None,
) -> TryRequest:
    """A request for one try of ``task_id``, logging to ``tmp_path`` unless ``log_path``."""
    now = datetime.now(UTC)
    node = pipe.plan.node(task_id)
    return TryRequest(
        key=("run", pipe.plan.index_by_id[task_id], -1, try_number),
        pipeline=PipelineRef(
            pipeline_id=pipe.pipeline_id,
            module_name=pipe.module_name,
            source_file=pipe.source_file,
        ),
        task_id=task_id,
        run_id="run",
        map_index=-1,
        try_number=try_number,
        args=args,
        kwargs={},
        context_parameters=node.context_parameters,
        logical_date=now,
        data_interval_start=now,
        data_interval_end=now,
        params={},
        upstream_states={},
        log_path=log_path or str(tmp_path / f"{task_id}-{try_number}.log"),
        timeout=None,
    )


def not_called(*args: Any, **kwargs: Any) -> Any:
    """The function passed to ``submit``: a worker finds the task's function itself."""
    raise AssertionError("the process executor does not call the function it is given")


def wait_for_pid(log: Path) -> int:
    """The pid that ``sleeps_once`` prints to its log as it starts."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and "pid=" in (text := log.read_text()):
            return int(text.split("pid=")[1].split()[0])
        time.sleep(0.01)
    raise AssertionError(f"no pid in {log}")
