"""StateStore: the contract every metadata store implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from headwater.store.records import (
    AssetRecord,
    BackfillRecord,
    Batch,
    HeartbeatRecord,
    MaterializationRecord,
    PipelineRecord,
    PoolRecord,
    RunRecord,
    SlotGrants,
    SlotRequest,
    TaskInstanceRecord,
    TryRecord,
)


class StateStore(ABC):
    """Durable record of pipelines, runs, task instances and tries.

    Every write is a transaction: when a method returns, its changes survive a killed
    process. Changes of state are guarded: they apply only if the stored state is the
    one expected, else ``TransitionRejected`` is raised and nothing of the batch is kept.
    """

    url: str | None = None
    """Where another process (a try reading other runs) opens this store; None if it can't."""

    @abstractmethod
    def upsert_pipeline(self, record: PipelineRecord) -> None:
        """Insert or replace the pipeline's description."""

    @abstractmethod
    def get_pipeline(self, pipeline_id: str) -> PipelineRecord:
        """Raises NotFoundError when no such pipeline was recorded."""

    @abstractmethod
    def list_pipelines(self, *, removed: bool = False) -> list[PipelineRecord]:
        """Every recorded pipeline the code defines, by id (with ``removed``, also those
        removed from it)."""

    @abstractmethod
    def remove_pipelines(
        self, removed: Callable[[PipelineRecord], bool], now: datetime
    ) -> list[str]:
        """Mark the recorded pipelines ``removed`` says the code no longer defines (a loader
        that read a whole folder says so) as removed at ``now``; returns their ids."""

    @abstractmethod
    def set_paused(self, pipeline_id: str, paused: bool) -> None:
        """Pause or unpause a pipeline: a paused one gets no scheduled runs.

        Raises NotFoundError when no such pipeline was recorded.
        """

    @abstractmethod
    def create_run(
        self,
        run: RunRecord,
        instances: Sequence[tuple[str, int, int, int]],
        *,
        event_key: str | None = None,
    ) -> None:
        """Insert a run and its instances ``(task_id, map_index, max_tries, try_number)``.

        With ``event_key``, the event that started the run is recorded in the same
        transaction.

        Raises:
            RunExistsError: the pipeline already has a run for that logical date.
            EventSeenError: the pipeline already reacted to ``event_key``.
        """

    @abstractmethod
    def record_event(self, pipeline_id: str, event_key: str, now: datetime) -> bool:
        """Note an event that started no run; False if it was already recorded."""

    @abstractmethod
    def seen_events(self, pipeline_id: str, event_keys: Sequence[str]) -> set[str]:
        """Which of ``event_keys`` the pipeline already reacted to."""

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
        max_active: int | None = None,
    ) -> RunRecord | None:
        """Make ``owner`` the run's driver until ``lease_until``, with a new lease generation.

        Only a queued or running run can be claimed. It succeeds when the run has no
        owner, is already ``owner``'s, or its lease expired before ``now`` (or always,
        with ``take_over``). With ``max_active``, it also needs fewer than that many other
        runs of the same pipeline (backfill runs aside) running or claimed, counted in the
        same transaction: concurrent claimers, in any process, never exceed it together.
        Every successful claim increments the run's ``lease_generation``, which makes the
        writes of any earlier driver fail (see ``apply_many``). Returns the run, or None
        when the claim is refused.
        """

    @abstractmethod
    def extend_leases(
        self,
        owner: str,
        run_ids: Sequence[str],
        lease_until: datetime,
        *,
        generations: Mapping[str, int] | None = None,
        slot_runs: Sequence[str] = (),
    ) -> set[str]:
        """Renew ``owner``'s leases on ``run_ids``; returns the ids it no longer holds.

        A run is no longer held when another process owns it, or (with ``generations``)
        when its lease generation is not the one given. The pool slots ``owner`` holds for
        tries of the runs it still holds, and of ``slot_runs`` (tries still running for a
        run it no longer drives), are renewed to the same time: giving ``now`` lets the
        runs and their slots go at once.
        """

    @abstractmethod
    def release_run(self, run_id: str, owner: str, generation: int | None = None) -> None:
        """Drop ``owner``'s lease on the run (of that generation, if given)."""

    @abstractmethod
    def live_owners(self, now: datetime) -> set[str]:
        """The owners holding a lease live at ``now`` on a run, a backfill or pool slots."""

    @abstractmethod
    def reap_abandoned(self, owner: str, now: datetime) -> None:
        """End every lease of ``owner``, a process known to be dead: its runs and backfills
        can be claimed at once, and the pool slots it held are free."""

    @abstractmethod
    def claimable_runs(self, now: datetime, limit: int = 100) -> list[RunRecord]:
        """Queued runs and runs whose driver's lease expired, by priority then age."""

    @abstractmethod
    def active_run_counts(self) -> dict[str, int]:
        """How many runs of each pipeline are queued or running, not counting backfill runs.

        A backfill's runs (those with a ``backfill_id``) are limited by the backfill's own
        ``max_active_runs``, not by the pipeline's.
        """

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

    # assets

    @abstractmethod
    def upsert_assets(
        self,
        records: Sequence[AssetRecord],
        *,
        removed: Callable[[AssetRecord], bool] | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Record the assets' definitions as the loader saw them; with ``removed`` (from a
        loader that read a whole folder), mark the recorded assets it says the code no
        longer defines as removed at ``now``. Returns the keys marked removed."""

    @abstractmethod
    def previous_metadata(self, key: str, partition_key: str | None) -> dict[str, Any] | None:
        """Metadata of the newest successful materialization of the asset's partition."""

    @abstractmethod
    def newest_materializations(self, key: str, limit: int = 500) -> list[MaterializationRecord]:
        """The asset's newest successful materializations, newest first."""

    @abstractmethod
    def dynamic_keys(self, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The keys of each dynamic partitions definition, in the order they were added."""

    @abstractmethod
    def materialized_ids(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per asset, each partition's newest successful materialization id.

        Ids grow with time, so they order materializations. An unpartitioned asset's
        partition is ``""``; an asset never materialized has no entry.
        """

    @abstractmethod
    def newest_materialization_id(self) -> int:
        """The id of the newest materialization of any asset (0 when there is none)."""

    # pools

    @abstractmethod
    def set_pool(self, name: str, slots: int, description: str | None, now: datetime) -> None:
        """Create the pool, or change its number of slots (and description, unless None).

        Tries already holding slots keep them; a smaller pool grants nothing until
        enough of them have ended.
        """

    @abstractmethod
    def list_pools(self, now: datetime) -> list[PoolRecord]:
        """Every pool by name, with the slots held by leases live at ``now``."""

    @abstractmethod
    def delete_pool(self, name: str) -> None:
        """Delete a pool; tries holding its slots keep running.

        Raises:
            NotFoundError: there is no such pool.
        """

    @abstractmethod
    def acquire_slots(
        self,
        requests: Sequence[SlotRequest],
        owner: str,
        now: datetime,
        lease_until: datetime,
    ) -> SlotGrants:
        """Grant what the pools allow of ``requests``, in their order, in one transaction.

        A request is granted when the slots its pool's live leases hold (rows whose
        lease runs to ``now`` or later), plus its own, fit in the pool's size; a request
        that does not fit is skipped and the next ones are still considered (a smaller
        request may fit). A granted request is held by ``owner`` until ``lease_until``
        (see ``extend_leases``) or until a ``ReleaseSlots`` change. Rows of the
        requested instances are replaced: the caller drives their runs, so an earlier
        try of theirs is over. Expired rows are deleted on the way.

        Concurrent callers, in any process, are serialized, so no pool is ever
        over-granted. Requests naming a pool that does not exist are not granted;
        ``SlotGrants.sizes`` tells the caller which pools exist.
        """

    # backfills

    @abstractmethod
    def runs_between(self, pipeline_id: str, first: datetime, last: datetime) -> list[RunRecord]:
        """The pipeline's runs whose logical date is in ``[first, last]``, oldest first."""

    @abstractmethod
    def create_backfill(self, record: BackfillRecord) -> None:
        """Record a new backfill."""

    @abstractmethod
    def get_backfill(self, backfill_id: str) -> BackfillRecord:
        """Raises NotFoundError when no such backfill exists."""

    @abstractmethod
    def list_backfills(
        self, pipeline_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[BackfillRecord]:
        """The newest backfills first, of one pipeline or of all, optionally in one state."""

    @abstractmethod
    def claim_backfill(
        self,
        backfill_id: str,
        owner: str,
        now: datetime,
        lease_until: datetime,
        *,
        take_over: bool = False,
    ) -> BackfillRecord | None:
        """Make ``owner`` the process advancing a running backfill until ``lease_until``.

        As ``claim_run``: succeeds when the backfill has no owner, is ``owner``'s already
        (the lease is renewed), or its lease expired before ``now`` (or always, with
        ``take_over``). Returns None when another process holds a live lease on it, or
        when it is no longer running.
        """

    @abstractmethod
    def release_backfill(self, backfill_id: str, owner: str) -> None:
        """Drop ``owner``'s lease on the backfill, so that another process carries it on."""

    @abstractmethod
    def finish_backfill(self, backfill_id: str, state: str, ended_at: datetime) -> bool:
        """Move a running backfill to ``state`` (success or failed) and drop its lease.

        Returns False when it was not running any more (another process finished it).
        """

    def apply(self, batch: Batch) -> None:
        """Apply one batch in its own transaction (see ``apply_many``)."""
        self.apply_many([batch])

    @abstractmethod
    def apply_many(self, batches: Sequence[Batch]) -> None:
        """Apply the batches' changes, in order, in one transaction.

        A batch with a ``lease`` is fenced: if that lease is no longer its run's latest
        (another process claimed the run since), nothing of any batch is kept and
        ``LeaseLost`` names the runs whose lease was lost.

        Raises:
            LeaseLost: a fenced batch's lease is stale.
            TransitionRejected: a guarded change found another state than expected;
                nothing of any batch is kept.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # what people and processes ask besides running

    @abstractmethod
    def request_cancel(self, run_id: str, now: datetime, note: str) -> bool:
        """Ask for a run to be cancelled; returns True when it was ended here and now.

        ``note`` says who asked and why; it is kept as the run's note. A run nobody
        drives (queued and not claimed, or whose driver's lease ran out) is ended at
        once, in this transaction: ``failed``, its running tries failed with the error
        ``cancelled: <note>``, its instances that never started ``skipped``. Otherwise
        ``cancel_requested_at`` is set and the run's driver, which looks for it about
        every second (see ``cancel_requests``), stops its tries and fails the run. The
        end of an unclaimed run is guarded in one UPDATE: a claim that commits first
        wins (its driver then cancels the run), a claim that comes after finds the run
        failed. Asking again while a driver stops the run is a no-op.

        Raises:
            NotFoundError: no such run.
            TransitionRejected: the run already ended.
        """

    @abstractmethod
    def cancel_requests(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The runs among ``run_ids`` whose cancel was asked for, with their notes."""

    @abstractmethod
    def cancel_backfill(
        self, backfill_id: str, now: datetime, note: str, *, with_runs: bool = False
    ) -> list[str]:
        """End a running backfill as ``cancelled``; it starts no more runs.

        Its queued runs (not started yet) are cancelled too (``request_cancel``, with
        ``note``), and with ``with_runs`` its running runs as well; otherwise those
        finish. Returns the ids of the runs asked to cancel.

        Raises:
            NotFoundError: no such backfill.
            TransitionRejected: the backfill already ended.
        """

    @abstractmethod
    def paused_pipeline_ids(self) -> set[str]:
        """The ids of the paused pipelines (see ``set_paused``)."""

    @abstractmethod
    def beat(self, record: HeartbeatRecord) -> None:
        """Record that a scheduler process is alive (insert or replace its row)."""

    @abstractmethod
    def prune_heartbeats(self, now: datetime, keep: timedelta) -> int:
        """Delete the rows of schedulers stopped, or silent, for longer than ``keep``.

        Returns how many rows went.
        """

    @abstractmethod
    def heartbeats(self, limit: int = 100) -> list[HeartbeatRecord]:
        """Scheduler processes, the most recent heartbeat first."""
