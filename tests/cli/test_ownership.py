"""One owner per run, seen from the outside: real schedulers, real signals, real kills.

Each test reproduces a way in which a try ran twice, or a run waited or never finished:
a result that takes longer to store than a lease lasts, a rolling restart, a scheduler
killed and restarted, and Ctrl-C on ``headwater run``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater, command_env
from tests.cli.test_scheduler import SchedulerProcess
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

from headwater.store.sql.store import SqlStore

SLOW_RESULT = """\
import time
from headwater import Context, pipeline, task

MARKS = {marks!r}


class Slow:
    \"\"\"A value that takes seconds to pickle, as a large DataFrame takes to upload.\"\"\"

    def __reduce__(self):
        time.sleep({seconds})
        return (Slow, ())


def mark(text):
    with open(MARKS, "a") as out:
        out.write(text + "\\n")


@task
def extract(ctx: Context) -> Slow:
    mark(f"extract {{ctx.try_number}}")
    return Slow()


@task
def load(value: Slow, ctx: Context) -> str:
    mark(f"load {{ctx.try_number}}")
    return "loaded"


@pipeline
def slow_result() -> None:
    load(extract())
"""

LONG_TRY = """\
import os
import time
from headwater import Context, pipeline, task

MARKS = {marks!r}


def mark(text):
    with open(MARKS, "a") as out:
        out.write(text + "\\n")


@task
def long(ctx: Context) -> str:
    mark(f"start {{ctx.try_number}} {{os.getpid()}} {{time.time()}}")
    time.sleep({seconds} if ctx.try_number == 1 else {again})
    mark(f"end {{ctx.try_number}} {{time.time()}}")
    return "done"


@pipeline
def long_try() -> None:
    long()
"""

PRINTING = """\
import time
from pathlib import Path
from headwater import Context, pipeline, task

STARTED = {started!r}
QUICK = {quick!r}


@task
def chatty(ctx: Context) -> int:
    Path(STARTED).write_text("started")
    count = 0
    while not Path(QUICK).exists() and count < 3000:
        print("line", count)
        count += 1
        time.sleep(0.01)
    return count


@pipeline
def printing() -> None:
    chatty()
"""


def marks_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def triggered(tmp_path: Path, headwater: Headwater, name: str, source: str) -> tuple[Path, str]:
    """The pipelines folder holding ``source`` as ``name``.py, and a run of it triggered."""
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / f"{name}.py").write_text(source)
    queued = headwater("trigger", name, "--pipelines", str(pipelines), "--json")
    return pipelines, queued.json()["run_id"]


def first_try_started(marks: Path) -> bool:
    return any(line.startswith("start 1") for line in marks_of(marks))


def test_a_result_slower_to_store_than_a_lease_runs_its_task_once(
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    # Given: a 2 s lease, and an extract whose result takes 4 s to store
    marks = tmp_path / "marks.txt"
    source = SLOW_RESULT.format(marks=str(marks), seconds=4)
    pipelines, run_id = triggered(tmp_path, headwater, "slow_result", source)

    # When: a scheduler drives the run
    scheduler = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path, "2")
    try:
        wait_until(lambda: store_of().get_run(run_id).state in ("success", "failed"), 60)
    finally:
        assert scheduler.stop() == 0

    # Then: each task ran once, load after extract's success was recorded
    assert store_of().get_run(run_id).state == "success"
    assert marks_of(marks) == ["extract 1", "load 1"]
    assert "already driven" not in scheduler.log.read_text()


def test_a_rolling_restart_never_runs_a_try_twice_at_once(
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    # Given: scheduler A (1 s of grace) runs an 8 s try (its retry, 0.5 s); leases last 30 s
    marks = tmp_path / "marks.txt"
    source = LONG_TRY.format(marks=str(marks), seconds=8, again=0.5)
    pipelines, run_id = triggered(tmp_path, headwater, "long_try", source)
    home = tmp_path / "home"
    first = SchedulerProcess(command_server, home, pipelines, tmp_path, "30", "--grace", "1")
    wait_until(lambda: first_try_started(marks))

    # When: A is told to stop and B starts at once (a rolling restart)
    first.process.send_signal(signal.SIGTERM)
    second = SchedulerProcess(command_server, home, pipelines, tmp_path, "30")
    try:
        assert first.process.wait(timeout=30) == 0
        exited = time.time()
        wait_until(lambda: store_of().get_run(run_id).state == "success", 60)
    finally:
        first.stop()
        assert second.stop() == 0

    # Then: A ended its try with itself past the grace period, without handing the run
    # back while it ran; B started try 2 after A was gone, at once (same host)
    lines = marks_of(marks)
    assert [line.split()[:2] for line in lines] == [["start", "1"], ["start", "2"], ["end", "2"]]
    started_again = float(lines[1].split()[3])
    assert started_again >= exited
    assert started_again - exited < 10  # not after the 30 s lease
    assert "still running after 1.0s" in first.log.read_text()


def test_a_restarted_scheduler_takes_over_a_killed_ones_run_at_once(
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    # Given: a scheduler, with 30 s leases, killed while a try runs
    marks = tmp_path / "marks.txt"
    source = LONG_TRY.format(marks=str(marks), seconds=1, again=1)
    pipelines, run_id = triggered(tmp_path, headwater, "long_try", source)
    home = tmp_path / "home"
    first = SchedulerProcess(command_server, home, pipelines, tmp_path, "30")
    wait_until(lambda: first_try_started(marks))
    first.stop(signal.SIGKILL)
    killed = time.monotonic()

    # When: a new scheduler starts on the same host
    second = SchedulerProcess(command_server, home, pipelines, tmp_path, "30")
    try:
        wait_until(lambda: store_of().get_run(run_id).state == "success", 60)
        took = time.monotonic() - killed
    finally:
        assert second.stop() == 0

    # Then: it did not wait for the dead one's lease to expire
    assert took < 15
    assert "is gone: taking over its runs now" in second.log.read_text()
    tries = store_of().get_tries(run_id, "long")
    assert [t.state for t in tries] == ["failed", "success"]
    assert tries[0].error is not None
    assert tries[0].error.startswith("interrupted")


def start_run(tmp_path: Path, source: Path) -> subprocess.Popen[str]:
    # a process started from scratch: these tests look for crashes at the interpreter's
    # exit, which a forked command skips (see tests/forked_commands.py)
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", str(source), "--json"],
        cwd=tmp_path,
        env=command_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def printing_pipeline(tmp_path: Path) -> tuple[Path, Path, Path]:
    started, quick = tmp_path / "started", tmp_path / "quick"
    source = tmp_path / "printing.py"
    source.write_text(PRINTING.format(started=str(started), quick=str(quick)))
    return source, started, quick


def test_ctrl_c_exits_130_within_seconds_and_the_run_resumes(
    tmp_path: Path, headwater: Headwater
) -> None:
    # Given: a run whose thread task prints for up to 30 s
    source, started, quick = printing_pipeline(tmp_path)
    process = start_run(tmp_path, source)
    wait_until(started.exists)

    # When: Ctrl-C
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    # Then: exit 130 within a few seconds, saying how to go on
    assert process.returncode == 130, stderr
    assert time.monotonic() - sent < 6
    assert "headwater resume " in stderr
    run_id = stderr.split("headwater resume ")[1].split()[0]
    assert "Traceback" not in stderr

    # and the run resumes: the interrupted try is closed, a new one succeeds
    quick.write_text("now")
    resumed = headwater("resume", run_id, "--json")
    assert resumed.code == 0, resumed.stderr
    history = resumed.json()["tasks"]["chatty"]["history"]
    assert [t["state"] for t in history] == ["failed", "success"]
    assert history[0]["error"].startswith("interrupted")


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    source, started, _ = printing_pipeline(tmp_path)
    process = start_run(tmp_path, source)
    wait_until(started.exists)

    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130, stderr
    assert time.monotonic() - sent < 1.5
    assert "interrupted again: exiting now" in stderr


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_during_a_printing_thread_task_never_crashes(tmp_path: Path, attempt: int) -> None:
    source, started, _ = printing_pipeline(tmp_path)
    process = start_run(tmp_path, source)
    wait_until(started.exists)
    time.sleep(0.1 * attempt)

    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130, stderr  # not -11 (SIGSEGV)
    assert "Fatal Python error" not in stderr
