"""Cancel, pause and heartbeats with real processes: a scheduler, 'headwater run', the CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater, command_env
from tests.cli.test_scheduler import SchedulerProcess, write_pipeline
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

from headwater.clock import SystemClock
from headwater.engine.runs import create_run, record_pipeline
from headwater.loader import load_pipeline
from headwater.store.sql.store import SqlStore

SLOW = """\
import time
from pathlib import Path
from headwater import Context, pipeline, task

@task(pool="warehouse")
def slow(ctx: Context) -> None:
    Path(ctx.params["marks"]).write_text("started")
    for _ in range(600):  # a minute, in small sleeps: a thread can be stopped between them
        time.sleep(0.1)

@task
def load() -> None:
    pass

@pipeline(params={"marks": "MARKS"})
def slow_one() -> None:
    slow() >> load()
"""


def write_slow(folder: Path, marks: Path) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "slow_one.py"
    path.write_text(SLOW.replace("MARKS", str(marks)))
    return path


def queue_run(store: SqlStore, path: Path) -> str:
    """A queued run of the file's pipeline, as 'headwater trigger' makes (in-process)."""
    pipeline = load_pipeline(f"{path}:slow_one")
    return create_run(store, pipeline, clock=SystemClock(), triggered_by="test").run_id


def cancelled_as_expected(store: SqlStore, run_id: str, reason: str) -> None:
    run = store.get_run(run_id)
    assert run.state == "failed"
    assert run.note is not None
    assert run.note.endswith(f": {reason}")
    assert run.note.startswith("cancelled by ")
    states = {i.task_id: (i.state, i.error) for i in store.get_task_instances(run_id)}
    assert states == {
        "slow": ("failed", f"cancelled: {run.note}"),
        "load": ("skipped", f"cancelled: {run.note}"),
    }


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_run_driven_by_a_scheduler_is_cancelled_from_another_process(
    executor: str,
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    pipelines, marks = tmp_path / "pipelines", tmp_path / "started"
    path = write_slow(pipelines, marks)
    store_of().set_pool("warehouse", 1, None, datetime.now(UTC))
    run_id = queue_run(store_of(), path)
    scheduler = SchedulerProcess(
        command_server, tmp_path / "home", pipelines, tmp_path, "5", "--executor", executor
    )
    try:
        wait_until(marks.exists)
        cancel = headwater("cancel", run_id, "--reason", "wrong day")
        assert cancel.code == 0, cancel.stderr
        assert "cancel requested" in cancel.stdout
        wait_until(lambda: store_of().get_run(run_id).state == "failed")
        ended = store_of().get_run(run_id)
        assert ended.cancel_requested_at is not None
        assert ended.ended_at is not None
        # about a second (more on a busy machine)
        assert ended.ended_at - ended.cancel_requested_at < timedelta(seconds=5)
        cancelled_as_expected(store_of(), run_id, "wrong day")
        # the try's slot is given back once its code returned (a killed worker: at once)
        wait_until(lambda: store_of().list_pools(datetime.now(UTC))[0].in_use == 0)
        shown = headwater("runs", "show", run_id, "--json")
        assert shown.json()["note"] == store_of().get_run(run_id).note
        # the scheduler says it is alive
        (beat,) = store_of().heartbeats()
        assert beat.stopped_at is None
        assert beat.pid == scheduler.process.pid
    finally:
        assert scheduler.stop() == 0
    (beat,) = store_of().heartbeats()
    assert beat.stopped_at is not None


def test_headwater_run_in_one_terminal_is_cancelled_from_another(
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    marks = tmp_path / "started"
    path = write_slow(tmp_path / "pipelines", marks)
    store_of().set_pool("warehouse", 1, None, datetime.now(UTC))
    running = command_server.popen(
        ["run", f"{path}:slow_one"],
        cwd=tmp_path,
        env=command_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(marks.exists)
        (run,) = store_of().list_runs("slow_one")
        assert headwater("cancel", run.run_id).code == 0
        stdout, _ = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    assert running.returncode == 1
    assert "FAILED" in stdout
    note = store_of().get_run(run.run_id).note
    assert note is not None
    assert note.startswith("cancelled by ")
    # (the try's thread ended with the process: its slot's lease is reaped by a
    # scheduler on this host at once, elsewhere when it expires)


def test_a_queued_run_is_cancelled_at_once_and_bad_requests_say_why(
    tmp_path: Path, headwater: Headwater, store_of: Callable[[], SqlStore]
) -> None:
    path = write_slow(tmp_path / "pipelines", tmp_path / "started")
    run_id = queue_run(store_of(), path)
    done = headwater("cancel", run_id, "--json")
    assert done.code == 0, done.stderr
    assert done.json()["state"] == "failed"
    assert done.json()["ended_now"] is True
    shown = headwater("runs", "show", run_id)
    assert "note: cancelled by" in shown.stdout
    again = headwater("cancel", run_id)
    assert (again.code, again.stderr.strip()) == (
        2,
        f"headwater: error: run {run_id!r} already ended failed; nothing to cancel",
    )


def test_pipelines_are_listed_and_an_unknown_one_is_named(
    tmp_path: Path, headwater: Headwater, store_of: Callable[[], SqlStore]
) -> None:
    path = write_slow(tmp_path / "pipelines", tmp_path / "started")
    record_pipeline(store_of(), load_pipeline(f"{path}:slow_one"), datetime.now(UTC))
    store_of().set_paused("slow_one", True)
    listed = headwater("pipelines", "list", "--json").json()
    assert [(p["pipeline"], p["paused"], p["last_run"]) for p in listed] == [
        ("slow_one", True, None)
    ]
    unknown = headwater("pause", "nope")
    assert unknown.code == 2
    assert "no pipeline 'nope' in the metadata store; known: slow_one." in unknown.stderr


def test_a_paused_pipeline_gets_no_runs_from_a_real_scheduler_until_unpaused(
    tmp_path: Path,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    pipelines, marks = tmp_path / "pipelines", tmp_path / "marks.txt"
    write_pipeline(pipelines, marks, sleep=0)  # every second, since 2026-01-01, no catchup
    write_slow(pipelines, tmp_path / "started")
    # a pipeline never run is recorded when named by its file
    paused = headwater("pause", str(pipelines / "every_second.py"))
    assert paused.code == 0, paused.stderr
    assert store_of().get_pipeline("every_second").paused
    scheduler = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    try:
        # a manual run of a paused pipeline still runs: proof that ticks went by
        pipeline = load_pipeline(str(pipelines / "every_second.py"))
        triggered = create_run(store_of(), pipeline, clock=SystemClock()).run_id
        wait_until(lambda: store_of().get_run(triggered).state == "success")
        wait_until(lambda: store_of().heartbeats() != [])
        assert [r.run_type for r in store_of().list_runs("every_second")] == ["manual"]
        unpaused_at = datetime.now(UTC)
        assert headwater("unpause", "every_second").code == 0
        wait_until(lambda: len(store_of().list_runs("every_second")) >= 2)
    finally:
        assert scheduler.stop() == 0
    scheduled = [r for r in store_of().list_runs("every_second") if r.run_type == "scheduled"]
    # no stampede of the months it was paused: only intervals from about now
    assert scheduled
    assert all(r.logical_date > unpaused_at - timedelta(seconds=10) for r in scheduled)


def test_backfills_cancel(
    tmp_path: Path, headwater: Headwater, store_of: Callable[[], SqlStore]
) -> None:
    pipelines, marks = tmp_path / "pipelines", tmp_path / "marks.txt"
    write_pipeline(pipelines, marks, sleep=0)
    started = headwater(
        "backfill",
        "every_second",
        "--pipelines",
        str(pipelines),
        "--start",
        "2026-01-01T00:00:00",
        "--end",
        "2026-01-01T00:00:05",
        "--detach",
        "--json",
    )
    assert started.code == 0, started.stderr
    backfill_id = started.json()["backfill_id"]
    cancelled = headwater("backfills", "cancel", backfill_id, "--json")
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.json()["state"] == "cancelled"
    assert store_of().list_backfills(state="cancelled")[0].backfill_id == backfill_id
    again = headwater("backfills", "cancel", backfill_id)
    assert again.code == 2
    assert "already ended cancelled" in again.stderr
