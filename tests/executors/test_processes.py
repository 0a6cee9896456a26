"""The process executor: tries in spawned workers that import the pipeline's module.

A worker that dies fails only the try it was running; a try past its timeout has its
worker killed; results cross the process boundary by pickle. The pipelines live in
``tests/resources/executors`` so that the workers can import them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from headwater.executors.base import TryOutcome
from headwater.executors.processes import ProcessExecutor, describe_exit
from headwater.testing import TestRun, run_pipeline_test
from tests.resources.executors.crashing_worker import crashing_worker
from tests.resources.executors.printing import printing
from tests.resources.executors.process_results import process_results
from tests.resources.executors.slow_worker import slow_worker


def log_of(run: TestRun, task_id: str, try_number: int) -> str:
    assert run.home is not None
    path = run.home / "logs" / run.pipeline_id / run.run_id / task_id / f"try-{try_number}.log"
    return path.read_text()


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> TestRun:
    """One run of ``crashing_worker``: workers exit and segfault under it."""
    return run_pipeline_test(
        crashing_worker, executor="process", home=tmp_path_factory.mktemp("crashed")
    )


def test_a_worker_that_exits_fails_only_that_try(crashed: TestRun) -> None:
    result = crashed.tasks["exits_once"]
    assert (result.state, result.tries, result.result) == ("success", 2, "second try")
    assert "the worker process died (exit code 1)" in log_of(crashed, "exits_once", 1)


def test_a_segfault_fails_the_try_naming_the_signal(crashed: TestRun) -> None:
    result = crashed.tasks["segfaults"]
    assert result.state == "failed"
    assert result.tries == 1
    assert result.error == (
        "WorkerCrashedError: the worker process running this try died (signal SIGSEGV)"
    )
    assert "the worker process died (signal SIGSEGV)" in log_of(crashed, "segfaults", 1)


def test_the_run_carries_on_after_workers_crash(crashed: TestRun) -> None:
    assert crashed.state_of("after_segfault") == "upstream_failed"
    assert crashed.result("bystander") == 42
    assert crashed.state == "failed"


def test_a_try_past_its_timeout_has_its_worker_killed(tmp_path: Path) -> None:
    # When: the first try sleeps 60 s under a timeout of 1 s, the second returns at once
    run = run_pipeline_test(slow_worker, executor="process", home=tmp_path)

    # Then: the first try failed on its timeout and the retry succeeded in another worker
    result = run.tasks["sleeps_once"]
    assert (result.state, result.tries) == ("success", 2)
    first_log = log_of(run, "sleeps_once", 1)
    assert "timed out after 0:00:01; the try was stopped" in first_log
    killed_pid = int(first_log.split("pid=")[1].split()[0])
    assert run.result("sleeps_once") != killed_pid
    # the worker that ran the first try is gone (killed, and reaped by the executor)
    with pytest.raises(ProcessLookupError):
        os.kill(killed_pid, 0)


def test_results_cross_the_process_boundary(tmp_path: Path) -> None:
    run = run_pipeline_test(process_results, executor="process", home=tmp_path)

    assert run.result("small") == {"rows": 3}
    assert run.result("pair") == (1, "one")
    assert run.result("big") == list(range(30_000))
    assert run.result("combine") == "3 (1, 'one') 30000 Point(1,2)"
    unpicklable = run.tasks["unpicklable"]
    assert unpicklable.state == "failed"
    assert unpicklable.error is not None
    assert unpicklable.error.startswith(
        "the result of task 'unpicklable' cannot be sent back from the worker process: "
    )


def test_print_output_in_a_worker_goes_to_the_try_log(tmp_path: Path) -> None:
    run = run_pipeline_test(printing, executor="process", home=tmp_path)

    log = log_of(run, "chatty", 1)
    assert "printed from the task\n" in log
    assert "INFO logged on try 1" in log
    assert run.result("chatty") == "done"


def test_the_executor_releases_its_file_descriptors() -> None:
    def open_pipes() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")
            except OSError:
                continue  # the listing's own descriptor, already closed
        return count

    outcomes: list[TryOutcome] = []
    before = open_pipes()
    for _ in range(2):
        executor = ProcessExecutor(1)
        executor.start(outcomes.append)
        executor.shutdown()

    assert open_pipes() == before
    assert outcomes == []


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (1, "exit code 1"),
        (-11, "signal SIGSEGV"),
        (-9, "signal SIGKILL"),
        (-99, "signal 99"),
        (None, "an unknown cause"),
    ],
)
def test_describe_exit(code: int | None, text: str) -> None:
    assert describe_exit(code) == text
