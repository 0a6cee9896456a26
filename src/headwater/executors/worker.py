"""The main loop of a worker process of the ProcessExecutor.

Imports stay light here: a worker loads the pipeline's module and the task-running code,
never the store or the CLI.
"""

from __future__ import annotations

import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from headwater.executors.base import PipelineRef, TryOutcome, TryRequest
from headwater.executors.invoke import capture_print_output, execute_try
from headwater.scheduling.clock import SystemClock


def _find_function(
    cache: dict[tuple[str, str], Any], ref: PipelineRef, task_id: str
) -> Callable[..., Any]:
    from headwater.loader import resolve_pipeline

    key = (ref.module_name, ref.pipeline_id)
    if key not in cache:
        cache[key] = resolve_pipeline(ref)
    fn: Callable[..., Any] = cache[key].plan.node(task_id).fn
    return fn


def worker_main(connection: Connection) -> None:
    """Run tries sent over ``connection`` until it sends None or closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    clock = SystemClock()
    cache: dict[tuple[str, str], Any] = {}
    capture_print_output()
    while True:
        try:
            request: TryRequest | None = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            fn = _find_function(cache, request.pipeline, request.task_id)
        except Exception as exc:
            now = clock.now()
            outcome = TryOutcome(
                key=request.key,
                ok=False,
                started_at=now,
                ended_at=now,
                error=f"cannot load task {request.task_id!r} in the worker: "
                f"{type(exc).__name__}: {exc}",
            )
        else:
            outcome = execute_try(request, fn, clock)
        try:
            connection.send(outcome)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            connection.send(
                TryOutcome(
                    key=request.key,
                    ok=False,
                    started_at=outcome.started_at,
                    ended_at=outcome.ended_at,
                    error=f"the result of task {request.task_id!r} cannot be sent back "
                    f"from the worker process: {type(exc).__name__}: {exc}",
                )
            )
