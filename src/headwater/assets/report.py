"""What a try of an asset (or of a task with outlets) reports to the engine.

The try writes the value through the IO manager; the engine records what it reports, in
the transaction that records the try's success, so a materialization is recorded once
and only with the success of the try that wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from headwater.assets.checks import CheckResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Materialized:
    """One asset partition written (or, when a blocking check failed, refused)."""

    asset_key: str
    partition_key: str | None
    metadata: Mapping[str, Any]
    checks: tuple[CheckResult, ...] = ()
    written: bool = True

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking and not c.passed]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReport:
    """The outcome of an asset step: what it materialized, and the task's own value.

    ``added_partitions`` holds the dynamic partitions the try added
    (``ctx.add_partitions``), by definition name.
    """

    materializations: tuple[Materialized, ...]
    added_partitions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    value: Any = None
    task_value: bool = False  # a plain task's report: ``value`` is its result to store

    def stored_value(self) -> Any:
        """What the try's result is: a task's own value, else a summary (no data)."""
        return self.value if self.task_value else self.summary()

    @property
    def blocking_failures(self) -> list[tuple[str, CheckResult]]:
        return [(m.asset_key, c) for m in self.materializations for c in m.blocking_failures]

    def summary(self) -> dict[str, Any]:
        """What is stored as the try's result: small, JSON, no data."""
        return {
            "materialized": [
                {
                    "asset": m.asset_key,
                    "partition": m.partition_key,
                    "written": m.written,
                    "checks_failed": [c.check_name for c in m.checks if not c.passed],
                }
                for m in self.materializations
            ]
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetTryInfo:
    """What the engine hands an asset's try beside its Context.

    Attributes:
        base_url: where the default file IO manager writes (under the result store).
        now: the engine clock's time when the try started (checks of freshness use it).
        previous: per asset key, the metadata of its previous successful
            materialization (of the previous partition, for a partitioned asset), for
            checks that compare with it.
        dynamic: the current keys of the dynamic partitions the step reads.
        waiting: for an asset that ``sees_run`` only (dbt's, which build what they can
            of their run at once): the run's asset tasks that have not started, by task
            id: the number their next try will have, and the upstream tasks they still
            wait for (not succeeded yet).
        guarded: with ``waiting``: the run's asset tasks whose value a blocking
            ``@asset_check`` may refuse.
    """

    base_url: str
    now: datetime | None = None  # the engine clock's time when the try started
    previous: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    dynamic: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    waiting: Mapping[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    guarded: frozenset[str] = frozenset()
