"""``headwater pools``, pools in the config file, and a scheduler killed holding a slot."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater, command_env
from tests.forked_commands import CommandServer

from headwater.config import Settings
from headwater.store.sql.store import SqlStore


def test_pools_are_set_listed_and_deleted(headwater: Headwater) -> None:
    assert headwater("pools", "list").stdout.startswith("no pools;")
    created = headwater("pools", "set", "source_db", "2", "--description", "orders replica")
    assert created.code == 0, created.stderr
    assert created.stdout.strip() == "pool source_db: 2 slot(s)"
    assert headwater("pools", "set", "source_db", "3").code == 0  # the description stays
    assert headwater("pools", "set", "api", "10").code == 0
    listed = headwater("pools", "list", "--json").json()
    assert [{k: v for k, v in pool.items() if k != "updated_at"} for pool in listed] == [
        {"name": "api", "slots": 10, "in_use": 0, "description": ""},
        {"name": "source_db", "slots": 3, "in_use": 0, "description": "orders replica"},
    ]
    table = headwater("pools", "list").stdout
    assert "source_db" in table
    assert "orders replica" in table
    assert headwater("pools", "delete", "api").stdout.strip() == "deleted pool api"
    again = headwater("pools", "delete", "api")
    assert again.code == 2
    assert "no pool 'api'; 'headwater pools list' shows the pools" in again.stderr
    assert [pool["name"] for pool in headwater("pools", "list", "--json").json()] == ["source_db"]


SLOTS_RANGE = "pool 'db': slots must be a whole number from 0 to 1000000 (0 holds the pool's"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad name", "1"), "invalid pool name 'bad name'"),
        (("p" * 201, "1"), "pool name 'pppp"),
        (("db", "-1"), f"{SLOTS_RANGE} tasks in queued), got -1"),
        (("db", "--", "-1"), f"{SLOTS_RANGE} tasks in queued), got -1"),
        (("db", "-5", "--description", "x"), "got -5"),
        (("db", "1000001"), "got 1000001"),
        (("db", "many"), f"{SLOTS_RANGE} tasks in queued), got 'many'"),
        (("db", "1.5"), "got '1.5'"),
    ],
)
def test_pools_set_refuses_bad_values(
    headwater: Headwater, args: tuple[str, ...], message: str
) -> None:
    result = headwater("pools", "set", *args)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


UNKNOWN_POOL = """\
from headwater import pipeline, task

@task(pool="warehouse")
def load() -> int:
    return 1

@pipeline
def loader() -> None:
    load()
"""


def test_a_run_whose_task_names_an_unknown_pool_fails_saying_how_to_create_it(
    headwater: Headwater, tmp_path: Path
) -> None:
    source = tmp_path / "loader.py"
    source.write_text(UNKNOWN_POOL)
    result = headwater("run", str(source))
    assert result.code == 1
    assert "pool 'warehouse' does not exist" in result.stderr
    assert "headwater pools set warehouse SLOTS" in result.stderr
    assert headwater("pools", "set", "warehouse", "1").code == 0
    assert headwater("run", str(source)).code == 0


def test_a_missing_config_file_is_an_error(headwater: Headwater, tmp_path: Path) -> None:
    result = headwater("dev", "--pipelines", str(tmp_path), "--config", "missing.toml")
    assert result.code == 2
    assert "config file 'missing.toml' does not exist" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[pools]\nsource = -2\n")
    result = headwater("scheduler", "--pipelines", str(tmp_path), "--config", str(bad))
    assert result.code == 2
    assert "pool 'source': slots must be a whole number from 0 to 1000000" in result.stderr


READER = """\
import time
from pathlib import Path
from headwater import Context, pipeline, task

@task(pool="source")
def read(ctx: Context) -> str:
    with Path(ctx.params["marks"]).open("a") as out:
        out.write(f"{ctx.ds} {ctx.try_number}\\n")
    gate = Path(ctx.params["gate"])
    while not gate.exists():  # holds its slot until the test opens the gate
        time.sleep(0.02)
    return ctx.ds

@pipeline(params={"marks": "MARKS", "gate": "GATE"})
def reader() -> None:
    read()
"""


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_slot_of_a_killed_scheduler_comes_back_and_its_run_finishes(
    headwater: Headwater,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    command_server: CommandServer,
) -> None:
    home, pipelines = tmp_path / "home", tmp_path / "pipelines"
    home.mkdir()
    pipelines.mkdir()
    marks, gate = tmp_path / "marks.txt", tmp_path / "gate"
    (pipelines / "reader.py").write_text(
        READER.replace("MARKS", str(marks)).replace("GATE", str(gate))
    )
    (home / "headwater.toml").write_text('[pools.source]\nslots = 1\ndescription = "the replica"\n')
    for day in ("2026-01-01", "2026-01-02"):
        queued = headwater("trigger", "reader", "--date", day, "--pipelines", str(pipelines))
        assert queued.code == 0, queued.stderr

    def scheduler(lease: str, *extra: str) -> subprocess.Popen[bytes]:
        env = {**command_env(home), "HEADWATER_LEASE_SECONDS": lease}
        command = ["scheduler", "--pipelines", str(pipelines), "--tick", "0.1", *extra]
        with (tmp_path / f"scheduler-{len(processes)}.log").open("w") as log:
            process = command_server.popen(
                command,
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        return process

    store = SqlStore.from_settings(Settings.for_home(home))
    try:

        def task_states() -> list[str]:
            return sorted(
                ti.state for run in store.list_runs() for ti in store.get_task_instances(run.run_id)
            )

        def pools() -> list[dict[str, object]]:
            listed: list[dict[str, object]] = headwater("pools", "list", "--json").json()
            return listed

        # Given a scheduler (pools from HEADWATER_HOME/headwater.toml) whose try holds
        # the only slot of the pool, while the other run's task waits for it
        first = scheduler("3")
        wait_until(lambda: marks.exists() and len(marks.read_text().splitlines()) == 1)
        wait_until(lambda: task_states() == ["queued", "running"])
        assert [(p["name"], p["slots"], p["in_use"], p["description"]) for p in pools()] == [
            ("source", 1, 1, "the replica")
        ]

        # When it is killed with SIGKILL
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

        # Then its slot comes back once its lease expires, with nobody alive to free it
        wait_until(lambda: pools()[0]["in_use"] == 0, timeout=30)
        assert task_states() == ["queued", "running"]  # as the dead process left them

        # and a restarted scheduler finishes both runs, one try at a time
        gate.write_text("open")
        other_config = tmp_path / "other.toml"
        other_config.write_text("[pools]\nsource = 1\n")
        second = scheduler("1", "--config", str(other_config))
        wait_until(lambda: [r.state for r in store.list_runs()] == ["success", "success"])
        runs = {run.logical_date.day: run.run_id for run in store.list_runs()}
        tries = {day: [t.state for t in store.get_tries(run_id)] for day, run_id in runs.items()}
    finally:
        store.close()
    killed_day = int(marks.read_text().splitlines()[0].split()[0][-2:])
    assert tries[killed_day] == ["failed", "success"]  # the interrupted try, then a new one
    assert tries[3 - killed_day] == ["success"]
    assert [(p["in_use"], p["description"]) for p in pools()] == [(0, "the replica")]
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
