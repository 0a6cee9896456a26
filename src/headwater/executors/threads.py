"""ThreadExecutor: tries run in a pool of threads of the engine's own process.

A try that exceeds its timeout is failed by the engine at once; this executor then
raises ``TaskTimeoutError`` inside the thread running it. Python code stops at its next
instruction, but a call blocked in C (``time.sleep``, a socket read) only stops when
that call returns, and until then the thread stays busy. Shell tasks kill their command
when it times out. Use the process executor when a timeout must always be enforced.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from headwater.errors import TaskTimeoutError
from headwater.executors.base import Executor, ReportOutcome, TryKey, TryRequest
from headwater.executors.invoke import capture_print_output, execute_try, release_print_output
from headwater.scheduling.clock import Clock, SystemClock

DEFAULT_THREADS = 32


def default_thread_count() -> int:
    """Tries the thread executor runs at once by default: 32, whatever the number of CPUs.

    Most tasks wait on databases, APIs and files rather than compute, so a thread pool
    sized by CPUs leaves them queued behind each other for no gain; 32 is Airflow's
    default parallelism. CPU-bound pipelines want ``--executor process`` (one worker per
    CPU).
    """
    return DEFAULT_THREADS


class ThreadExecutor(Executor):
    """Runs tries in a thread pool (default size: 32, see ``default_thread_count``)."""

    name = "thread"

    def __init__(self, max_concurrency: int | None = None, clock: Clock | None = None) -> None:
        self.max_concurrency = max_concurrency or default_thread_count()
        self._clock = clock or SystemClock()
        self._pool: ThreadPoolExecutor | None = None
        self._report: ReportOutcome | None = None
        self._running: dict[TryKey, int] = {}
        self._lock = threading.Lock()

    def start(self, report: ReportOutcome) -> None:
        self._report = report
        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="headwater-task")
        capture_print_output()

    def submit(self, request: TryRequest, fn: Callable[..., Any]) -> None:
        assert self._pool is not None, "start() the executor first"
        self._pool.submit(self._run, request, fn)

    def _run(self, request: TryRequest, fn: Callable[..., Any]) -> None:
        with self._lock:
            self._running[request.key] = threading.get_ident()
        try:
            outcome = execute_try(request, fn, self._clock)
        finally:
            with self._lock:
                self._running.pop(request.key, None)
        assert self._report is not None
        self._report(outcome)

    def cancel(self, key: TryKey) -> None:
        with self._lock:
            ident = self._running.pop(key, None)
            if ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(TaskTimeoutError)
                )

    def shutdown(self) -> None:
        if self._pool is not None:
            # Tries abandoned after a timeout may still be blocked; do not wait for them.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            release_print_output()
