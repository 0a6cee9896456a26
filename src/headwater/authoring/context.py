"""Context: what a running task knows about its run, handed to parameters typed ``Context``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """The run a try belongs to, its data interval and its upstream outcomes.

    Attributes:
        run_id: the run's id.
        pipeline_id: the pipeline's id.
        task_id: this task's id.
        map_index: position in a mapped task's list, -1 for a task that is not mapped.
        try_number: 1 for the first try, 2 for the first retry, and so on.
        logical_date: the start of the data interval the run covers (aware, UTC).
        data_interval_start: start of the data interval (inclusive).
        data_interval_end: end of the data interval (exclusive).
        params: the pipeline's params, defaults overridden by the run's values.
        log: a logger that writes to this try's log file.
        upstream_states: the final state of each direct upstream task, by task id.
        database_url: the metadata store's URL, for tasks that read other runs (such as
            ``pipeline_sensor``); None outside a run. Kept out of ``repr``.
    """

    run_id: str
    pipeline_id: str
    task_id: str
    map_index: int
    try_number: int
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: Mapping[str, Any]
    log: logging.Logger
    upstream_states: Mapping[str, str]
    database_url: str | None = field(default=None, repr=False)

    @property
    def ds(self) -> str:
        """The logical date as ``YYYY-MM-DD``."""
        return self.logical_date.strftime("%Y-%m-%d")

    @property
    def ds_nodash(self) -> str:
        """The logical date as ``YYYYMMDD``."""
        return self.logical_date.strftime("%Y%m%d")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """What a pipeline's ``on_success`` / ``on_failure`` callback is given.

    Attributes:
        run_id: the run's id.
        pipeline_id: the pipeline's id.
        state: the run's final state, ``success`` or ``failed``.
        logical_date: the start of the run's data interval.
        data_interval_start: start of the data interval (inclusive).
        data_interval_end: end of the data interval (exclusive).
        params: the run's params.
        task_states: the final state of every task instance, by task id.
        failed_tasks: ids of the tasks that ended ``failed``.
        log: the engine's logger.
    """

    run_id: str
    pipeline_id: str
    state: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: Mapping[str, Any]
    task_states: Mapping[str, str]
    failed_tasks: tuple[str, ...]
    log: logging.Logger
