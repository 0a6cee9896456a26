"""Task and run states, and the one table of the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    """State of a task instance; the values are what is stored and shown."""

    NONE = "none"  # not yet decided
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"  # a sensor waiting for its next poke

    @property
    def is_final(self) -> bool:
        return self in FINAL_TASK_STATES


class RunState(StrEnum):
    """State of a run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (RunState.SUCCESS, RunState.FAILED)


# The start of the error of the tries and instances a cancel ended (``cancelled: <note>``);
# the store writes the same for a run nobody drove (store/sql/controls.py).
CANCELLED = "cancelled: "

FINAL_TASK_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED, TaskState.UPSTREAM_FAILED}
)

# Every change of a task instance's state must be listed here. Clearing (headwater clear,
# retry) is the move of a final state back to NONE; resuming after a crash moves
# QUEUED/RUNNING back to NONE once the interrupted try is closed. A reschedule-mode sensor
# goes RUNNING -> UP_FOR_RESCHEDULE after each unmet poke and back to RUNNING for the next
# one, within the same try; a sensor that times out with soft_fail goes RUNNING -> SKIPPED.
# A cancelled run skips every instance that has not started (NONE, QUEUED, UP_FOR_RETRY,
# UP_FOR_RESCHEDULE -> SKIPPED) and fails its running ones.
TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.NONE: frozenset(
        {
            TaskState.QUEUED,
            TaskState.RUNNING,
            TaskState.SKIPPED,
            TaskState.UPSTREAM_FAILED,
            TaskState.FAILED,
        }
    ),
    # QUEUED: waiting for a pool's slots; it fails there when its pool does not exist
    TaskState.QUEUED: frozenset(
        {TaskState.RUNNING, TaskState.NONE, TaskState.FAILED, TaskState.SKIPPED}
    ),
    TaskState.RUNNING: frozenset(
        {
            TaskState.SUCCESS,
            TaskState.FAILED,
            TaskState.UP_FOR_RETRY,
            TaskState.UP_FOR_RESCHEDULE,
            TaskState.SKIPPED,
            TaskState.NONE,
        }
    ),
    TaskState.UP_FOR_RETRY: frozenset(
        {TaskState.RUNNING, TaskState.QUEUED, TaskState.NONE, TaskState.FAILED, TaskState.SKIPPED}
    ),
    TaskState.UP_FOR_RESCHEDULE: frozenset({TaskState.RUNNING, TaskState.NONE, TaskState.SKIPPED}),
    TaskState.SUCCESS: frozenset({TaskState.NONE}),
    TaskState.FAILED: frozenset({TaskState.NONE}),
    TaskState.SKIPPED: frozenset({TaskState.NONE}),
    TaskState.UPSTREAM_FAILED: frozenset({TaskState.NONE}),
}

# A run's changes: it starts (queued -> running), ends, is reset to run again (retry,
# clear, --rerun: a finished run -> queued), and a finished run whose pipeline gained tasks
# since is driven again at once (-> running). Every RunUpdate's expected states come from
# here (see ``run_sources``), so the store refuses any other change.
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    # queued -> failed: a run cancelled before anyone drove it (StateStore.request_cancel)
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.FAILED}),
    RunState.RUNNING: frozenset({RunState.SUCCESS, RunState.FAILED}),
    RunState.SUCCESS: frozenset({RunState.QUEUED, RunState.RUNNING}),
    RunState.FAILED: frozenset({RunState.QUEUED, RunState.RUNNING}),
}


def run_sources(target: RunState, *, staying: bool = False) -> tuple[str, ...]:
    """The stored states from which a run may move to ``target``, for a guarded update.

    With ``staying``, a run already in ``target`` may be updated too (resuming a running
    run, resetting a queued one).
    """
    return tuple(
        state.value
        for state in RunState
        if target in RUN_TRANSITIONS[state] or (staying and state is target)
    )


def can_transition(current: TaskState, new: TaskState) -> bool:
    """Whether the transition table allows ``current`` → ``new``."""
    return new in TASK_TRANSITIONS[current]
