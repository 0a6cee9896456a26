"""Context: what a running task knows about its run, handed to parameters typed ``Context``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(slots=True)
class TryOutput:
    """What a try adds beside its return value: metadata and dynamic partitions."""

    metadata: dict[str, Any] = field(default_factory=dict)
    partitions: dict[str, list[str]] = field(default_factory=dict)


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
        upstream_states: the final state of each direct upstream task, by task id (a
            mapped upstream task also by instance: ``store[0]``...).
        partition_key: the partition the run materializes (``"2026-01-01"``,
            ``"2026-01-01|eu"`` for two dimensions), None for an unpartitioned run.
        partition_window: a time partition's span ``(start, end)``, aware UTC.
        asset_key: the asset this try materializes (``"sales/orders_raw"``), if any.
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
    partition_key: str | None = None
    partition_window: tuple[datetime, datetime] | None = None
    asset_key: str | None = None
    asset_info: Any = field(default=None, repr=False)  # the engine's AssetTryInfo
    output: TryOutput = field(default_factory=TryOutput, repr=False)

    def add_metadata(self, metadata: Mapping[str, Any] | None = None, **values: Any) -> None:
        """Record facts about what this try wrote (row counts, URLs...) with it.

        Values must be JSON-serialisable; they are shown with the materialization.
        """
        self.output.metadata.update(metadata or {}, **values)

    def add_partitions(self, name: str, keys: Iterable[str]) -> None:
        """Add keys to the dynamic partitions ``name`` (recorded when the try succeeds)."""
        if isinstance(keys, str):
            keys = [keys]
        self.output.partitions.setdefault(name, []).extend(keys)

    @property
    def ds(self) -> str:
        """The logical date as ``YYYY-MM-DD``."""
        return self.logical_date.date().isoformat()  # strftime's %Y drops year 1's zeros

    @property
    def ds_nodash(self) -> str:
        """The logical date as ``YYYYMMDD``."""
        return self.ds.replace("-", "")


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


class RunLookup(Protocol):
    """What a sensor that runs in the engine (``pipeline_sensor``) may ask of the store.

    Tries get no credentials of the metadata store: the engine, which has them, answers.
    """

    def run_state(self, pipeline_id: str, logical_date: datetime) -> tuple[str, str] | None:
        """``(run_id, state)`` of the pipeline's run for that logical date, if there is one."""
        ...
