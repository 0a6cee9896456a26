"""StateStore: the contract every metadata store implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from headwater.store.records import (
    Batch,
    PipelineRecord,
    RunRecord,
    TaskInstanceRecord,
    TryRecord,
)


class StateStore(ABC):
    """Durable record of pipelines, runs, task instances and tries.

    Every write is a transaction: when a method returns, its changes survive a killed
    process. Changes of state are guarded: they apply only if the stored state is the
    one expected, else ``TransitionRejected`` is raised and nothing of the batch is kept.
    """

    @abstractmethod
    def upsert_pipeline(self, record: PipelineRecord) -> None:
        """Insert or replace the pipeline's description."""

    @abstractmethod
    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        """Raises NotFoundError when no such pipeline was recorded."""

    @abstractmethod
    def create_run(self, run: RunRecord, instances: Sequence[tuple[str, int, int, int]]) -> None:
        """Insert a run and its instances ``(task_id, map_index, max_tries, try_number)``.

        Raises:
            RunExistsError: the pipeline already has a run for that logical date.
        """

    @abstractmethod
    def find_run(self, pipeline_id: str, logical_date: datetime) -> RunRecord | None:
        """The pipeline's run for ``logical_date``, if there is one."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """Raises NotFoundError when no such run exists."""

    @abstractmethod
    def list_runs(
        self, pipeline_id: str | None = None, limit: int = 50, state: str | None = None
    ) -> list[RunRecord]:
        """The newest runs first, of one pipeline or of all, optionally in one state."""

    @abstractmethod
    def claim_run(
        self,
        run_id: str,
        owner: str,
        now: datetime,
        lease_until: datetime,
        *,
        take_over: bool = False,
    ) -> RunRecord | None:
        """Make ``owner`` the run's driver until ``lease_until``.

        Succeeds when the run has no owner, is already ``owner``'s, or its lease expired
        before ``now`` (or always, with ``take_over``). Returns the run, or None when
        another process holds a live lease on it.
        """

    @abstractmethod
    def extend_leases(self, owner: str, run_ids: Sequence[str], lease_until: datetime) -> set[str]:
        """Renew ``owner``'s leases on ``run_ids``; returns the ids it no longer owns."""

    @abstractmethod
    def release_run(self, run_id: str, owner: str) -> None:
        """Drop ``owner``'s lease on the run (it has nothing left to do there)."""

    @abstractmethod
    def claimable_runs(self, now: datetime, limit: int = 100) -> list[RunRecord]:
        """Queued runs and runs whose driver's lease expired, by priority then age."""

    @abstractmethod
    def active_run_counts(self) -> dict[str, int]:
        """How many runs of each pipeline are queued or running."""

    @abstractmethod
    def latest_run(self, pipeline_id: str, run_types: Sequence[str]) -> RunRecord | None:
        """The pipeline's run of one of ``run_types`` with the latest logical date."""

    @abstractmethod
    def get_task_instances(self, run_id: str) -> list[TaskInstanceRecord]:
        """Every task instance of the run, ordered by task id and map index."""

    @abstractmethod
    def get_tries(
        self, run_id: str, task_id: str | None = None, map_index: int | None = None
    ) -> list[TryRecord]:
        """Tries of a run, optionally of one task (and map index), oldest first."""

    def apply(self, batch: Batch) -> None:
        """Apply one batch in its own transaction (see ``apply_many``)."""
        self.apply_many([batch])

    @abstractmethod
    def apply_many(self, batches: Sequence[Batch]) -> None:
        """Apply the batches' changes, in order, in one transaction.

        Raises:
            TransitionRejected: a guarded change found another state than expected;
                nothing of any batch is kept.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
