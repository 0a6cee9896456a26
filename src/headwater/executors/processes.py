"""ProcessExecutor: tries run in a pool of worker processes.

Each worker is a new Python interpreter (``sys.executable``, started with ``subprocess``,
not ``multiprocessing``) joined to the engine's process by a socket pair, and runs one
try at a time (see ``worker.py``). A worker imports what its tries need, with the
engine's ``sys.path``: the pipeline's module, or its file. It imports the engine's
``__main__`` script only when a try needs it (a pipeline defined in the script, or a
value of a class defined there), as ``__mp_main__`` like multiprocessing's ``spawn``,
so a script that runs its pipeline with this executor must keep that call under
``if __name__ == "__main__":``. Otherwise the worker importing the script would start
workers of its own; instead it refuses (``ExecutorError``) and the try fails saying so.

A worker that dies (segfault, ``os._exit``, the OOM killer) fails only the try it was
running, and a new worker takes its place; a worker dying before it is ready fails its
try too, and after 3 in a row the executor stops starting new ones. A try that exceeds
its timeout has its worker killed. Workers exit when their socket closes, and on Linux
the kernel kills them when the thread that started them ends: ``start()``'s caller (the
engine's thread) or the dispatch thread, which both outlive them unless the engine's
process dies. POSIX only (the socket is passed with ``pass_fds``).

Threads: ``submit`` sends a request straight to an idle worker from the engine's thread,
or queues it when all are busy. One dispatch thread waits on the workers' sockets: it
reports each outcome, hands the worker that sent it the next queued request, and
replaces a worker whose socket reached its end (the worker died). ``shutdown`` tells the
workers to exit and waits until the dispatch thread has reaped them all.
"""

from __future__ import annotations

import logging
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import headwater
from headwater.clock import Clock, SystemClock
from headwater.config import without_secrets
from headwater.errors import ExecutorError
from headwater.executors import worker as worker_module
from headwater.executors.base import Executor, ReportOutcome, TryKey, TryOutcome, TryRequest
from headwater.executors.channel import Channel, dumps
from headwater.executors.try_log import append_to_log
from headwater.executors.worker import BOOTSTRAP, Retiring, WorkerSetup

# The folder holding the headwater package, for workers whose default sys.path lacks it.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(headwater.__file__)))
_SHUTDOWN_GRACE = 2.0  # seconds for idle workers to exit after being told to
_BOOT_FAILURES_TOLERATED = 3  # workers in a row dying before they are ready: give up

logger = logging.getLogger("headwater.executors")


def default_process_count() -> int:
    return os.cpu_count() or 1


def describe_exit(code: int | None) -> str:
    """``exit code 3`` or ``signal SIGSEGV``."""
    if code is None:
        return "an unknown cause"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _interpreter_flags() -> list[str]:
    """The engine's interpreter options (``-X dev``, ``-W error``, ``-O``…), for workers."""
    flags: Callable[[], list[str]] | None = getattr(
        subprocess, "_args_from_interpreter_flags", None
    )
    return list(flags()) if flags is not None else []


def _reap(process: subprocess.Popen[bytes]) -> int:
    """Reap a worker whose socket reached its end.

    A worker never closes its socket: the kernel does, as the process exits, so this wait
    is short. If a task closed it, the worker can no longer be reached: kill it (a no-op
    for a process already exiting, whose exit status stays as it was).
    """
    if process.poll() is None:
        process.kill()
    return process.wait()


class _Worker:
    """One worker process, the engine's end of its socket, and the try it runs."""

    def __init__(self, command: list[str], setup: bytes) -> None:
        parent_end, child_end = socket.socketpair()
        try:
            fd = child_end.fileno()
            self.process = subprocess.Popen(
                [*command, str(fd), str(os.getpid()), _PACKAGE_ROOT],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                env=without_secrets(os.environ),  # tries get no store credentials
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self.channel = Channel(parent_end)
        self.send_lock = threading.Lock()  # one sender at a time; closing waits for it
        self.key: TryKey | None = None  # the try it runs; None when idle or cancelled
        self.request: TryRequest | None = None
        self.ready = False  # it has imported headwater and said so
        self.killed = False  # its try was cancelled: it is never given another one
        self.retiring = False  # it exits after its try: it is never given another one
        self.dead = False  # its socket reached its end: it is being reaped
        self.closed = False  # its socket is closed
        self.send(setup)

    def send(self, data: bytes) -> bool:
        """Send one message; False when the socket is closed or broken."""
        with self.send_lock:
            if self.closed:
                return False
            try:
                self.channel.send_bytes(data)
            except OSError:
                return False
            return True

    def close(self) -> None:
        with self.send_lock:
            self.closed = True
            self.channel.close()


class ProcessExecutor(Executor):
    """Runs tries in worker processes (default: one per CPU)."""

    name = "process"

    def __init__(self, max_concurrency: int | None = None, clock: Clock | None = None) -> None:
        self.max_concurrency = max_concurrency or default_process_count()
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()  # guards the workers' state, _idle and _pending
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []  # a stack: the worker that finished last goes next
        self._pending: deque[tuple[TryRequest, bytes]] = deque()
        self._command: list[str] = []
        self._setup = b""
        self._boot_failures = 0  # workers in a row that died before they were ready
        self._broken: str | None = None  # why workers are no longer replaced
        self._selector: selectors.BaseSelector | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._stopping = False
        self._all_gone = threading.Event()  # set when stopping and every worker is reaped
        self._thread: threading.Thread | None = None
        self._report: ReportOutcome | None = None

    def start(self, report: ReportOutcome) -> None:
        if worker_module.in_worker:
            raise ExecutorError(
                "a process executor cannot start inside one of its worker processes; "
                "a script or pipeline file that runs a pipeline when it is imported must "
                'keep that call under `if __name__ == "__main__":`'
            )
        main = sys.modules.get("__main__")
        if main is not None:
            # What workers pickle from their __mp_main__ unpickles here (as multiprocessing
            # arranges when it is imported).
            sys.modules.setdefault("__mp_main__", main)
        self._report = report
        self._stopping = False
        self._all_gone.clear()
        self._boot_failures = 0
        self._broken = None
        self._command = [sys.executable, *_interpreter_flags(), "-P", "-c", BOOTSTRAP]
        self._setup = dumps(WorkerSetup.of_this_process())
        workers: list[_Worker] = []
        try:
            for _ in range(self.max_concurrency):  # all at once: they start in parallel
                workers.append(_Worker(self._command, self._setup))
        except BaseException:
            for worker in workers:
                worker.process.kill()
                worker.process.wait()
                worker.close()
            raise
        self._workers = workers
        self._idle = workers[::-1]  # the first started is the first given a try
        self._selector = selectors.DefaultSelector()
        self._wake = socket.socketpair()
        self._selector.register(self._wake[0], selectors.EVENT_READ, None)
        for worker in workers:
            self._selector.register(worker.channel.sock, selectors.EVENT_READ, worker)
        self._thread = threading.Thread(
            target=self._dispatch_loop, name="headwater-process-dispatch", daemon=True
        )
        self._thread.start()

    def submit(self, request: TryRequest, fn: Callable[..., Any]) -> None:
        try:
            data = dumps(request)
        except Exception as exc:  # the request holds something unpicklable
            self._emit_failure(
                request,
                f"the arguments of task {request.task_id!r} cannot be sent to a worker "
                f"process: {type(exc).__name__}: {exc}",
            )
            return
        with self._lock:
            broken = self._broken if not self._workers else None
            worker = self._take_idle()
            if worker is not None:
                worker.key, worker.request = request.key, request
            elif broken is None:
                self._pending.append((request, data))
        if broken is not None:
            self._emit_failure(request, f"ExecutorError: no worker process left: {broken}")
        elif worker is not None:
            self._send(worker, data)

    def cancel(self, key: TryKey) -> bool:
        """Kill the worker running the try (a queued try is dropped); always True."""
        with self._lock:
            for worker in self._workers:
                if worker.key == key:
                    worker.key = worker.request = None  # its death is expected: no report
                    worker.killed = True
                    if not worker.dead:
                        worker.process.kill()
                    return True
            self._pending = deque(item for item in self._pending if item[0].key != key)
            return True

    def shutdown(self) -> None:
        if self._thread is None:
            return
        assert self._wake is not None
        assert self._selector is not None
        with self._lock:
            self._stopping = True  # from now on nothing is reported and no worker replaced
            self._pending.clear()
            workers = list(self._workers)
            if not workers:
                self._all_gone.set()
        stop = dumps(None)
        for worker in workers:
            worker.send(stop)
        # The dispatch thread reaps each worker as its socket closes. Workers end before
        # the dispatch thread does: on Linux a worker dies with the thread that started it.
        if not self._all_gone.wait(_SHUTDOWN_GRACE):
            with self._lock:
                for worker in self._workers:
                    if not worker.dead:
                        worker.process.kill()
            self._all_gone.wait()
        self._wake[1].send(b"x")
        self._thread.join()
        self._thread = None
        self._idle = []
        self._selector.close()
        self._selector = None
        for end in self._wake:
            end.close()
        self._wake = None

    # handing tries over

    def _take_idle(self) -> _Worker | None:
        """Under the lock: the idle worker that finished last, preferring a ready one."""
        for index in range(len(self._idle) - 1, -1, -1):
            if self._idle[index].ready:
                return self._idle.pop(index)
        return self._idle.pop() if self._idle else None

    def _next_try(self, worker: _Worker) -> bytes | None:
        """Under the lock: give ``worker`` the next queued request, or mark it idle."""
        if self._pending:
            request, data = self._pending.popleft()
            worker.key, worker.request = request.key, request
            return data
        self._idle.append(worker)
        return None

    def _send(self, worker: _Worker, data: bytes) -> None:
        if not worker.send(data):
            # Dead, or its socket broke: make sure it is dead. The dispatch thread sees
            # its socket end and reports the try as crashed.
            with self._lock:
                if not worker.dead:
                    worker.process.kill()

    def _emit_failure(self, request: TryRequest, error: str) -> None:
        self._deliver(self._failure(request, error))

    def _deliver(self, outcome: TryOutcome) -> None:
        if self._report is None:
            return
        try:
            self._report(outcome)
        except Exception:  # the engine's error: it must not stop the dispatch thread
            logger.exception("reporting the outcome of try %r failed", outcome.key)

    def _failure(self, request: TryRequest, error: str) -> TryOutcome:
        now = self._clock.now()
        return TryOutcome(key=request.key, ok=False, started_at=now, ended_at=now, error=error)

    # the dispatch thread

    def _dispatch_loop(self) -> None:
        selector = self._selector
        assert selector is not None
        while True:
            for selector_key, _ in selector.select():
                worker: _Worker | None = selector_key.data
                if worker is None:  # woken by shutdown()
                    return
                try:
                    self._on_readable(worker)
                except Exception:  # a bug here must not leave tries unreported
                    logger.exception("the process executor failed to handle a worker")
                    self._abandon(worker)

    def _abandon(self, worker: _Worker) -> None:
        """After an unexpected error handling ``worker``: kill it, so that the end of its
        socket fails its try, or fail its try here if it is reaped already."""
        crashed = None
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
            if not worker.dead:
                worker.killed = True  # given no other try
                worker.process.kill()
            elif worker.key is not None:
                crashed = worker.request
                worker.key = worker.request = None
        if crashed is not None and not self._stopping:
            self._emit_failure(crashed, "ExecutorError: the process executor lost this try")

    def _on_readable(self, worker: _Worker) -> None:
        try:
            data = worker.channel.recv_bytes()
        except (EOFError, OSError):
            self._on_exit(worker)
            return
        if not worker.ready:  # its first message: it is ready
            with self._lock:
                worker.ready = True
                self._boot_failures = 0
            return
        request = worker.request  # confirmed under the lock below: cancel() may clear it
        outcome = None if request is None else self._decode(data, request)
        if isinstance(outcome, Retiring):  # its outcome comes next, then it exits
            with self._lock:
                worker.retiring = True
            if request is not None:
                append_to_log(
                    request.log_path, f"this worker process is replaced: {outcome.reason}\n"
                )
            return
        with self._lock:
            current = worker.key
            worker.key = worker.request = None
            next_data = None
            if current is not None and not worker.killed and not worker.retiring:
                next_data = self._next_try(worker)
            report = current is not None and not self._stopping
        if next_data is not None:
            self._send(worker, next_data)
        if report and outcome is not None:
            self._deliver(outcome)

    def _decode(self, data: bytearray, request: TryRequest) -> TryOutcome | Retiring:
        try:
            message: TryOutcome | Retiring | str = pickle.loads(data)
        except BaseException as exc:  # what a worker sends must not stop this thread
            return self._failure(
                request,
                f"the result of task {request.task_id!r} cannot be read back from the "
                f"worker process: {type(exc).__name__}: {exc}",
            )
        if isinstance(message, str):  # the worker could not unpickle the request
            return self._failure(request, message)
        return message

    def _on_exit(self, worker: _Worker) -> None:
        """``worker``'s socket reached its end: reap it, replace it, fail its try."""
        assert self._selector is not None
        with self._lock:
            worker.dead = True
            if worker in self._idle:
                self._idle.remove(worker)  # not given a try any more
        self._selector.unregister(worker.channel.sock)
        cause = describe_exit(_reap(worker.process))
        worker.close()
        replacement = None
        if not self._stopping:
            replacement = self._replace(worker, cause)
        crashed: TryRequest | None = None
        orphans: list[TryRequest] = []
        next_data = None
        with self._lock:
            if worker.key is not None and not self._stopping:
                crashed = worker.request
            worker.key = worker.request = None
            self._workers.remove(worker)
            if replacement is not None:
                self._workers.append(replacement)
                # if shutdown() began while it started, stop it too
                next_data = dumps(None) if self._stopping else self._next_try(replacement)
            elif not self._workers:
                orphans = [request for request, _ in self._pending]
                self._pending.clear()
                if self._stopping:
                    self._all_gone.set()
        if replacement is not None:
            self._selector.register(replacement.channel.sock, selectors.EVENT_READ, replacement)
            if next_data is not None:
                self._send(replacement, next_data)
        if crashed is not None:
            if worker.ready:
                log = f"the worker process died ({cause})"
                error = f"the worker process running this try died ({cause})"
            else:
                log = error = f"the worker process died as it started ({cause}; see its stderr)"
            append_to_log(crashed.log_path, f"{log}\n")  # reported even if it cannot be
            self._emit_failure(crashed, f"WorkerCrashedError: {error}")
        for request in orphans:
            self._emit_failure(request, f"ExecutorError: no worker process left: {self._broken}")

    def _replace(self, dead: _Worker, cause: str) -> _Worker | None:
        """A new worker for ``dead``; None when workers keep dying as they start."""
        if not dead.ready:
            self._boot_failures += 1
            if self._boot_failures >= _BOOT_FAILURES_TOLERATED:
                self._broken = (
                    f"{self._boot_failures} worker processes in a row died as they started "
                    f"(the last: {cause}; see their stderr)"
                )
                return None
        try:
            return _Worker(self._command, self._setup)
        except Exception as exc:  # e.g. out of memory or of file descriptors
            self._broken = f"cannot start a worker process: {type(exc).__name__}: {exc}"
            return None
