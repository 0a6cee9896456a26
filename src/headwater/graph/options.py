"""The resolved options of a plan's tasks: what authoring validated, as the engine reads it.

Plain data, validated once by ``authoring`` (``resolve_options``, ``resolve_sensor_policy``)
when a pipeline is defined; the graph, the engine and the executors only read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any


class TriggerRule(StrEnum):
    """When a task may start, given the final states of its direct upstream tasks."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """The resolved options of one task: explicit values over pipeline defaults."""

    retries: int = 0
    retry_delay: timedelta = timedelta(seconds=30)
    retry_backoff: float = 1.0
    max_retry_delay: timedelta | None = None
    retry_jitter: float = 0.0
    timeout: timedelta | None = None
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    tags: tuple[str, ...] = field(default=())
    pool: str | None = None
    pool_slots: int = 1
    priority_weight: int = 1
    on_failure: Callable[..., Any] | None = None
    on_retry: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    allow_failure: bool = False  # its failure is recorded but does not fail the run
    # assets the task produces: each success records a materialization of them
    outlets: tuple[str, ...] = field(default=())
    # quality checks of the task's return value (headwater.assets.checks.Check)
    checks: tuple[Any, ...] = field(default=())


DEFAULT_POKE_INTERVAL = timedelta(seconds=60)
DEFAULT_SENSOR_TIMEOUT = timedelta(hours=1)


class SensorMode(StrEnum):
    """How a sensor waits between pokes."""

    POKE = "poke"  # in one try, holding its worker (and pool) slot
    RESCHEDULE = "reschedule"  # one short execution per poke, the slots given back between


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorPolicy:
    """How a sensor pokes and how long it waits for its condition.

    Attributes:
        poke_interval: the wait after a poke that found the condition unmet.
        timeout: how long after its first poke the sensor gives up.
        mode: ``poke`` or ``reschedule``.
        soft_fail: on timeout, the sensor is ``skipped`` instead of ``failed``.
        exponential_backoff: the n-th wait is ``poke_interval × 2^(n-1)``.
        max_poke_interval: a cap on each wait (None: only the timeout caps it).
    """

    poke_interval: timedelta = DEFAULT_POKE_INTERVAL
    timeout: timedelta = DEFAULT_SENSOR_TIMEOUT
    mode: SensorMode = SensorMode.POKE
    soft_fail: bool = False
    exponential_backoff: bool = False
    max_poke_interval: timedelta | None = None
