"""A try's log: private, and never the reason a try goes unreported.

Whatever goes wrong around a try (its log cannot be created or written, its call cannot
be prepared, it raises a ``BaseException``), the try ends with exactly one outcome, on
both executors. Bad logs are made three ways: a folder on the path that is a regular file,
a file name too long for the file system, and a log that is a link to ``/dev/full`` (a
full disk).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.clock import SystemClock
from headwater.errors import TryLogError
from headwater.executors.base import Executor, TryOutcome, TryRequest
from headwater.executors.invoke import capture_print_output, execute_try, release_print_output
from headwater.executors.processes import ProcessExecutor
from headwater.executors.threads import ThreadExecutor
from headwater.executors.try_log import TryLog
from tests.executors.requests import try_request
from tests.resources.executors.log_trouble import log_trouble


@dataclasses.dataclass(frozen=True)
class BadLog:
    path: str
    reason: str  # how the error names the cause

    @property
    def error(self) -> str:
        return (
            f"TryLogError: cannot write the try's log {self.path!r}: {self.reason}; check "
            "that the logs folder can be written and that its disk has space"
        )


def folder_is_a_file(tmp_path: Path) -> BadLog:
    (tmp_path / "task").write_text("a file where a folder should be")
    folder = str(tmp_path / "task")
    return BadLog(str(tmp_path / "task" / "try-1.log"), f"{folder!r} is not a folder")


def name_too_long(tmp_path: Path) -> BadLog:
    return BadLog(str(tmp_path / ("t" * 300 + ".log")), "File name too long (ENAMETOOLONG)")


def disk_full(tmp_path: Path) -> BadLog:
    (tmp_path / "try-1.log").symlink_to("/dev/full")
    return BadLog(str(tmp_path / "try-1.log"), "No space left on device (ENOSPC)")


BAD_LOGS = [folder_is_a_file, name_too_long, disk_full]


@pytest.fixture(params=BAD_LOGS, ids=lambda make: make.__name__)
def bad_log(request: pytest.FixtureRequest, tmp_path: Path) -> BadLog:
    make: Callable[[Path], BadLog] = request.param
    return make(tmp_path)


def run_in_this_thread(task_id: str, tmp_path: Path, log_path: str) -> TryOutcome:
    """Run one try here, its print output routed to its log as an executor does."""
    request = try_request(log_trouble, task_id, tmp_path, log_path=log_path)
    capture_print_output()
    try:
        return execute_try(request, log_trouble.plan.node(task_id).fn, SystemClock())
    finally:
        release_print_output()


# execute_try on its own


def test_a_try_that_prints_to_a_log_it_cannot_write_fails_naming_the_log(
    bad_log: BadLog, tmp_path: Path
) -> None:
    outcome = run_in_this_thread("prints", tmp_path, bad_log.path)

    assert not outcome.ok
    assert outcome.error == bad_log.error
    assert outcome.traceback is not None
    assert 'print("a line for the log")' in outcome.traceback  # where the task lost it


def test_a_try_that_logs_to_a_log_it_cannot_write_fails_naming_the_log(
    bad_log: BadLog, tmp_path: Path
) -> None:
    # ctx.log swallows the error (as logging does), so the task returns; its try fails
    outcome = run_in_this_thread("logs", tmp_path, bad_log.path)

    assert not outcome.ok
    assert outcome.error == bad_log.error
    assert outcome.value is None


def test_a_task_error_is_kept_when_its_traceback_cannot_be_logged(
    bad_log: BadLog, tmp_path: Path
) -> None:
    outcome = run_in_this_thread("raises", tmp_path, bad_log.path)

    assert not outcome.ok
    assert outcome.error == "ValueError: the task's own error"
    assert outcome.traceback is not None
    assert outcome.traceback.startswith("Traceback (most recent call last):")
    assert outcome.traceback.endswith(
        f"ValueError: the task's own error\n({bad_log.error.removeprefix('TryLogError: ')})\n"
    )


def test_a_silent_try_needs_no_log(bad_log: BadLog, tmp_path: Path) -> None:
    outcome = run_in_this_thread("silent", tmp_path, bad_log.path)

    assert (outcome.ok, outcome.value) == (True, 7)


def test_a_task_raising_system_exit_fails_only_its_try(tmp_path: Path) -> None:
    outcome = run_in_this_thread("exits", tmp_path, str(tmp_path / "exits.log"))

    assert not outcome.ok
    assert outcome.error == "SystemExit: 3"


def test_a_try_whose_call_cannot_be_prepared_fails(tmp_path: Path) -> None:
    # Given: a request whose keyword arguments are not a mapping
    request = dataclasses.replace(
        try_request(log_trouble, "silent", tmp_path),
        kwargs=None,  # type: ignore[arg-type]  # the broken request under test
    )

    # When
    outcome = execute_try(request, log_trouble.plan.node("silent").fn, SystemClock())

    # Then
    assert not outcome.ok
    assert outcome.error == "cannot run the try: TypeError: 'NoneType' object is not iterable"
    assert outcome.traceback is not None
    assert "Traceback (most recent call last):" in outcome.traceback


# The executors: exactly one outcome per try, and the next try runs


@pytest.fixture(params=["thread", "process"])
def executor(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Executor, queue.SimpleQueue[TryOutcome]]]:
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    chosen: Executor = ThreadExecutor(1) if request.param == "thread" else ProcessExecutor(1)
    chosen.start(outcomes.put)
    try:
        yield chosen, outcomes
    finally:
        chosen.shutdown()


def submit(executor: Executor, request: TryRequest) -> None:
    executor.submit(request, log_trouble.plan.node(request.task_id).fn)


@pytest.mark.parametrize("task_id", ["prints", "logs", "raises"])
def test_each_try_with_a_bad_log_reports_one_outcome_and_the_next_try_runs(
    executor: tuple[Executor, queue.SimpleQueue[TryOutcome]],
    bad_log: BadLog,
    tmp_path: Path,
    task_id: str,
) -> None:
    chosen, outcomes = executor

    # When: a try with a bad log, then one with a good log
    submit(chosen, try_request(log_trouble, task_id, tmp_path, log_path=bad_log.path))
    failed = outcomes.get(timeout=30)
    submit(chosen, try_request(log_trouble, "prints", tmp_path, try_number=2))
    succeeded = outcomes.get(timeout=30)

    # Then
    assert not failed.ok
    expected = "ValueError: the task's own error" if task_id == "raises" else bad_log.error
    assert failed.error == expected
    assert (succeeded.ok, succeeded.value) == (True, "printed")
    assert (tmp_path / "prints-2.log").read_text() == "a line for the log\n"
    assert outcomes.empty()


@pytest.mark.parametrize(
    ("task_id", "error"),
    [("interrupts", "KeyboardInterrupt: raised by the task"), ("exits", "SystemExit: 3")],
)
def test_a_task_raising_a_base_exception_fails_only_its_try(
    executor: tuple[Executor, queue.SimpleQueue[TryOutcome]],
    tmp_path: Path,
    task_id: str,
    error: str,
) -> None:
    chosen, outcomes = executor

    submit(chosen, try_request(log_trouble, task_id, tmp_path))
    failed = outcomes.get(timeout=30)
    submit(chosen, try_request(log_trouble, "silent", tmp_path))
    succeeded = outcomes.get(timeout=30)

    assert (failed.ok, failed.error) == (False, error)
    assert (succeeded.ok, succeeded.value) == (True, 7)
    assert outcomes.empty()


# Privacy


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask 022", "umask 000"])
def test_try_logs_and_their_folders_are_private(tmp_path: Path, umask: int) -> None:
    # Given: a logs folder that does not exist yet
    path = tmp_path / "logs" / "pipe" / "run" / "task" / "try-1.log"
    previous = os.umask(umask)
    try:
        # When
        log = TryLog(str(path))
        log.write("a line\n")
        log.close()
    finally:
        os.umask(previous)

    # Then: every folder it made is the owner's only, and so is the file
    for folder in path.parents:
        if folder == tmp_path:
            break
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "a line\n"


def test_a_try_log_made_by_a_worker_process_is_private(tmp_path: Path) -> None:
    previous = os.umask(0o000)  # the workers inherit it
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    executor = ProcessExecutor(1)
    try:
        executor.start(outcomes.put)
        log = tmp_path / "logs" / "prints" / "try-1.log"
        submit(executor, try_request(log_trouble, "prints", tmp_path, log_path=str(log)))
        assert outcomes.get(timeout=30).ok
    finally:
        executor.shutdown()
        os.umask(previous)

    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.parent.parent.stat().st_mode) == 0o700


def test_a_try_log_error_is_an_os_error() -> None:
    # so that code catching OSError around a print catches it too
    assert issubclass(TryLogError, OSError)
