"""What a try changes in its worker process does not reach the tries after it.

Each test runs its tries in one worker (``ProcessExecutor(1)``): the state seen by a try
after the change must be the state seen before it, whether the worker put it back or was
replaced by a fresh one.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.executors.base import TryOutcome, TryRequest
from headwater.executors.processes import ProcessExecutor
from tests.executors.requests import not_called, try_request
from tests.resources.executors.worker_state import CHANGES, worker_state


class OneWorker:
    """A process executor with one worker, and the outcomes it reported."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
        self.executor = ProcessExecutor(1)
        self.tries = 0

    def request(self, task_id: str, *args: Any) -> TryRequest:
        self.tries += 1
        return try_request(worker_state, task_id, self.tmp_path, try_number=self.tries, args=args)

    def run(self, task_id: str, *args: Any) -> Any:
        """Run one try and return its value (it must succeed)."""
        self.executor.submit(self.request(task_id, *args), not_called)
        outcome = self.outcomes.get(timeout=30)
        assert outcome.ok, outcome
        return outcome.value


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[OneWorker]:
    one = OneWorker(tmp_path)
    one.executor.start(one.outcomes.put)
    try:
        yield one
    finally:
        one.executor.shutdown()
    assert one.outcomes.empty()  # one outcome per try, no more


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_a_change_made_by_a_try_is_undone_before_the_next_try(worker: OneWorker, what: str) -> None:
    # Given: the state a try sees in a fresh worker
    before = worker.run("observe")

    # When: a try changes it, and another try looks again
    assert worker.run("change", what) == what
    after = worker.run("observe")

    # Then: the second try sees what the first one saw, and prints to its own log
    assert after == before
    assert (worker.tmp_path / f"observe-{worker.tries}.log").read_text() == "observed\n"


def test_a_change_that_cannot_be_undone_retires_the_worker(worker: OneWorker) -> None:
    # Given: the state and the pid of the worker
    before = worker.run("observe")
    first_pid = worker.run("pid")

    # When: a try changes what no process can change back (its user, or a hard limit)
    changed = worker.run("change_for_good")
    after = worker.run("observe")

    # Then: the next try ran in a fresh worker, which sees the original state
    assert worker.run("pid") != first_pid
    assert after == before
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)
    # and the try that made the change says so in its log
    why = {
        "user": "the process's user or groups changed",
        "hard limit": "RLIMIT_NOFILE went from soft ",
    }[changed]
    log = (worker.tmp_path / "change_for_good-3.log").read_text()
    assert log.startswith(
        f"this worker process is replaced: this try changed what cannot be put back: {why}"
    )
