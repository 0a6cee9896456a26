"""What a try may change in its worker process, and putting it back after the try.

A worker records its state once it is ready (:meth:`WorkerState.capture`) and, after
each try, compares it with the state then and restores what changed
(:meth:`WorkerState.restore`): resource limits, working folder, environment variables,
umask, ``sys.path``, ``sys.stdout``/``sys.stderr``, signal handlers, blocked signals,
interval timers. What cannot be put back (a hard limit lowered without the privilege to
raise it, a changed user or group) is returned as reasons, and the worker is replaced.

Each check is a system call or a comparison of small Python objects: a few tens of
microseconds per try in all. Not covered: modules imported or changed, threads a try left running,
open files, and ``os.putenv`` calls that bypass ``os.environ``.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module behind signal; no stub
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any


def _limits() -> dict[str, int]:
    """The resource limits by name, each once (RLIMIT_OFILE is RLIMIT_NOFILE)."""
    limits: dict[str, int] = {}
    for name in sorted(dir(resource)):
        if name.startswith("RLIMIT_") and getattr(resource, name) not in limits.values():
            limits[name] = getattr(resource, name)
    return limits


_LIMITS = _limits()


def _show(limits: tuple[int, int]) -> str:
    soft, hard = (
        "unlimited" if limit == resource.RLIM_INFINITY else str(limit) for limit in limits
    )
    return f"soft {soft}, hard {hard}"


# _signal's functions, not signal's: those convert what they return to enum members,
# ~30 times slower, and every handler and the signal mask are read after every try.
_SIGNALS = [
    int(signum)
    for signum in signal.Signals
    if signum not in (signal.SIGKILL, signal.SIGSTOP) and _signal.getsignal(signum) is not None
]
_TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)


def _environ() -> dict[Any, Any]:
    """A copy of the environment, cheap to compare: os.environ's own (encoded) dict."""
    data = vars(os.environ).get("_data")
    return dict(data) if isinstance(data, dict) else dict(os.environ)


def _ids() -> tuple[Any, ...]:
    return (os.getresuid(), os.getresgid(), sorted(os.getgroups()))


@dataclass(frozen=True, slots=True)
class WorkerState:
    """A worker process's state, as it was when it became ready for tries."""

    limits: dict[str, tuple[int, int]]
    cwd: str
    environ: dict[Any, Any]  # as _environ() returns it
    environ_text: dict[str, str]
    umask: int
    sys_path: list[str]
    streams: tuple[Any, Any]
    handlers: dict[int, Any]
    blocked: frozenset[int]
    ids: tuple[Any, ...]

    @classmethod
    def capture(cls) -> WorkerState:
        umask = os.umask(0)
        os.umask(umask)
        return cls(
            limits={name: resource.getrlimit(number) for name, number in _LIMITS.items()},
            cwd=os.getcwd(),
            environ=_environ(),
            environ_text=dict(os.environ),
            umask=umask,
            sys_path=list(sys.path),
            streams=(sys.stdout, sys.stderr),
            handlers={signum: _signal.getsignal(signum) for signum in _SIGNALS},
            blocked=frozenset(_signal.pthread_sigmask(signal.SIG_BLOCK, ())),
            ids=_ids(),
        )

    def restore(self) -> list[str]:
        """Put back what the last try changed; what cannot be put back, described.

        Returns:
            Why this process must not run another try, or an empty list.
        """
        problems: list[str] = []
        for step in (
            self._restore_limits,
            self._restore_cwd,
            self._restore_python,
            self._restore_signals,
            self._check_ids,
        ):
            try:
                problems += step()
            except Exception as exc:  # something this check did not foresee
                problems.append(f"{step.__name__.strip('_')} failed ({type(exc).__name__}: {exc})")
        return problems

    def _check_ids(self) -> list[str]:
        return [] if _ids() == self.ids else ["the process's user or groups changed"]

    def _restore_limits(self) -> list[str]:
        problems = []
        for name, number in _LIMITS.items():
            current = resource.getrlimit(number)
            if current == self.limits[name]:
                continue
            try:
                resource.setrlimit(number, self.limits[name])
            except (OSError, ValueError):  # a hard limit is raised only with a privilege
                problems.append(
                    f"{name} went from {_show(self.limits[name])} to {_show(current)}, "
                    "and a hard limit cannot be raised again without privileges"
                )
        return problems

    def _restore_cwd(self) -> list[str]:
        try:
            if os.getcwd() == self.cwd:
                return []
        except FileNotFoundError:  # the try removed the folder it moved to
            pass
        try:
            os.chdir(self.cwd)
        except OSError as exc:
            return [f"the working folder cannot be set back to {self.cwd!r} ({exc.strerror})"]
        return []

    def _restore_python(self) -> list[str]:
        os.umask(self.umask)  # one call reads it and sets it back
        if _environ() != self.environ:
            timezone = os.environ.get("TZ")
            os.environ.clear()
            os.environ.update(self.environ_text)
            if timezone != self.environ_text.get("TZ"):
                time.tzset()
        if sys.path != self.sys_path:
            sys.path[:] = self.sys_path
        sys.stdout, sys.stderr = self.streams
        return []

    def _restore_signals(self) -> list[str]:
        for signum, handler in self.handlers.items():
            if _signal.getsignal(signum) is not handler:
                signal.signal(signum, handler)
        for timer in _TIMERS:  # a timer left running would kill the worker later
            if signal.getitimer(timer) != (0.0, 0.0):
                signal.setitimer(timer, 0)
        if frozenset(_signal.pthread_sigmask(signal.SIG_BLOCK, ())) != self.blocked:
            _signal.pthread_sigmask(signal.SIG_SETMASK, self.blocked)
        return []
