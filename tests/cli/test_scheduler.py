"""``headwater scheduler`` and ``trigger`` as real processes: stop, kill, restart."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater, command_env
from tests.forked_commands import CommandServer

from headwater.store.records import RunRecord
from headwater.store.sql.store import SqlStore

EVERY_SECOND = """\
from datetime import timedelta
import time
from pathlib import Path
from headwater import Context, pipeline, task

@task
def work(ctx: Context) -> str:
    marks = Path(ctx.params["marks"])
    with marks.open("a") as out:
        out.write(f"{ctx.logical_date.isoformat()} {ctx.try_number}\\n")
    time.sleep(float(ctx.params["sleep"]))
    return ctx.ds

@pipeline(
    schedule=timedelta(seconds=1),
    start="2026-01-01",
    params={"marks": "MARKS", "sleep": SLEEP},
)
def every_second() -> None:
    work()
"""

MANUAL = """\
from headwater import pipeline, task

@task
def hello() -> str:
    return "hello"

@pipeline
def manual() -> None:
    hello()
"""


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


class SchedulerProcess:
    def __init__(
        self,
        server: CommandServer,
        home: Path,
        pipelines: Path,
        cwd: Path,
        lease: str = "1",
        *extra: str,
    ) -> None:
        env = command_env(home)
        env["HEADWATER_LEASE_SECONDS"] = lease
        self.log = cwd / f"scheduler-{time.monotonic_ns()}.log"
        self._output = self.log.open("w")
        self.process = server.popen(
            [
                "scheduler",
                "--pipelines",
                str(pipelines),
                "--tick",
                "0.1",
                *extra,
            ],
            cwd=cwd,
            env=env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self._output.close()
        return code


def not_held(run: RunRecord, store: SqlStore) -> bool:
    """A run a stopped scheduler handed back: nothing running, and no live lease."""
    tries = store.get_tries(run.run_id)
    return (
        run.state in ("queued", "running")
        and all(t.state != "running" for t in tries)
        and (run.lease_expires_at is None or run.lease_expires_at <= datetime.now(UTC))
    )


def write_pipeline(folder: Path, marks: Path, sleep: float) -> None:
    folder.mkdir(exist_ok=True)
    source = EVERY_SECOND.replace("MARKS", str(marks)).replace("SLEEP", str(sleep))
    (folder / "every_second.py").write_text(source)


def test_sigterm_lets_running_tries_finish_and_exits_cleanly(
    tmp_path: Path, store_of: Callable[[], SqlStore], command_server: CommandServer
) -> None:
    pipelines, marks = tmp_path / "pipelines", tmp_path / "marks.txt"
    write_pipeline(pipelines, marks, sleep=0.5)
    scheduler = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(lambda: marks.exists() and len(marks.read_text().splitlines()) >= 2)
    assert scheduler.stop(signal.SIGTERM) == 0
    store = store_of()
    runs = store.list_runs("every_second", limit=100)
    assert runs
    assert all(run.state == "success" or not_held(run, store) for run in runs)
    assert "received SIGTERM" in scheduler.log.read_text()


def test_a_killed_scheduler_restarts_without_skipping_or_repeating_intervals(
    tmp_path: Path, store_of: Callable[[], SqlStore], command_server: CommandServer
) -> None:
    pipelines, marks = tmp_path / "pipelines", tmp_path / "marks.txt"
    write_pipeline(pipelines, marks, sleep=0.3)
    first = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(lambda: marks.exists() and len(marks.read_text().splitlines()) >= 3)
    first.stop(signal.SIGKILL)
    stuck = [r for r in store_of().list_runs("every_second", limit=100) if r.state == "running"]

    second = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(
        lambda: all(store_of().get_run(run.run_id).state == "success" for run in stuck),
        timeout=30,
    )
    time.sleep(1.5)  # let it schedule a few more intervals on its own
    assert second.stop(signal.SIGTERM) == 0

    runs = store_of().list_runs("every_second", limit=1000)
    dates = sorted(run.logical_date for run in runs)
    assert len(dates) == len(set(dates))  # no interval twice
    # consecutive scheduled intervals: each starts where the previous one ended
    ordered = sorted(runs, key=lambda run: run.logical_date)
    for before, after in itertools.pairwise(ordered):
        assert after.data_interval_start >= before.data_interval_end
    assert all(run.state == "success" or not_held(run, store_of()) for run in runs)


def test_trigger_queues_a_run_that_the_scheduler_starts_and_refuses_a_second(
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "manual.py").write_text(MANUAL)
    queued = headwater(
        "trigger", "manual", "--pipelines", str(pipelines), "--date", "2026-01-05", "--json"
    )
    assert queued.code == 0, queued.stderr
    run_id = queued.json()["run_id"]
    again = headwater("trigger", "manual", "--pipelines", str(pipelines), "--date", "2026-01-05")
    assert again.code == 2
    assert run_id in again.stderr
    assert "already has a run" in again.stderr

    scheduler = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(lambda: store_of().get_run(run_id).state == "success")
    assert scheduler.stop() == 0
    assert json.loads(json.dumps(queued.json()))["state"] == "queued"


def test_a_broken_pipeline_file_does_not_stop_the_others(
    tmp_path: Path, store_of: Callable[[], SqlStore], command_server: CommandServer
) -> None:
    pipelines, marks = tmp_path / "pipelines", tmp_path / "marks.txt"
    write_pipeline(pipelines, marks, sleep=0)
    (pipelines / "broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    scheduler = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(lambda: marks.exists() and len(marks.read_text().splitlines()) >= 2)
    assert scheduler.stop() == 0
    log = scheduler.log.read_text()
    assert "broken.py:1: RuntimeError: broken on purpose" in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tick", "-1"), "Invalid value for '--tick': must be a number of seconds from 0"),
        (("--tick", "0"), "got 0.0"),
        (("--tick", "nan"), "got nan"),
        (("--max-runs", "0"), "Invalid value for '--max-runs': 0 is not in the range x>=1"),
    ],
)
def test_the_scheduler_refuses_numbers_out_of_range(
    headwater: Headwater, args: tuple[str, ...], message: str
) -> None:
    result = headwater("scheduler", *args, timeout=30)
    assert result.code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
