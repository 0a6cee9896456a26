"""The thread executor: timeouts stop the try's thread; print output goes to the try's log.

Timeouts are measured on the real clock, so these tests use short ones (a fraction of a
second) and tasks that would otherwise run for many seconds.
"""

from __future__ import annotations

import io
import queue
import sys
import threading
import time
from pathlib import Path

import pytest

from headwater import ConfigError, Context, pipeline, task
from headwater.config import Settings
from headwater.executors.base import TryOutcome
from headwater.executors.factory import create_executor
from headwater.executors.processes import ProcessExecutor
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.testing import run_pipeline_test
from tests.executors.requests import try_request
from tests.resources.executors.log_trouble import log_trouble


def test_a_task_running_past_its_timeout_fails_and_is_retried(
    tmp_path: Path, migrated_home: Path
) -> None:
    # Given: a first try that would run for 30 s, with a timeout of 0.3 s and one retry
    stopped = threading.Event()
    finished_loop: list[int] = []

    @task(timeout=0.3, retries=1, retry_delay=0)
    def slow(ctx: Context) -> int:
        if ctx.try_number == 1:
            try:
                for _ in range(3000):
                    time.sleep(0.01)
                finished_loop.append(1)
            finally:
                stopped.set()
        return ctx.try_number

    @pipeline
    def timed() -> None:
        slow()

    # When
    run = run_pipeline_test(timed, home=migrated_home)

    # Then: the first try failed on its timeout, the retry succeeded
    assert run.tasks["slow"].state == "success"
    assert run.tasks["slow"].tries == 2
    assert run.result("slow") == 2
    # and the thread running the first try was stopped, not left to finish
    assert stopped.wait(timeout=10)
    assert finished_loop == []
    first_log = tmp_path / "logs" / "timed" / run.run_id / "slow" / "try-1.log"
    text = first_log.read_text()
    assert "timed out after 0:00:00.300000; the try was stopped" in text
    assert "TaskTimeoutError" in text


def test_a_timeout_without_retries_fails_the_task(migrated_home: Path) -> None:
    release = threading.Event()

    @task(timeout=0.2)
    def stuck() -> None:
        while not release.is_set():
            time.sleep(0.01)

    @task
    def after() -> None:
        return None

    @task
    def unrelated() -> str:
        return "fine"

    @pipeline
    def timed_out() -> None:
        stuck() >> after()
        unrelated()

    run = run_pipeline_test(timed_out, home=migrated_home)
    release.set()

    assert run.tasks["stuck"].state == "failed"
    assert run.tasks["stuck"].error == (
        "TaskTimeoutError: task ran longer than its timeout of 0:00:00.200000"
    )
    assert run.state_of("after") == "upstream_failed"
    assert run.result("unrelated") == "fine"
    assert run.state == "failed"


def test_a_try_blocked_in_a_c_call_is_failed_on_time(migrated_home: Path) -> None:
    # Given: a try blocked in a lock wait, which no exception can interrupt
    release = threading.Event()

    @task(timeout=0.2)
    def blocked() -> bool:
        return release.wait(timeout=60)

    @pipeline
    def waiting() -> None:
        blocked()

    # When
    started = time.monotonic()
    try:
        run = run_pipeline_test(waiting, home=migrated_home)
        elapsed = time.monotonic() - started
    finally:
        release.set()  # lets the abandoned thread end

    # Then: the engine did not wait for the thread to return
    assert elapsed < 5  # the run ended at its timeout, not when the thread returned
    assert run.tasks["blocked"].state == "failed"
    assert run.tasks["blocked"].error == (
        "TaskTimeoutError: task ran longer than its timeout of 0:00:00.200000"
    )


def test_print_output_goes_to_the_try_log(
    tmp_path: Path, migrated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    @task
    def chatty(ctx: Context) -> None:
        print("hello from", ctx.task_id)

    @pipeline
    def printing() -> None:
        chatty()

    run = run_pipeline_test(printing, home=migrated_home)

    log = tmp_path / "logs" / "printing" / run.run_id / "chatty" / "try-1.log"
    assert log.read_text() == "hello from chatty\n"
    assert "hello from" not in capsys.readouterr().out
    print("after the run")
    assert capsys.readouterr().out == "after the run\n"  # stdout is given back


def test_at_most_max_concurrency_tries_run_at_once(tmp_path: Path) -> None:
    # Each try waits for a second one to be running too, so two run side by side
    pairs = threading.Barrier(2)
    lock = threading.Lock()
    running = [0]
    highest = [0]

    @task
    def busy(n: int) -> int:
        with lock:
            running[0] += 1
            highest[0] = max(highest[0], running[0])
        pairs.wait(timeout=10)
        with lock:
            running[0] -= 1
        return n

    @pipeline
    def crowded() -> None:
        busy.map(list(range(8)))

    runtime = Runtime(Settings.for_home(tmp_path))
    try:
        run = runtime.create_run(crowded)
        finished = runtime.engine(crowded, max_concurrency=2).drive(run.run_id)
    finally:
        runtime.close()

    assert finished.state == "success"
    assert highest[0] == 2


def test_executors_are_chosen_by_name() -> None:
    assert isinstance(create_executor("thread", max_concurrency=3), ThreadExecutor)
    assert create_executor("thread", max_concurrency=3).max_concurrency == 3
    assert isinstance(create_executor("process", max_concurrency=1), ProcessExecutor)
    with pytest.raises(
        ConfigError, match="unknown executor 'celery'; choose one of thread, process"
    ):
        create_executor("celery")


class Terminal(io.StringIO):
    """Stands in for a terminal on sys.stdout."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1


def test_while_tries_run_other_threads_still_see_the_terminal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given: a terminal on sys.stdout (the progress bar draws only on one)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    seen_by_try: list[bool] = []
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    executor = ThreadExecutor(1)
    executor.start(outcomes.put)
    try:
        # When: a try asks, and this thread asks
        request = try_request(log_trouble, "silent", tmp_path)
        executor.submit(request, lambda: seen_by_try.append(sys.stdout.isatty()))
        assert outcomes.get(timeout=30).ok
        routed = sys.stdout
        seen_here = (routed.isatty(), routed.fileno())
        print("to the terminal")
    finally:
        executor.shutdown()

    # Then: the try's output is its log, not a terminal; this thread's is the terminal
    assert seen_by_try == [False]
    assert routed is not terminal
    assert seen_here == (True, 1)
    assert terminal.getvalue() == "to the terminal\n"
    assert sys.stdout is terminal  # given back


def test_a_try_cancelled_before_it_starts_never_runs(tmp_path: Path) -> None:
    # Given: one thread, busy with a first try; a second try waits for it
    release = threading.Event()
    ran: list[str] = []
    outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
    executor = ThreadExecutor(1)
    executor.start(outcomes.put)
    try:
        first = try_request(log_trouble, "silent", tmp_path, try_number=1)
        second = try_request(log_trouble, "silent", tmp_path, try_number=2)
        executor.submit(first, lambda: release.wait(30))
        executor.submit(second, lambda: ran.append("second"))

        # When: the second is cancelled, then the first ends
        executor.cancel(second.key)
        release.set()
        assert outcomes.get(timeout=30).key == first.key
        third = try_request(log_trouble, "silent", tmp_path, try_number=3)
        executor.submit(third, lambda: ran.append("third"))
        assert outcomes.get(timeout=30).key == third.key
    finally:
        executor.shutdown()

    # Then: the second try never ran, nor was reported
    assert ran == ["third"]
    assert outcomes.empty()
