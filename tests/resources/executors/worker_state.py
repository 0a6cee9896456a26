"""Tasks that change their worker process (limits, folder, environment, signals...)."""

import os
import resource
import signal
import sys
from typing import Any

from headwater import pipeline, task


def _ignore(signum: int, frame: Any) -> None:
    return None


CHANGES = {
    "open files, soft limit": lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    ),
    "open files, hard limit": lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
    "address space": lambda: resource.setrlimit(
        resource.RLIMIT_AS, (2**34, resource.getrlimit(resource.RLIMIT_AS)[1])
    ),
    "working folder": lambda: os.chdir("/"),
    "environment": lambda: os.environ.update(HEADWATER_TEST_CHANGED="yes"),
    "umask": lambda: os.umask(0o077 if os.umask(0o022) != 0o077 else 0o022),
    "sys.path": lambda: sys.path.insert(0, "/nowhere"),
    "signal handler": lambda: signal.signal(signal.SIGTERM, _ignore),
    "ignored signal": lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    "blocked signal": lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1}),
    "pending alarm": lambda: signal.setitimer(signal.ITIMER_REAL, 30),
    "sys.stdout": lambda: setattr(sys, "stdout", open(os.devnull, "w")),  # noqa: SIM115
}


@task
def change(what: str) -> str:
    CHANGES[what]()
    return what


@task
def change_for_good() -> str:
    """What no process can undo: as root, become nobody; otherwise lower a hard limit."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        return "user"
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    return "hard limit"


@task
def observe() -> dict[str, Any]:
    umask = os.umask(0)
    os.umask(umask)
    print("observed")  # lands in the try's log, not in a file the last try opened
    return {
        "open files": resource.getrlimit(resource.RLIMIT_NOFILE),
        "address space": resource.getrlimit(resource.RLIMIT_AS),
        "working folder": os.getcwd(),
        "environment": os.environ.get("HEADWATER_TEST_CHANGED"),
        "umask": umask,
        "sys.path": list(sys.path),
        "signal handler": signal.getsignal(signal.SIGTERM),
        "ignored signal": signal.getsignal(signal.SIGHUP),
        "blocked signals": sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "pending alarm": signal.getitimer(signal.ITIMER_REAL),
        "user": (os.getresuid(), os.getresgid()),
    }


@task
def pid() -> int:
    return os.getpid()


@pipeline
def worker_state() -> None:
    change("umask")
    change_for_good()
    observe()
    pid()
