"""The process executor: tries in worker processes that import the pipeline's module.

A worker that dies fails only the try it was running; a try past its timeout has its
worker killed; results cross the process boundary by pickle. The pipelines live in
``tests/resources/executors`` so that the workers can import them.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from headwater.executors import processes
from headwater.executors.base import TryOutcome
from headwater.executors.processes import ProcessExecutor, describe_exit
from headwater.testing import TestRun, run_pipeline_test
from tests.executors.requests import not_called, try_request, wait_for_pid
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


def test_a_try_past_its_timeout_has_its_worker_killed(migrated_home: Path) -> None:
    # When: the first try sleeps 60 s under a timeout of 3 s, the second returns at once
    run = run_pipeline_test(slow_worker, executor="process", home=migrated_home)

    # Then: the first try failed on its timeout and the retry succeeded in another worker
    result = run.tasks["sleeps_once"]
    assert (result.state, result.tries) == ("success", 2)
    first_log = log_of(run, "sleeps_once", 1)
    assert "timed out after 0:00:03; the try was stopped" in first_log
    killed_pid = int(first_log.split("pid=")[1].split()[0])
    assert run.result("sleeps_once") != killed_pid
    # the worker that ran the first try is gone (killed, and reaped by the executor)
    with pytest.raises(ProcessLookupError):
        os.kill(killed_pid, 0)


def test_results_cross_the_process_boundary(migrated_home: Path) -> None:
    run = run_pipeline_test(process_results, executor="process", home=migrated_home)

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


def test_print_output_in_a_worker_goes_to_the_try_log(migrated_home: Path) -> None:
    run = run_pipeline_test(printing, executor="process", home=migrated_home)

    log = log_of(run, "chatty", 1)
    assert "printed from the task\n" in log
    assert "INFO logged on try 1" in log
    assert run.result("chatty") == "done"


def test_the_executor_releases_its_file_descriptors() -> None:
    def open_pipes_and_sockets() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}").startswith(("pipe:", "socket:"))
            except OSError:
                continue  # the listing's own descriptor, already closed
        return count

    outcomes: list[TryOutcome] = []
    before = open_pipes_and_sockets()
    for _ in range(2):
        executor = ProcessExecutor(1)
        executor.start(outcomes.append)
        executor.shutdown()

    assert open_pipes_and_sockets() == before
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


# The executor on its own: requests in, outcomes out.


def test_a_cancelled_try_reports_nothing_and_its_worker_is_replaced(tmp_path: Path) -> None:
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    executor = ProcessExecutor(1)
    executor.start(outcomes.put)
    try:
        # Given: a try that sleeps for a minute, and its worker
        sleeping = try_request(slow_worker, "sleeps_once", tmp_path, try_number=1)
        executor.submit(sleeping, not_called)
        pid = wait_for_pid(tmp_path / "sleeps_once-1.log")

        # When: the try is cancelled, and another one submitted
        executor.cancel(sleeping.key)
        executor.submit(try_request(slow_worker, "sleeps_once", tmp_path, try_number=2), not_called)

        # Then: only the second try is reported, from another worker
        outcome = outcomes.get(timeout=30)
        assert outcome.key == ("run", 0, -1, 2)
        assert outcome.ok
        assert outcome.value != pid
        assert outcomes.empty()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        executor.shutdown()
    assert outcomes.empty()


def test_an_argument_the_worker_cannot_import_fails_only_that_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: an argument of a class that exists only in this process
    module = types.ModuleType("only_in_the_engine")
    exec("class Local:\n    pass\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "only_in_the_engine", module)
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    executor = ProcessExecutor(1)
    executor.start(outcomes.put)
    try:
        # When
        executor.submit(
            try_request(crashing_worker, "after_segfault", tmp_path, args=(module.Local(),)),
            not_called,
        )
        failed = outcomes.get(timeout=30)
        executor.submit(try_request(crashing_worker, "bystander", tmp_path), not_called)
        succeeded = outcomes.get(timeout=30)
    finally:
        executor.shutdown()

    # Then: the try failed saying why, and the worker ran the next one
    assert not failed.ok
    assert failed.error == (
        "the try cannot be read in the worker process: "
        "ModuleNotFoundError: No module named 'only_in_the_engine'"
    )
    assert (succeeded.ok, succeeded.value) == (True, 42)


def test_workers_that_die_as_they_start_fail_tries_then_the_executor_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: workers that exit with code 3 before they are ready
    monkeypatch.setattr(processes, "BOOTSTRAP", "import sys; sys.exit(3)")
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    executor = ProcessExecutor(1)
    executor.start(outcomes.put)
    errors: list[str | None] = []
    try:
        # When: tries are submitted until the executor gives up
        for number in range(1, 20):
            executor.submit(
                try_request(crashing_worker, "bystander", tmp_path, try_number=number), not_called
            )
            errors.append(outcomes.get(timeout=30).error)
            if errors[-1] is not None and errors[-1].startswith("ExecutorError"):
                break
    finally:
        executor.shutdown()

    # Then: each failed with the cause, and after 3 workers in a row the executor stopped
    # starting new ones
    assert errors[0] == (
        "WorkerCrashedError: the worker process died as it started (exit code 3; see its stderr)"
    )
    assert errors[-1] == (
        "ExecutorError: no worker process left: 3 worker processes in a row died as they "
        "started (the last: exit code 3; see their stderr)"
    )
    assert len(errors) <= 4


def test_a_report_that_raises_stops_neither_the_executor_nor_its_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: an engine whose first report fails
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    reported: list[TryOutcome] = []

    def report(outcome: TryOutcome) -> None:
        reported.append(outcome)
        if len(reported) == 1:
            raise RuntimeError("the engine could not take it")
        outcomes.put(outcome)

    executor = ProcessExecutor(1)
    executor.start(report)
    try:
        # When: two tries run, one after the other
        executor.submit(try_request(crashing_worker, "bystander", tmp_path), not_called)
        executor.submit(
            try_request(crashing_worker, "bystander", tmp_path, try_number=2), not_called
        )
        second = outcomes.get(timeout=30)
    finally:
        executor.shutdown()

    # Then: the second try was reported, and the failure logged
    assert (second.key, second.ok, second.value) == (("run", 2, -1, 2), True, 42)
    assert "reporting the outcome of try ('run', 2, -1, 1) failed" in caplog.text
    assert "RuntimeError: the engine could not take it" in caplog.text


# Scripts: a pipeline defined in __main__, and the process that runs it dying.

SCRIPT_HEADER = """
from dataclasses import dataclass

from headwater import pipeline, task


@dataclass
class Point:
    x: int
    y: int


@task
def make() -> Point:
    return Point(1, 2)


@task
def show(point: Point) -> str:
    return f"{type(point).__name__}({point.x},{point.y})"


@pipeline
def scripted() -> None:
    show(make())
"""


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_HEADER + textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HEADWATER_HOME": str(tmp_path / "home")},
        check=False,
    )


def test_a_pipeline_defined_in_a_script_runs_in_workers(tmp_path: Path) -> None:
    # Given: a script that runs its pipeline under `if __name__ == "__main__"`, with a
    # result of a class defined in the script
    body = """
    if __name__ == "__main__":
        run = scripted.test(executor="process")
        print(run.state, run.result("make"), run.result("show"))
    """

    # When
    completed = run_script(tmp_path, body)

    # Then
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "success Point(x=1, y=2) Point(1,2)"


def test_a_script_running_its_pipeline_when_imported_fails_its_tries_clearly(
    tmp_path: Path,
) -> None:
    # Given: a script that runs its pipeline at import, without the __main__ guard
    body = """
    run = scripted.test(executor="process")
    print(run.state, run.tasks["make"].error)
    """

    # When
    completed = run_script(tmp_path, body)

    # Then: the workers importing the script refuse to start workers of their own
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == (
        "failed cannot load task 'make' in the worker: ExecutorError: a process executor "
        "cannot start inside one of its worker processes; a script or pipeline file that "
        "runs a pipeline when it is imported must keep that call under "
        '`if __name__ == "__main__":`'
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_workers_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    # Given: a process whose two workers are one busy, one idle, and which then dies
    script = tmp_path / "engine.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, queue, signal, sys
            sys.path[:0] = [{str(Path(__file__).resolve().parents[2])!r}]
            from pathlib import Path
            from tests.executors.requests import not_called, try_request, wait_for_pid
            from tests.resources.executors.slow_worker import slow_worker
            from headwater.executors.processes import ProcessExecutor

            tmp = Path({str(tmp_path)!r})
            executor = ProcessExecutor(2)
            executor.start(queue.SimpleQueue().put)
            executor.submit(try_request(slow_worker, "sleeps_once", tmp), not_called)
            wait_for_pid(tmp / "sleeps_once-1.log")
            print(*(worker.process.pid for worker in executor._workers), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    )

    # When (its output goes to a file: a pipe would stay open as long as a worker lives)
    output = tmp_path / "output.txt"
    with output.open("w") as out:
        returncode = subprocess.run(
            [sys.executable, str(script)], stdout=out, stderr=out, timeout=60, check=False
        ).returncode

    # Then: both workers are gone soon after
    assert returncode == -signal.SIGKILL, output.read_text()
    pids = [int(pid) for pid in output.read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(is_running(pid) for pid in pids)


def is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
