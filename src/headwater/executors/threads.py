"""ThreadExecutor: tries run in a pool of threads of the engine's own process.

A try that exceeds its timeout is failed by the engine at once; this executor then
raises ``TaskTimeoutError`` inside the thread running it. Python code stops at its next
instruction, but a call blocked in C (``time.sleep``, a socket read) only stops when
that call returns, and until then the thread stays busy. Shell tasks kill their command
when it times out. Use the process executor when a timeout must always be enforced.

The pool's threads are daemon threads: a try that never returns does not keep the
process from exiting (``concurrent.futures`` joins its threads at exit, so one stuck try
would hang the process for ever). Tries share the engine's process: only their print
output and their ``ctx.log`` are their own (see docs/engine.md, "Executors").
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import threading
from collections.abc import Callable
from typing import Any

from headwater.clock import Clock, SystemClock
from headwater.errors import TaskTimeoutError
from headwater.executors.base import Executor, ReportOutcome, TryKey, TryOutcome, TryRequest
from headwater.executors.invoke import (
    capture_print_output,
    describe,
    execute_try,
    failed_outcome,
    release_print_output,
)

_Job = tuple[TryRequest, Callable[..., Any]]
DEFAULT_THREADS = 32


def default_thread_count() -> int:
    """Tries the thread executor runs at once by default: 32, whatever the number of CPUs.

    Most tasks wait on databases, APIs and files rather than compute, so a thread pool
    sized by CPUs leaves them queued behind each other for no gain; 32 is Airflow's
    default parallelism. CPU-bound pipelines want ``--executor process`` (one worker per
    CPU).
    """
    return DEFAULT_THREADS


def _set_async_exc(ident: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in thread ``ident`` at its next instruction (None: drop a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), None if exc is None else ctypes.py_object(exc)
    )


class _Pool:
    """Daemon threads taking jobs from one queue; a new one only when none is idle."""

    def __init__(
        self, size: int, work: Callable[[_Job, int, ReportOutcome], None], report: ReportOutcome
    ) -> None:
        self.size = size
        self.work = work
        self.report = report  # this pool's, even once the executor is started again
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.idle = threading.Semaphore(0)
        self.threads = 0
        self.stopping = False
        self.lock = threading.Lock()

    def submit(self, job: _Job) -> None:
        self.jobs.put(job)
        if self.idle.acquire(blocking=False):
            return
        with self.lock:
            if self.threads >= self.size:
                return  # queued until a thread is free
            self.threads += 1
        threading.Thread(target=self._loop, name="headwater-task", daemon=True).start()

    def shutdown(self) -> None:
        """Start no more jobs; threads end after their current try."""
        self.stopping = True
        with self.lock:
            for _ in range(self.threads):
                self.jobs.put(None)

    def _loop(self) -> None:
        ident = threading.get_ident()
        while True:
            job = self.jobs.get()
            if job is None or self.stopping:
                return
            self.work(job, ident, self.report)
            self.idle.release()


class ThreadExecutor(Executor):
    """Runs tries in a thread pool (default size: 32, see ``default_thread_count``)."""

    name = "thread"

    def __init__(self, max_concurrency: int | None = None, clock: Clock | None = None) -> None:
        self.max_concurrency = max_concurrency or default_thread_count()
        self._clock = clock or SystemClock()
        self._pool: _Pool | None = None
        self._lock = threading.Lock()  # guards the three below
        self._running: dict[TryKey, int] = {}  # the thread running each try
        self._signalled: set[int] = set()  # threads sent a TaskTimeoutError
        self._cancelled: set[TryKey] = set()  # tries cancelled before they started

    def start(self, report: ReportOutcome) -> None:
        self._cancelled.clear()
        self._pool = _Pool(self.max_concurrency, self._work, report)
        capture_print_output()

    def submit(self, request: TryRequest, fn: Callable[..., Any]) -> None:
        assert self._pool is not None, "start() the executor first"
        self._pool.submit((request, fn))

    def cancel(self, key: TryKey) -> bool:
        """Raise ``TaskTimeoutError`` in the thread running the try; False while it runs.

        A try not started yet never starts (True). A running one stops at its next Python
        instruction, or when its call blocked in C returns; its outcome is still reported
        then, so that the engine knows when its thread and slots are free (False).
        """
        with self._lock:
            ident = self._running.pop(key, None)
            if ident is None:
                self._cancelled.add(key)  # still queued, or done: it will not start
                return True
            self._signalled.add(ident)
            _set_async_exc(ident, TaskTimeoutError)
            return False

    def shutdown(self) -> None:
        if self._pool is not None:
            # Tries abandoned after a timeout may still be blocked; do not wait for them.
            self._pool.shutdown()
            self._pool = None
            release_print_output()

    # in the pool's threads

    def _work(self, job: _Job, ident: int, report: ReportOutcome) -> None:
        """Run one try and report its outcome: exactly once, unless it was cancelled."""
        request, fn = job
        try:
            with self._lock:
                if request.key in self._cancelled:
                    self._cancelled.discard(request.key)
                    return
                self._running[request.key] = ident
            report(self._run(request, fn))
        except BaseException as exc:
            # A TaskTimeoutError landing while the outcome was reported (its result
            # being stored, say): report the end of the try all the same, so that the
            # engine learns its thread is free. A second report of a try is ignored.
            now = self._clock.now()
            with contextlib.suppress(BaseException):
                report(failed_outcome(request, describe(exc), now, now, None))
        # Forget the try: from then on no TaskTimeoutError is sent to this thread for
        # it, and one sent but not raised yet is dropped, so that it cannot hit the next
        # try. One raised meanwhile lands in this loop: forget again.
        while True:
            try:
                self._forget(request.key, ident)
                return
            except BaseException:
                continue

    def _run(self, request: TryRequest, fn: Callable[..., Any]) -> TryOutcome:
        try:
            return execute_try(request, fn, self._clock)
        except BaseException as exc:  # a KeyboardInterrupt raised by the task itself
            now = self._clock.now()
            return failed_outcome(request, describe(exc), now, now, None)

    def _forget(self, key: TryKey, ident: int) -> None:
        with self._lock:
            if self._running.get(key) == ident:
                del self._running[key]
            if ident in self._signalled:
                self._signalled.discard(ident)
                _set_async_exc(ident, None)
