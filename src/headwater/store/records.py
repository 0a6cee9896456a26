"""Records read from and written to the store: frozen, keyword-only, slotted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineRecord:
    pipeline_id: str
    source_file: str | None
    description: str
    schedule: str | None
    timezone: str
    graph: dict[str, Any]
    updated_at: datetime
    paused: bool = False  # a paused pipeline gets no scheduled runs
    removed_at: datetime | None = None  # when its file was found without it


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    run_id: str
    pipeline_id: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: dict[str, Any]
    state: str
    run_type: str
    triggered_by: str
    source_file: str | None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    owner: str | None = None
    lease_expires_at: datetime | None = None
    backfill_id: str | None = None
    priority: int = 0
    lease_generation: int = 0  # of the latest claim; see StateStore.claim_run
    cancel_requested_at: datetime | None = None  # see StateStore.request_cancel
    note: str | None = None  # why the run ended as it did, when not a task's error
    partition_key: str | None = None  # the partition an asset pipeline's run materializes


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A driver's hold on a run: the owner, and the generation its claim received."""

    run_id: str
    owner: str
    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillRecord:
    """A backfill: runs for the intervals of a range of logical dates, a few at a time.

    ``start_date`` and ``end_date`` bound the logical dates, both included (UTC).
    ``owner`` and ``lease_expires_at`` name the process advancing it, as for runs.

    A backfill of assets (``headwater backfill --asset``) makes one run per partition
    instead: ``partitions`` lists them, in the order given, and ``asset_selection`` the
    keys of the assets each run materializes; both are None for a backfill of intervals.
    """

    backfill_id: str
    pipeline_id: str
    start_date: datetime
    end_date: datetime
    max_active_runs: int
    reprocess: str  # none, failed or all; of assets: missing, failed or all (+stale)
    reverse: bool
    params: dict[str, Any]
    state: str  # running, success or failed
    created_at: datetime
    ended_at: datetime | None = None
    owner: str | None = None
    lease_expires_at: datetime | None = None
    partitions: tuple[str, ...] | None = None
    asset_selection: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInstanceRecord:
    """The current state of one task (one map index) in a run."""

    run_id: str
    task_id: str
    map_index: int
    state: str
    try_number: int
    max_tries: int
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = None
    next_try_at: datetime | None = None
    result: str | None = None  # the JSON text of a small result
    result_ref: str | None = None  # where a large or non-JSON result was written
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TryRecord:
    """One try of a task instance."""

    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str
    started_at: datetime | None
    ended_at: datetime | None = None
    duration: float | None = None
    error: str | None = None
    traceback: str | None = None
    log_path: str | None = None
    hostname: str | None = None


# Changes applied to task instances by StateStore.apply, all in one transaction.


@dataclass(frozen=True, slots=True, kw_only=True)
class AddInstances:
    """Create task instances (a new run's tasks, or a mapped task's expansion)."""

    run_id: str
    instances: tuple[tuple[str, int, int, int], ...]  # (task_id, map_index, max_tries, tries)
    remove_placeholder: str | None = None  # task id whose map_index -1 row is replaced


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTry:
    """A try starts: the instance goes ``expected`` → running and a try row is added.

    With ``poke_again``, a reschedule-mode sensor's try goes on with its next poke: its
    row (state ``up_for_reschedule``) goes back to running, and the instance and the
    row keep their start, the first poke's.
    """

    run_id: str
    task_id: str
    map_index: int
    try_number: int
    expected: str
    started_at: datetime
    log_path: str
    hostname: str
    poke_again: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishTry:
    """A try ends: its row gets its outcome, the instance its new state."""

    run_id: str
    task_id: str
    map_index: int
    try_number: int
    try_state: str  # success, failed, or a sensor's up_for_reschedule or skipped
    instance_state: str  # success, failed, up_for_retry, or as try_state for a sensor
    ended_at: datetime
    duration: float
    error: str | None = None
    traceback: str | None = None
    result: str | None = None
    result_ref: str | None = None
    next_try_at: datetime | None = None
    max_tries: int | None = None  # set when an interrupted try is given back


@dataclass(frozen=True, slots=True, kw_only=True)
class SetState:
    """An instance moves ``expected`` → ``state`` without a try (skipped, cleared...)."""

    run_id: str
    task_id: str
    map_index: int
    expected: str
    state: str
    error: str | None = None
    ended_at: datetime | None = None
    max_tries: int | None = None  # set when clearing, to grant new tries
    clear_result: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetMapped:
    """Forget a mapped task's expansion: its instances go, an unexpanded one comes back.

    Their tries stay in the history.
    """

    run_id: str
    task_id: str
    try_number: int  # tries made so far: the next expansion numbers its tries after them
    max_tries: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseSlots:
    """A try that held pool slots ended: its ``pool_slots`` row goes, if ``owner``'s."""

    run_id: str
    task_id: str
    map_index: int
    owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOutcome:
    """One check's verdict on a materialization."""

    check_name: str
    passed: bool
    blocking: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordMaterialization:
    """A try wrote an asset partition (``status`` materialized), or a blocking check
    refused it (failed); recorded with the try's end, with its checks' results."""

    run_id: str
    task_id: str
    try_number: int
    asset_key: str
    partition_key: str | None
    status: str
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    checks: tuple[CheckOutcome, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AddPartitions:
    """Keys added to a dynamic partitions definition (kept if already there)."""

    name: str
    keys: tuple[str, ...]
    added_at: datetime


Change = (
    AddInstances
    | StartTry
    | FinishTry
    | SetState
    | ResetMapped
    | ReleaseSlots
    | RecordMaterialization
    | AddPartitions
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """``owner`` becomes a run's driver until ``lease_until`` (a new lease generation)."""

    owner: str
    lease_until: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RunUpdate:
    """A guarded change of a run's state, applied with the task changes."""

    run_id: str
    expected: tuple[str, ...]
    state: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    clear_ended_at: bool = False
    clear_started_at: bool = False  # a reset: the next attempt records its own start
    params: dict[str, Any] | None = None  # replaces the run's params when given
    backfill_id: str | None = None  # when given, the run now belongs to this backfill
    priority: int | None = None  # replaces the run's priority when given
    claim: Claim | None = None  # the run is claimed in the same transaction


@dataclass(slots=True)
class Batch:
    """Changes committed together: task changes in order, then an optional run update.

    With a ``lease``, the batch is fenced: it is applied only while that lease is the
    run's latest (see ``StateStore.apply_many``).
    """

    changes: list[Change] = field(default_factory=list)
    run_update: RunUpdate | None = None
    lease: Lease | None = None

    def __bool__(self) -> bool:
        return bool(self.changes) or self.run_update is not None


# Pools: named numbers of slots shared by every process driving runs (see StateStore).


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolRecord:
    """A pool and how many of its slots live leases hold now."""

    name: str
    slots: int
    description: str
    updated_at: datetime
    in_use: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotRequest:
    """A task instance asks for ``slots`` slots of ``pool`` to start a try."""

    pool: str
    slots: int
    run_id: str
    task_id: str
    map_index: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.run_id, self.task_id, self.map_index)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotGrants:
    """What ``StateStore.acquire_slots`` decided.

    Attributes:
        granted: the keys (run id, task id, map index) of the requests granted.
        sizes: the number of slots of each requested pool that exists; a pool missing
            here does not exist.
    """

    granted: frozenset[tuple[str, str, int]]
    sizes: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatRecord:
    """A scheduler process and when it last said it was alive."""

    owner: str
    hostname: str
    pid: int
    started_at: datetime
    last_heartbeat: datetime
    stopped_at: datetime | None = None  # set by a clean stop


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """Someone who may use the web UI or the API, and what they may do."""

    name: str
    role: str  # viewer, operator or admin
    created_at: datetime
    disabled: bool = False
    has_password: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """An API token as stored: never the token itself, only who it is for and its life."""

    token_id: str
    user_name: str
    description: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


# Assets (see store/sql/assets.py).


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetRecord:
    """An asset as the loader last saw it: its group and its definition as JSON."""

    asset_key: str
    group_name: str
    description: str
    source_file: str | None
    definition: dict[str, Any]
    updated_at: datetime
    removed_at: datetime | None = None  # when its file was found without it


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterializationRecord:
    id: int
    asset_key: str
    partition_key: str | None
    status: str  # materialized, or failed (a blocking check refused the value)
    run_id: str | None
    task_id: str | None
    try_number: int | None
    created_at: datetime
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResultRecord:
    id: int
    materialization_id: int
    asset_key: str
    partition_key: str | None
    check_name: str
    passed: bool
    blocking: bool
    description: str
    metadata: dict[str, Any]
    created_at: datetime
