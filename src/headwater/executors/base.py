"""The Executor contract and the messages exchanged with it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headwater.graph.options import SensorPolicy
from headwater.graph.plan import PipelineRef

TryKey = tuple[str, int, int, int]  # (run id, node index, map index, try number)


@dataclass(frozen=True, slots=True, kw_only=True)
class TryRequest:
    """Everything needed to run one try, picklable so it can cross to another process."""

    key: TryKey
    pipeline: PipelineRef
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    context_parameters: tuple[str, ...]
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: Mapping[str, Any]
    upstream_states: Mapping[str, str]
    log_path: str
    timeout: float | None
    sensor: SensorPolicy | None = None  # set for a sensor: how it pokes
    branch: bool = False  # a branch's result is stored as the ids it chose
    partition_key: str | None = None  # the partition the run materializes
    asset_info: Any = None  # for an asset's try: its AssetTryInfo
    # a function that travels with the request (an asset step, which no pipeline module
    # defines): a worker process calls it instead of looking the task up
    function: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TryOutcome:
    """How a try ended. ``value`` is the return value when ``ok``.

    A reschedule-mode sensor whose poke found its condition unmet reports ``ok`` with
    ``not_met``; a poke-mode sensor that ran out of time reports a failure with
    ``sensor_timeout``. Once its value is written to the result store (``encoded``),
    ``result`` and ``result_ref`` say where it is.
    """

    key: TryKey
    ok: bool
    started_at: datetime
    ended_at: datetime
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    not_met: bool = False
    sensor_timeout: bool = False
    encoded: bool = False
    result: str | None = None
    result_ref: str | None = None


ReportOutcome = Callable[[TryOutcome], None]


class Executor(ABC):
    """Runs tries and reports each outcome exactly once through ``report``.

    The engine never submits more than ``max_concurrency`` tries at once. ``report`` may
    be called from any thread; it must not block.
    """

    name: str
    max_concurrency: int

    @abstractmethod
    def start(self, report: ReportOutcome) -> None:
        """Get ready to run tries (start threads or processes)."""

    @abstractmethod
    def submit(self, request: TryRequest, fn: Callable[..., Any]) -> None:
        """Start a try. ``fn`` is the task's function, for executors in this process."""

    @abstractmethod
    def cancel(self, key: TryKey) -> bool:
        """Stop a try the engine gave up on (a timeout, or its run was let go).

        Returns True when the try's code no longer runs (or never will); False when it
        cannot be stopped at once (a thread blocked in C): its outcome is then still
        reported once its code returns, so that the engine knows when its slots are free.
        """

    @abstractmethod
    def shutdown(self) -> None:
        """Stop workers once the running tries are done or cancelled."""
