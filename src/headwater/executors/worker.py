"""A worker process of the ProcessExecutor: runs the tries it is sent, one at a time.

The executor starts each worker as ``python -P -c BOOTSTRAP FD PARENT_PID ROOT``, where
FD is the worker's end of a socket pair (see ``channel.py``). The engine's process sends
a :class:`WorkerSetup`, then any number of :class:`TryRequest`, then ``None`` (exit). The
worker answers the setup with ``None`` (ready), and each request with exactly one
:class:`TryOutcome`, or with an error text when the request cannot be unpickled here,
whatever the try raised. After each try it puts back what the try changed in the
process (see ``worker_state.py``); when it cannot, it sends :class:`Retiring` before the
outcome and exits after it, so that a fresh worker runs the next try. It also exits
when the socket closes, and on Linux the kernel kills it when the thread that started it
ends (so when the engine's process dies).

Imports stay light here: a worker loads the pipeline's module and the task-running code,
never the store, the CLI, or the engine's ``__main__`` script unless a try needs it.
"""

from __future__ import annotations

import gc
import os
import pickle
import runpy
import signal
import socket
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headwater.clock import SystemClock
from headwater.executors.base import TryOutcome, TryRequest
from headwater.executors.channel import Channel, dumps
from headwater.executors.invoke import (
    capture_print_output,
    describe,
    execute_try,
    failed_outcome,
)
from headwater.executors.worker_state import WorkerState
from headwater.graph.plan import PipelineRef
from headwater.loader import resolve_pipeline

BOOTSTRAP = (
    "import sys; sys.path.append(sys.argv[3]); from headwater.executors.worker import main; main()"
)
"""The ``-c`` program of a worker. ROOT (the folder holding the ``headwater`` package in
the engine's process) is appended so that headwater is found even when the engine's
process put it on ``sys.path`` itself; the engine's ``sys.path`` replaces it all next."""

in_worker = False
"""True in a worker process, where no process executor may start (see ``processes``)."""


@dataclass(frozen=True, slots=True)
class Retiring:
    """Sent before a try's outcome: this worker exits after it, and why."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSetup:
    """The first message to a worker: what it needs to import like the engine's process.

    ``main_name`` (run as ``python -m``) or ``main_path`` (run as a script) say how to
    import the engine's ``__main__`` module again, as ``__mp_main__`` like
    multiprocessing's ``spawn`` does; it is imported only when a try needs it.
    """

    sys_path: list[str]
    argv: list[str]
    main_name: str | None = None
    main_path: str | None = None

    @classmethod
    def of_this_process(cls) -> WorkerSetup:
        main = sys.modules.get("__main__")
        spec_name: str | None = getattr(getattr(main, "__spec__", None), "name", None)
        main_name = main_path = None
        if spec_name is not None:
            if spec_name != "__main__" and not spec_name.endswith(".__main__"):
                main_name = spec_name
        else:
            path = getattr(main, "__file__", None)
            if isinstance(path, str) and os.path.isfile(path):  # not "<stdin>"
                main_path = os.path.abspath(path)
        return cls(
            sys_path=list(sys.path), argv=list(sys.argv), main_name=main_name, main_path=main_path
        )


# The engine's __main__ module, imported on first use.

_setup: WorkerSetup | None = None
_loading_main = False


class _LazyMain(types.ModuleType):
    """Stands in for ``__main__`` and ``__mp_main__`` until a try needs them.

    Unpickling ``__main__.Point`` (or ``__mp_main__.Point``) looks the name up here,
    which imports the engine's main module then; dunder names never trigger it.
    """

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__")) or _loading_main:
            raise AttributeError(name)
        return getattr(load_main(), name)


def load_main() -> types.ModuleType:
    """The engine's ``__main__`` module, imported here as ``__mp_main__`` if need be.

    Raises:
        ImportError: the engine's ``__main__`` has no file (an interactive session).
        Exception: whatever importing the module raised.
    """
    global _loading_main
    current = sys.modules["__main__"]
    if not isinstance(current, _LazyMain):
        return current
    setup = _setup
    if setup is None or (setup.main_name is None and setup.main_path is None):
        raise ImportError(
            "the engine's __main__ module has no file (an interactive session?), so "
            "worker processes cannot import what it defines; define pipelines and the "
            "values their tasks exchange in a module or a file"
        )
    _loading_main = True
    try:
        if setup.main_name is not None:
            content = runpy.run_module(setup.main_name, run_name="__mp_main__", alter_sys=True)
        else:
            assert setup.main_path is not None
            content = runpy.run_path(setup.main_path, run_name="__mp_main__")
    finally:
        _loading_main = False
    module = types.ModuleType("__mp_main__")
    module.__dict__.update(content)
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module
    return module


def _install_lazy_main(setup: WorkerSetup) -> None:
    global _setup
    _setup = setup
    placeholder = _LazyMain("__mp_main__")
    if setup.main_path is not None:
        placeholder.__file__ = setup.main_path
    sys.modules["__main__"] = sys.modules["__mp_main__"] = placeholder


# Running tries.


def _find_function(
    cache: dict[tuple[str, str], Any], ref: PipelineRef, task_id: str
) -> Callable[..., Any]:
    fn: Callable[..., Any] = _find_pipeline(cache, ref).plan.node(task_id).fn
    return fn


def _find_pipeline(cache: dict[tuple[str, str], Any], ref: PipelineRef) -> Any:
    key = (ref.module_name, ref.pipeline_id)
    if key not in cache:
        if ref.module_name == "__main__":
            load_main()
        cache[key] = resolve_pipeline(ref)
    return cache[key]


def _load(
    request: TryRequest, cache: dict[tuple[str, str], Any], clock: SystemClock
) -> Callable[..., Any] | TryOutcome:
    """The task's function, or the outcome of a try that cannot find it. Never raises."""
    if request.function is not None:
        return request.function
    try:
        return _find_function(cache, request.pipeline, request.task_id)
    except BaseException as exc:  # whatever importing the pipeline raised
        now = clock.now()
        error = f"cannot load task {request.task_id!r} in the worker: {describe(exc)}"
        return failed_outcome(request, error, now, now, None)


def _run(request: TryRequest, fn: Callable[..., Any], clock: SystemClock) -> bytes:
    """Run one try; its outcome, pickled. Never raises."""
    try:
        outcome = execute_try(request, fn, clock)
    except BaseException as exc:  # a KeyboardInterrupt raised by the task itself
        now = clock.now()
        outcome = failed_outcome(request, describe(exc), now, now, None)
    return _pickled(request, outcome)


def _pickled(request: TryRequest, outcome: TryOutcome) -> bytes:
    try:
        return dumps(outcome)
    except BaseException as exc:  # the result does not pickle
        return dumps(
            failed_outcome(
                request,
                f"the result of task {request.task_id!r} cannot be sent back "
                f"from the worker process: {describe(exc)}",
                outcome.started_at,
                outcome.ended_at,
                None,
            )
        )


def serve(channel: Channel) -> None:
    """Run tries sent over ``channel`` until it sends None or closes, or until a try
    changed this process in a way that cannot be put back."""
    clock = SystemClock()
    cache: dict[tuple[str, str], Any] = {}
    capture_print_output()
    state = WorkerState.capture()
    modules = len(sys.modules)
    while True:
        try:
            data = channel.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            request: TryRequest | None = pickle.loads(data)
        except BaseException as exc:  # e.g. an argument whose class cannot be imported here
            reply = f"the try cannot be read in the worker process: {describe(exc)}"
            if not _send(channel, dumps(reply)):
                return
            continue
        if request is None:
            # Exit sooner: the collections of interpreter shutdown skip what is alive
            # now (~10 ms down to ~4 ms). Objects freed by reference counting are still
            # finalized, atexit handlers still run.
            gc.freeze()
            return
        found = _load(request, cache, clock)
        if len(sys.modules) != modules:
            # What importing the pipeline (or the engine's __main__) set up, such as its
            # folder on sys.path, stays for all the tries after, as in the engine.
            state = WorkerState.capture()
        if isinstance(found, TryOutcome):
            outcome = _pickled(request, found)
        else:
            outcome = _run(request, found, clock)
        problems = state.restore()
        modules = len(sys.modules)
        if problems:
            reason = "this try changed what cannot be put back: " + "; ".join(problems)
            _send(channel, dumps(Retiring(reason)))
            _send(channel, outcome)
            return
        if not _send(channel, outcome):
            return


def _send(channel: Channel, data: bytes) -> bool:
    try:
        channel.send_bytes(data)
    except OSError:  # the engine's end is gone: nobody to answer
        return False
    return True


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the thread that started it ends (Linux),
    or exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


def main() -> None:
    """The entry point of a worker process (see ``BOOTSTRAP``)."""
    global in_worker
    in_worker = True
    fd, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)
    channel = Channel(sock)
    # A process forked by a task must not keep the socket open: its end is how the
    # engine's process learns that this worker died.
    os.register_at_fork(after_in_child=channel.close)
    try:
        try:
            setup: WorkerSetup = channel.recv()
        except (EOFError, OSError):
            return
        sys.path[:] = setup.sys_path
        sys.argv[:] = setup.argv
        _install_lazy_main(setup)
        channel.send(None)  # ready
        serve(channel)
    finally:
        # Left open until the process ends, so the engine sees the socket close only once
        # this process is exiting (and kills a worker whose socket closed while alive).
        sock.detach()
