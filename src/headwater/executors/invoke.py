"""Run one try of a task function: build its Context, capture its log, catch its errors.

Shared by every executor, in the engine's process or in a worker process. The try's
log file is created on the first line written, so a silent task touches no disk.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from headwater.authoring.context import Context
from headwater.errors import SensorTimeoutError
from headwater.executors import poking
from headwater.executors.base import TryOutcome, TryRequest
from headwater.scheduling.clock import Clock

_LOG_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
_current = threading.local()


class TryLog(io.TextIOBase):
    """The log file of one try, opened (and its folder made) on the first write."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if self._file is None:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._file.write(text)
            self._file.flush()
        return len(text)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class _LogHandler(logging.Handler):
    def __init__(self, log: TryLog) -> None:
        super().__init__()
        self.log = log
        self.setFormatter(_LOG_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.write(self.format(record) + "\n")
        except Exception:  # a log write never fails the try
            self.handleError(record)


def try_logger(name: str, log: TryLog) -> logging.Logger:
    """A logger writing only to ``log``. Not registered globally, so it is freed after."""
    logger = logging.Logger(name, logging.DEBUG)
    logger.addHandler(_LogHandler(log))
    logger.propagate = False
    return logger


class _RoutedStream(io.TextIOBase):
    """Stands in for sys.stdout/stderr: a thread running a try writes to that try's log."""

    def __init__(self, fallback: TextIO) -> None:
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
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it read-only
        return getattr(self.fallback, "encoding", "utf-8")


_install_lock = threading.Lock()
_install_count = 0


def capture_print_output() -> None:
    """Route ``print`` from tries into their logs (counted; pair with ``release``)."""
    global _install_count
    with _install_lock:
        if _install_count == 0:
            sys.stdout = _RoutedStream(sys.stdout)
            sys.stderr = _RoutedStream(sys.stderr)
        _install_count += 1


def release_print_output() -> None:
    global _install_count
    with _install_lock:
        _install_count -= 1
        if _install_count == 0:
            for name in ("stdout", "stderr"):
                stream = getattr(sys, name)
                if isinstance(stream, _RoutedStream):
                    setattr(sys, name, stream.fallback)


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
    )


_OWN_FILES = frozenset({__file__, poking.__file__})


def user_traceback(exc: BaseException) -> str:
    """The traceback of a task's exception, without headwater's own frames at the top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def execute_try(request: TryRequest, fn: Callable[..., Any], clock: Clock) -> TryOutcome:
    """Call ``fn`` for one try and return its outcome; never raises for the task's errors."""
    log = TryLog(request.log_path)
    logger = try_logger(f"headwater.task.{request.task_id}", log)
    kwargs = dict(request.kwargs)
    if request.context_parameters:
        context = build_context(request, logger)
        for name in request.context_parameters:
            kwargs[name] = context
    started_at = clock.now()
    _current.log = log
    met = True
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
        error = f"{type(exc).__name__}: {exc}"
        sensor_timeout = isinstance(exc, SensorTimeoutError) and request.sensor is not None
        # a sensor's timeout is headwater's verdict, not a bug: its message, no traceback
        text = error + "\n" if sensor_timeout else user_traceback(exc)
        log.write(text)
        return TryOutcome(
            key=request.key,
            ok=False,
            started_at=started_at,
            ended_at=clock.now(),
            error=error,
            traceback=None if sensor_timeout else text,
            sensor_timeout=sensor_timeout,
        )
    finally:
        _current.log = None
        log.close()
    if not met:
        return TryOutcome(
            key=request.key, ok=True, started_at=started_at, ended_at=clock.now(), not_met=True
        )
    return TryOutcome(
        key=request.key, ok=True, started_at=started_at, ended_at=clock.now(), value=value
    )
