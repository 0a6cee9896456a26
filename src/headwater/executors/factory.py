"""Choosing an executor by name."""

from __future__ import annotations

from headwater.clock import Clock
from headwater.errors import ConfigError
from headwater.executors.base import Executor
from headwater.executors.processes import ProcessExecutor
from headwater.executors.threads import ThreadExecutor

EXECUTORS = ("thread", "process")


def create_executor(
    name: str, *, max_concurrency: int | None = None, clock: Clock | None = None
) -> Executor:
    """``thread`` (the default) or ``process``."""
    if name == "thread":
        return ThreadExecutor(max_concurrency, clock=clock)
    if name == "process":
        return ProcessExecutor(max_concurrency, clock=clock)
    raise ConfigError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
