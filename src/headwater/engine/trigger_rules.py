"""Trigger-rule evaluation: given the upstream counts, may a task start, wait, or be skipped?

The semantics are Airflow's, including when a decision is taken before every upstream
task has finished (a failed upstream makes an ``all_success`` task ``upstream_failed``
at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from headwater.authoring.trigger_rules import TriggerRule
from headwater.engine.states import TaskState


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

    def add(self, state: TaskState) -> None:
        if state is TaskState.SUCCESS:
            self.success += 1
        elif state is TaskState.FAILED:
            self.failed += 1
        elif state is TaskState.UPSTREAM_FAILED:
            self.upstream_failed += 1
        elif state is TaskState.SKIPPED:
            self.skipped += 1


def evaluate(rule: TriggerRule, counts: UpstreamCounts) -> Decision:
    """Decide what happens to a task whose upstream tasks ended as ``counts`` says."""
    if counts.total == 0 or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    all_done = counts.done == counts.total
    failures = counts.failed + counts.upstream_failed
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if failures:
                return Decision.UPSTREAM_FAILED
            if counts.skipped:
                return Decision.SKIP
            return Decision.RUN if counts.success == counts.total else Decision.WAIT
        case TriggerRule.ALL_FAILED:
            if counts.success or counts.skipped:
                return Decision.SKIP
            return Decision.RUN if failures == counts.total else Decision.WAIT
        case TriggerRule.ALL_DONE:
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.ALL_SKIPPED:
            if counts.success or failures:
                return Decision.SKIP
            return Decision.RUN if counts.skipped == counts.total else Decision.WAIT
        case TriggerRule.ONE_SUCCESS:
            if counts.success:
                return Decision.RUN
            if all_done:
                if counts.skipped == counts.total:
                    return Decision.SKIP
                return Decision.UPSTREAM_FAILED
            return Decision.WAIT
        case TriggerRule.ONE_FAILED:
            if failures:
                return Decision.RUN
            return Decision.SKIP if all_done else Decision.WAIT
        case TriggerRule.ONE_DONE:
            if counts.success or counts.failed:
                return Decision.RUN
            return Decision.SKIP if all_done else Decision.WAIT
        case TriggerRule.NONE_FAILED:
            if failures:
                return Decision.UPSTREAM_FAILED
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            if failures:
                return Decision.UPSTREAM_FAILED
            if counts.skipped == counts.total:
                return Decision.SKIP
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.NONE_SKIPPED:
            if counts.skipped:
                return Decision.SKIP
            return Decision.RUN if all_done else Decision.WAIT
    raise AssertionError(f"unhandled trigger rule {rule!r}")  # the enum is exhaustive
