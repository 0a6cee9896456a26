"""Trigger-rule evaluation: given the upstream counts, may a task start, wait, or not run?

A task **runs** as soon as its rule is satisfied (``one_success`` starts at the first
success, before the other upstream tasks end, as in Airflow). A task that **can no longer
run** ends ``upstream_failed`` if any of its direct upstream tasks failed (``failed`` or
``upstream_failed``) and ``skipped`` otherwise; and that choice is made only once it can
no longer change: while an upstream task is still running it might fail, which would turn
a skip into ``upstream_failed``, so the task waits. The outcome therefore never depends on
the order in which the upstream tasks end: the same upstream states give the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from headwater.engine.states import TaskState
from headwater.graph.options import TriggerRule


class Decision(Enum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(slots=True)
class UpstreamCounts:
    """How many of a task's direct upstream tasks ended in each final state."""

    total: int
    success: int = 0
    failed: int = 0
    upstream_failed: int = 0
    skipped: int = 0

    @property
    def done(self) -> int:
        return self.success + self.failed + self.upstream_failed + self.skipped

    @property
    def failures(self) -> int:
        return self.failed + self.upstream_failed

    def add(self, state: TaskState) -> None:
        if state is TaskState.SUCCESS:
            self.success += 1
        elif state is TaskState.FAILED:
            self.failed += 1
        elif state is TaskState.UPSTREAM_FAILED:
            self.upstream_failed += 1
        elif state is TaskState.SKIPPED:
            self.skipped += 1

    def copy(self) -> UpstreamCounts:
        return UpstreamCounts(
            total=self.total,
            success=self.success,
            failed=self.failed,
            upstream_failed=self.upstream_failed,
            skipped=self.skipped,
        )


def satisfied(rule: TriggerRule, counts: UpstreamCounts) -> bool:
    """Whether the rule lets the task start now."""
    all_done = counts.done == counts.total
    match rule:
        case TriggerRule.ALWAYS:
            return True
        case TriggerRule.ALL_SUCCESS:
            return counts.success == counts.total
        case TriggerRule.ALL_FAILED:
            return counts.failures == counts.total
        case TriggerRule.ALL_DONE:
            return all_done
        case TriggerRule.ALL_SKIPPED:
            return counts.skipped == counts.total
        case TriggerRule.ONE_SUCCESS:
            return counts.success > 0
        case TriggerRule.ONE_FAILED:
            return counts.failures > 0
        case TriggerRule.ONE_DONE:
            return counts.success + counts.failed > 0
        case TriggerRule.NONE_FAILED:
            return all_done and counts.failures == 0
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            return all_done and counts.failures == 0 and counts.success > 0
        case TriggerRule.NONE_SKIPPED:
            return all_done and counts.skipped == 0
    raise AssertionError(f"unhandled trigger rule {rule!r}")  # the enum is exhaustive


def impossible(rule: TriggerRule, counts: UpstreamCounts) -> bool:
    """Whether the rule can no longer be satisfied, however the pending upstream end."""
    pending = counts.total - counts.done
    match rule:
        case TriggerRule.ALWAYS | TriggerRule.ALL_DONE:
            return False
        case TriggerRule.ALL_SUCCESS:
            return counts.failures + counts.skipped > 0
        case TriggerRule.ALL_FAILED:
            return counts.success + counts.skipped > 0
        case TriggerRule.ALL_SKIPPED:
            return counts.success + counts.failures > 0
        case TriggerRule.NONE_FAILED:
            return counts.failures > 0
        case TriggerRule.NONE_SKIPPED:
            return counts.skipped > 0
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            return counts.failures > 0 or (pending == 0 and counts.success == 0)
        case TriggerRule.ONE_SUCCESS | TriggerRule.ONE_FAILED | TriggerRule.ONE_DONE:
            return pending == 0 and not satisfied(rule, counts)
    raise AssertionError(f"unhandled trigger rule {rule!r}")  # the enum is exhaustive


def evaluate(rule: TriggerRule, counts: UpstreamCounts, *, excluded: bool = False) -> Decision:
    """Decide what happens to a task whose upstream tasks ended as ``counts`` says.

    ``excluded``: a branch upstream did not choose this task, so it can never run,
    whatever its rule.
    """
    if counts.total == 0 and not excluded:
        return Decision.RUN
    if not excluded:
        if satisfied(rule, counts):
            return Decision.RUN
        if not impossible(rule, counts):
            return Decision.WAIT
    # It will not run: upstream_failed as soon as a failure is known, since no later
    # outcome can undo it; skipped only once every upstream task has ended.
    if counts.failures:
        return Decision.UPSTREAM_FAILED
    return Decision.SKIP if counts.done == counts.total else Decision.WAIT
