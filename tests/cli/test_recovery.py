"""``retry``, ``clear`` and ``resume``: repairing runs without redoing what succeeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import Headwater, command_env

from headwater.config import Settings
from headwater.store.sql.store import SqlStore


def test_retry_reruns_only_what_failed(
    headwater: Headwater, resources: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    failed = headwater("run", str(resources / "gated.py"), "--param", f"gate={gate}", "--json")
    assert failed.code == 1
    body = failed.json()
    assert body["tasks"]["load"]["state"] == "failed"
    assert body["tasks"]["report"]["state"] == "upstream_failed"
    assert body["tasks"]["notify"]["state"] == "success"

    gate.write_text("open")
    retried = headwater("retry", body["run_id"], "--json")

    assert retried.code == 0, retried.stdout + retried.stderr
    tasks = retried.json()["tasks"]
    assert retried.json()["state"] == "success"
    assert tasks["extract"]["tries"] == 1  # succeeded before, not below a failure: kept
    # notify (all_done) is below load: it runs again, to report the repaired outcome
    assert tasks["notify"]["tries"] == 2
    assert tasks["load"] == {**tasks["load"], "state": "success", "tries": 2}
    assert tasks["report"]["state"] == "success"
    assert tasks["report"]["tries"] == 1


def test_clear_with_downstream_runs_the_tasks_again(headwater: Headwater, resources: Path) -> None:
    run = headwater("run", str(resources / "ok.py"), "--json").json()
    cleared = headwater("clear", run["run_id"], "extract", "--downstream", "--json")
    assert cleared.code == 0, cleared.stderr
    tasks = cleared.json()["tasks"]
    assert tasks["extract"]["tries"] == 2
    assert tasks["double"]["tries"] == 2
    assert tasks["square[0]"]["tries"] == 2

    only = headwater("clear", run["run_id"], "double", "--json").json()["tasks"]
    assert (only["extract"]["tries"], only["double"]["tries"]) == (2, 3)


def test_clear_without_running_resets_and_resume_finishes(
    headwater: Headwater, resources: Path
) -> None:
    run = headwater("run", str(resources / "ok.py"), "--json").json()
    reset = headwater("clear", run["run_id"], "double", "--no-run")
    assert reset.code == 0
    shown = headwater("runs", "show", run["run_id"], "--json").json()
    assert shown["state"] == "queued"
    assert shown["tasks"]["double"]["state"] == "none"
    resumed = headwater("resume", run["run_id"], "--json")
    assert resumed.code == 0
    assert resumed.json()["tasks"]["double"] == {
        **resumed.json()["tasks"]["double"],
        "state": "success",
        "tries": 2,
    }


def test_clear_names_unknown_tasks(headwater: Headwater, resources: Path) -> None:
    run = headwater("run", str(resources / "ok.py"), "--json").json()
    result = headwater("clear", run["run_id"], "nope")
    assert result.code == 2
    assert "has no task 'nope'" in result.stderr


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_run_killed_mid_way_resumes_without_redoing_work(
    headwater: Headwater, resources: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    home = tmp_path / "home"
    # Given a run whose third task is running when its process is killed with SIGKILL
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headwater",
            "run",
            str(resources / "slow_chain.py"),
            "--param",
            f"marks={marks}",
            "--json",
        ],
        cwd=tmp_path,
        env=command_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(Path(f"{marks}.blocked"))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    listed = headwater("runs", "list", "--json").json()
    assert [run["state"] for run in listed] == ["running"]
    run_id = listed[0]["run_id"]

    # When it is resumed
    resumed = headwater("resume", run_id, "--json")

    # Then succeeded tasks are not re-run, the interrupted one gets a new try
    assert resumed.code == 0, resumed.stdout + resumed.stderr
    assert marks.read_text().splitlines() == [
        "first 1",
        "second 1",
        "third 1",
        "third 2",
        "fourth 1",
    ]
    tasks = resumed.json()["tasks"]
    assert [tasks[t]["tries"] for t in ("first", "second", "third", "fourth")] == [1, 1, 2, 1]
    store = SqlStore.from_settings(Settings.for_home(home))
    try:
        tries = [(t.task_id, t.try_number, t.state) for t in store.get_tries(run_id)]
        interrupted = store.get_tries(run_id, "third")[0]
    finally:
        store.close()
    assert sorted(tries) == [
        ("first", 1, "success"),
        ("fourth", 1, "success"),
        ("second", 1, "success"),
        ("third", 1, "failed"),
        ("third", 2, "success"),
    ]
    assert interrupted.error is not None
    assert "interrupted" in interrupted.error
