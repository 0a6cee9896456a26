"""Run one try of a task function: build its Context, capture its log, catch its errors.

Shared by every executor, in the engine's process or in a worker process. Print output
and ``ctx.log`` go to the try's log (see ``try_log.py``).

Whatever fails around a try (its log cannot be written, its call cannot be prepared, it
raises any ``BaseException``), :func:`execute_try` returns an outcome for it; only a
``KeyboardInterrupt`` goes through, for the executor to report.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from headwater.authoring.context import Context
from headwater.clock import Clock
from headwater.errors import SensorTimeoutError, TryLogError
from headwater.executors import poking
from headwater.executors.base import TryOutcome, TryRequest
from headwater.executors.try_log import TryLog as TryLog  # the engine imports both from here
from headwater.executors.try_log import try_logger as try_logger

_current = threading.local()

# Routing print output to the try's log.


class _RoutedStream(io.TextIOBase):
    """Stands in for sys.stdout/stderr: a thread running a try writes to that try's log.

    Other threads write to ``fallback``, the stream it replaced, and see it as it is
    (``isatty``, ``fileno``).
    """

    def __init__(self, name: str, fallback: TextIO) -> None:
        self.name = name
        self.fallback = fallback

    def write(self, text: str) -> int:
        log: TryLog | None = getattr(_current, "log", None)
        if log is not None:
            return log.write(text)
        written: int = self.fallback.write(text)
        return written

    def flush(self) -> None:
        if getattr(_current, "log", None) is None:
            self.fallback.flush()

    def isatty(self) -> bool:
        if getattr(_current, "log", None) is not None:
            return False
        return bool(self.fallback.isatty())

    def fileno(self) -> int:
        if getattr(_current, "log", None) is not None:
            raise io.UnsupportedOperation("a try's print output has no file descriptor")
        return self.fallback.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it read-only
        return getattr(self.fallback, "encoding", "utf-8")


# Every _RoutedStream ever installed is kept here, never freed. The builtin print()
# holds a *borrowed* reference to sys.stdout while it writes (python/cpython#130163,
# still so in Python 3.11): freeing the stream that sys.stdout was while another thread
# is inside print() makes that thread use freed memory (a segfault). One routed stream
# per stream replaced: two in all, in a process where nothing else replaces them.
_kept_streams: list[_RoutedStream] = []
_routing_lock = threading.Lock()
_capture_count = 0  # executors that route print output (started, not shut down)
_tries_running = 0  # tries in this process whose print output goes to their log


def _route(*, again: bool = False) -> None:
    """Under the lock: make sys.stdout and sys.stderr routed streams.

    With ``again``, only a stream that a routed one replaced before is replaced (someone
    put it back meanwhile): not one that a task installed (``redirect_stdout``), which
    would be kept for ever.
    """
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if isinstance(current, _RoutedStream):
            continue
        for stream in _kept_streams:
            if stream.name == name and stream.fallback is current:
                break
        else:
            if again:
                continue
            stream = _RoutedStream(name, current)
            _kept_streams.append(stream)
        setattr(sys, name, stream)


def _unroute() -> None:
    """Under the lock: give back the streams that the routed ones replaced."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if isinstance(current, _RoutedStream):
            setattr(sys, name, current.fallback)


def capture_print_output() -> None:
    """Route ``print`` from tries into their logs (counted; pair with ``release``)."""
    global _capture_count
    with _routing_lock:
        _capture_count += 1
        _route()


def release_print_output() -> None:
    """Stop routing once no executor captures and no try runs (or when the last ends)."""
    global _capture_count
    with _routing_lock:
        _capture_count = max(0, _capture_count - 1)
        if _capture_count == 0 and _tries_running == 0:
            _unroute()


def _enter_try(log: TryLog) -> None:
    global _tries_running
    with _routing_lock:
        _tries_running += 1
        _route(again=True)  # if sys.stdout was put back since the executor started
    _current.log = log


def _leave_try() -> None:
    global _tries_running
    _current.log = None
    with _routing_lock:
        _tries_running -= 1
        if _capture_count == 0 and _tries_running == 0:
            _unroute()  # the executor stopped while this try still ran


# Running a try.


def build_context(request: TryRequest, logger: logging.Logger) -> Context:
    return Context(
        run_id=request.run_id,
        pipeline_id=request.pipeline.pipeline_id,
        task_id=request.task_id,
        map_index=request.map_index,
        try_number=request.try_number,
        logical_date=request.logical_date,
        data_interval_start=request.data_interval_start,
        data_interval_end=request.data_interval_end,
        params=request.params,
        log=logger,
        upstream_states=request.upstream_states,
        partition_key=request.partition_key,
        asset_info=request.asset_info,
    )


_OWN_FILES = frozenset({__file__, poking.__file__})


def user_traceback(exc: BaseException) -> str:
    """The traceback of a task's exception, without headwater's own frames at the top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def describe(exc: BaseException) -> str:
    """``ValueError: the message``, even for an exception whose ``str()`` fails."""
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's str() failed>"
    return f"{type(exc).__name__}: {message}"


def failed_outcome(
    request: TryRequest, error: str, started_at: datetime, ended_at: datetime, tb: str | None
) -> TryOutcome:
    return TryOutcome(
        key=request.key,
        ok=False,
        started_at=started_at,
        ended_at=ended_at,
        error=error,
        traceback=tb,
    )


def execute_try(request: TryRequest, fn: Callable[..., Any], clock: Clock) -> TryOutcome:
    """Call ``fn`` for one try and return its outcome, whatever fails.

    Raises:
        KeyboardInterrupt: only that, raised by the task or received while it ran.
    """
    started_at = clock.now()
    log = TryLog(request.log_path)
    try:
        return _call(request, fn, clock, log, started_at)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # around the task: preparing its call, our own code
        text = "".join(traceback.format_exception(exc))
        error = f"cannot run the try: {describe(exc)}"
        with contextlib.suppress(TryLogError):  # the traceback is in the outcome anyway
            log.write(text)
        return failed_outcome(request, error, started_at, clock.now(), text)
    finally:
        log.close()


def _call(
    request: TryRequest, fn: Callable[..., Any], clock: Clock, log: TryLog, started_at: datetime
) -> TryOutcome:
    logger = try_logger(f"headwater.task.{request.task_id}", log)
    kwargs = dict(request.kwargs)
    if request.context_parameters:
        context = build_context(request, logger)
        for name in request.context_parameters:
            kwargs[name] = context
    met = True
    _enter_try(log)
    try:
        if request.sensor is None:
            value = fn(*request.args, **kwargs)
        else:
            value, met = poking.run_sensor(
                lambda: fn(*request.args, **kwargs),
                request.sensor,
                clock,
                logger,
                request.task_id,
            )
    except BaseException as exc:  # the task's error, whatever it is, fails only this try
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _task_failed(request, exc, log, started_at, clock.now())
    finally:
        _leave_try()
    ended_at = clock.now()
    if log.error is not None:  # the task returned, but some of its output was lost
        return failed_outcome(request, f"TryLogError: {log.error}", started_at, ended_at, None)
    if not met:
        return TryOutcome(
            key=request.key, ok=True, started_at=started_at, ended_at=ended_at, not_met=True
        )
    return TryOutcome(
        key=request.key, ok=True, started_at=started_at, ended_at=ended_at, value=value
    )


def _task_failed(
    request: TryRequest, exc: BaseException, log: TryLog, started_at: datetime, ended_at: datetime
) -> TryOutcome:
    """The outcome of a try whose task raised ``exc``; its traceback goes to the log."""
    error = describe(exc)
    sensor_timeout = isinstance(exc, SensorTimeoutError) and request.sensor is not None
    # a sensor's timeout is headwater's verdict, not a bug: its message, no traceback
    text = error + "\n" if sensor_timeout else user_traceback(exc)
    try:
        log.write(text)
    except TryLogError as log_error:  # the task's own error stays the try's error
        if not isinstance(exc, TryLogError):
            text += f"({log_error})\n"
    return TryOutcome(
        key=request.key,
        ok=False,
        started_at=started_at,
        ended_at=ended_at,
        error=error,
        traceback=None if sensor_timeout else text,
        sensor_timeout=sensor_timeout,
    )
