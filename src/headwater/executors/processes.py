"""ProcessExecutor: tries run in a pool of worker processes.

Each worker takes one try at a time over a pipe. A worker that dies (segfault,
``os._exit``, the OOM killer) fails only the try it was running, and a new worker takes
its place. A try that exceeds its timeout has its worker killed. Workers are started
with ``spawn``, so they import the pipeline's module (or file) themselves: a pipeline
started from a script must keep its ``.test()`` call under ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from headwater.executors.base import Executor, ReportOutcome, TryKey, TryOutcome, TryRequest
from headwater.executors.invoke import TryLog
from headwater.executors.worker import worker_main
from headwater.scheduling.clock import Clock, SystemClock


def default_process_count() -> int:
    return os.cpu_count() or 1


def describe_exit(code: int | None) -> str:
    """``exit code 3`` or ``killed by signal SIGSEGV``."""
    if code is None:
        return "an unknown cause"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class _Worker:
    def __init__(self, context: Any) -> None:
        self.connection, child = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=worker_main, args=(child,), daemon=True, name="headwater-worker"
        )
        self.process.start()
        child.close()
        self.key: TryKey | None = None
        self.request: TryRequest | None = None


class ProcessExecutor(Executor):
    """Runs tries in worker processes (default: one per CPU)."""

    name = "process"

    def __init__(self, max_concurrency: int | None = None, clock: Clock | None = None) -> None:
        self.max_concurrency = max_concurrency or default_process_count()
        self._clock = clock or SystemClock()
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._pending: deque[TryRequest] = deque()
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = -1, -1  # a pipe from start() to shutdown()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._report: ReportOutcome | None = None

    def start(self, report: ReportOutcome) -> None:
        self._report = report
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe()
        self._workers = [_Worker(self._context) for _ in range(self.max_concurrency)]
        self._thread = threading.Thread(
            target=self._dispatch_loop, name="headwater-process-dispatch", daemon=True
        )
        self._thread.start()

    def submit(self, request: TryRequest, fn: Callable[..., Any]) -> None:
        with self._lock:
            self._pending.append(request)
        os.write(self._wake_write, b"x")

    def cancel(self, key: TryKey) -> None:
        with self._lock:
            for worker in self._workers:
                if worker.key == key:
                    worker.key = None  # its death is expected: report nothing for it
                    worker.process.kill()
                    return
            self._pending = deque(r for r in self._pending if r.key != key)

    def shutdown(self) -> None:
        if self._thread is None:
            return
        self._stopping = True
        os.write(self._wake_write, b"x")
        self._thread.join()
        self._thread = None
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.connection.send(None)
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self._workers = []
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._hand_out()
            waitables: list[Any] = [self._wake_read]
            with self._lock:
                workers = list(self._workers)
            for worker in workers:
                waitables.append(worker.connection)
                waitables.append(worker.process.sentinel)
            for ready in wait(waitables):
                if ready == self._wake_read:
                    os.read(self._wake_read, 4096)
                    continue
                for worker in workers:
                    if ready is worker.connection:
                        self._receive(worker)
                    elif ready == worker.process.sentinel:
                        self._replace_dead(worker)

    def _hand_out(self) -> None:
        with self._lock:
            for worker in self._workers:
                if not self._pending:
                    return
                if worker.request is None and worker.process.is_alive():
                    request = self._pending.popleft()
                    worker.key, worker.request = request.key, request
                    try:
                        worker.connection.send(request)
                    except Exception as exc:  # the request holds something unpicklable
                        worker.key = worker.request = None
                        self._emit_failure(request, f"{type(exc).__name__}: {exc}", exc)

    def _receive(self, worker: _Worker) -> None:
        try:
            outcome: TryOutcome = worker.connection.recv()
        except (EOFError, OSError):
            return  # the worker died; its sentinel reports it
        with self._lock:
            expected = worker.key
            worker.key = worker.request = None
        if expected is not None and self._report is not None:
            self._report(outcome)
        os.write(self._wake_write, b"x")

    def _replace_dead(self, worker: _Worker) -> None:
        worker.process.join()
        with self._lock:
            if worker not in self._workers:
                return
            key, request = worker.key, worker.request
            self._workers.remove(worker)
            worker.connection.close()
            if not self._stopping:
                self._workers.append(_Worker(self._context))
        if key is not None and request is not None:
            cause = describe_exit(worker.process.exitcode)
            TryLog(request.log_path).write(f"the worker process died ({cause})\n")
            self._emit_failure(
                request,
                f"WorkerCrashedError: the worker process running this try died ({cause})",
                None,
            )

    def _emit_failure(self, request: TryRequest, error: str, exc: BaseException | None) -> None:
        now = self._clock.now()
        if self._report is not None:
            self._report(
                TryOutcome(key=request.key, ok=False, started_at=now, ended_at=now, error=error)
            )
