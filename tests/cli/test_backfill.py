"""``headwater backfill`` end to end: the real CLI, the real scheduler, killed and restarted."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater, Result, command_env
from tests.forked_commands import CommandServer

from headwater.config import Settings
from headwater.store.sql.store import SqlStore

DAILY = """\
import time
from pathlib import Path
from headwater import Context, pipeline, task

@task
def work(ctx: Context) -> str:
    if ctx.params.get("marks"):
        with open(ctx.params["marks"], "a") as marks:
            marks.write(f"{ctx.ds} {ctx.try_number}\\n")
    if ctx.ds in ctx.params.get("fail", []):
        raise RuntimeError(f"no data for {ctx.ds}")
    block = ctx.params.get("block")
    if block and ctx.ds == block["date"] and ctx.try_number == 1:
        # the first try of that day waits until the test lets it go (or kills us)
        Path(block["flag"]).write_text("blocked")
        deadline = time.monotonic() + 60
        while not Path(block["release"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return ctx.ds

@pipeline(schedule="@daily", start="2026-01-01", params={"fail": [], "block": None, "marks": None})
def daily() -> None:
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

# The bad month: load appends a day's rows instead of replacing them.
WAREHOUSE_APPENDS = """\
import sqlite3
from headwater import Context, pipeline, task

@task
def extract(ctx: Context) -> list[list[object]]:
    return [[ctx.ds, "apples", 3], [ctx.ds, "pears", 5]]

@task
def load(rows: list[list[object]], ctx: Context) -> int:
    with sqlite3.connect(ctx.params["warehouse"]) as db:
        db.execute("CREATE TABLE IF NOT EXISTS sales (day TEXT, fruit TEXT, qty INTEGER)")
        db.executemany("INSERT INTO sales VALUES (?, ?, ?)", rows)
    return len(rows)

@pipeline(schedule="@daily", start="2026-01-01", params={"warehouse": "WAREHOUSE"})
def warehouse() -> None:
    load(extract())
"""

# The fix: delete the day's partition, then insert it, in one transaction.
WAREHOUSE_REPLACES = WAREHOUSE_APPENDS.replace(
    '        db.executemany("INSERT',
    '        db.execute("DELETE FROM sales WHERE day = ?", (f"{ctx.logical_date:%Y-%m-%d}",))\n'
    '        db.executemany("INSERT',
)

FIVE_DAYS = ("--start", "2026-01-01", "--end", "2026-01-05")


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


class Scheduler:
    """``headwater scheduler`` in a subprocess with a short lease, logging to a file."""

    def __init__(self, server: CommandServer, home: Path, pipelines: Path, cwd: Path) -> None:
        env = {**command_env(home), "HEADWATER_LEASE_SECONDS": "1"}
        self.log = cwd / f"scheduler-{time.monotonic_ns()}.log"
        self.output = self.log.open("w")
        command = ["scheduler", "--pipelines", str(pipelines), "--tick", "0.1"]
        self.process = server.popen(
            command,
            cwd=cwd,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.output.close()


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "daily.py").write_text(DAILY)
    (folder / "manual.py").write_text(MANUAL)
    return folder


@pytest.fixture
def backfill(headwater: Headwater, pipelines: Path) -> Callable[..., Result]:
    """``headwater backfill PIPELINE ARGS --pipelines <folder>``."""

    def run(pipeline_id: str, *args: str, timeout: float = 60) -> Result:
        return headwater(
            "backfill", pipeline_id, *args, "--pipelines", str(pipelines), timeout=timeout
        )

    return run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    yield opened
    opened.close()


def param(name: str, value: object) -> tuple[str, str]:
    return ("--param", f"{name}={json.dumps(value)}")


def dates(result: Result) -> list[str]:
    return [item["logical_date"][:10] for item in result.json()]


def test_a_dry_run_lists_what_it_would_do_and_changes_nothing(
    headwater: Headwater, backfill: Callable[..., Result], pipelines: Path
) -> None:
    # Given 01-02 succeeded and 01-03 failed
    daily = str(pipelines / "daily.py")
    assert headwater("run", daily, "--date", "2026-01-02").code == 0
    assert headwater("run", daily, "--date", "2026-01-03", *param("fail", ["2026-01-03"])).code == 1

    planned = backfill(
        "daily", "--start", "2026-01-01", "--end", "2026-01-04", "--dry-run", "--json"
    )

    assert planned.code == 0, planned.stderr
    assert planned.json() == [
        {
            "logical_date": f"2026-01-0{day}T00:00:00+00:00",
            "data_interval_start": f"2026-01-0{day}T00:00:00+00:00",
            "data_interval_end": f"2026-01-0{day + 1}T00:00:00+00:00",
            "action": action,
        }
        for day, action in [(1, "run"), (2, "skip"), (3, "redo"), (4, "run")]
    ]
    assert len(headwater("runs", "list", "--json").json()) == 2
    assert headwater("backfills", "list", "--json").json() == []
    shown = backfill("daily", *FIVE_DAYS, "--reprocess", "all", "--reverse", "--dry-run")
    assert "would run 3, redo 2 and skip 0 interval(s); nothing was changed" in shown.stdout


def test_a_failed_interval_fails_the_backfill_and_the_next_one_redoes_only_it(
    headwater: Headwater, backfill: Callable[..., Result]
) -> None:
    # When a backfill meets a failing day
    first = backfill("daily", *FIVE_DAYS, *param("fail", ["2026-01-03"]), "--json")

    # Then it runs every day, exits 1, and prints each run's final state
    assert first.code == 1, first.stderr
    assert dates(first) == [f"2026-01-0{day}" for day in range(1, 6)]
    assert [item["state"] for item in first.json()] == ["success"] * 2 + ["failed"] + [
        "success"
    ] * 2
    failed_id = first.json()[2]["run_id"]

    # When the same backfill runs again (reprocess failed, the default)
    second = backfill("daily", *FIVE_DAYS, "--json")

    # Then only the failed day runs again, in the same run
    assert second.code == 0, second.stderr
    assert second.json() == [
        {"run_id": failed_id, "logical_date": "2026-01-03T00:00:00+00:00", "state": "success"}
    ]
    assert len(headwater("runs", "list", "--json").json()) == 5
    shown = headwater("runs", "show", failed_id, "--json").json()
    assert shown["tasks"]["work"]["tries"] == 2
    listed = headwater("backfills", "list", "--json").json()
    assert [b["state"] for b in listed] == ["success", "failed"]
    assert listed[0]["reprocess"] == "failed"
    assert listed[0]["max_active_runs"] == 2

    # and a third finds nothing to do, in words
    third = backfill("daily", *FIVE_DAYS)
    assert third.code == 0
    assert "SUCCESS: 0 run(s) succeeded, 5 interval(s) skipped" in third.stdout


def test_bad_input_exits_2_with_one_line(backfill: Callable[..., Result]) -> None:
    manual = backfill("manual", *FIVE_DAYS)
    assert manual.code == 2
    assert manual.stderr.startswith("headwater: error: pipeline 'manual' has no schedule")
    reversed_range = backfill("daily", "--start", "2026-01-05", "--end", "2026-01-01")
    assert reversed_range.code == 2
    assert "--end '2026-01-01' is before --start '2026-01-05'" in reversed_range.stderr
    before_start = backfill("daily", "--start", "2025-01-01", "--end", "2025-01-31")
    assert before_start.code == 2
    assert "no interval of pipeline 'daily'" in before_start.stderr
    assert backfill("daily", *FIVE_DAYS, "--max-active-runs", "0").code == 2
    assert backfill("daily", *FIVE_DAYS, "--reprocess", "some").code == 2


def test_a_range_to_the_end_of_the_calendar_is_refused_in_one_line(
    backfill: Callable[..., Result],
) -> None:
    # a daily schedule to 9999-12-31: millions of intervals, and the end of the calendar
    endless = backfill("daily", "--start", "2026-01-01", "--end", "9999-12-31", "--dry-run")
    assert endless.code == 2
    assert endless.stderr.count("\n") == 1
    assert "holds more than 100,000 intervals of pipeline 'daily'" in endless.stderr
    assert "Traceback" not in endless.stderr


def test_the_bad_month_repaired(
    tmp_path: Path,
    backfill: Callable[..., Result],
    pipelines: Path,
    store: SqlStore,
    command_server: CommandServer,
) -> None:
    database = tmp_path / "warehouse.db"
    source = pipelines / "warehouse.py"
    source.write_text(WAREHOUSE_APPENDS.replace("WAREHOUSE", str(database)))

    def rows_per_day() -> dict[str, int]:
        with sqlite3.connect(database) as db:
            found = db.execute(
                "SELECT day, COUNT(*) FROM sales WHERE day < '2026-02' GROUP BY day"
            ).fetchall()
        return dict(found)

    def partitions_of(day: str) -> list[tuple[str, int]]:
        with sqlite3.connect(database) as db:
            return db.execute(
                "SELECT fruit, qty FROM sales WHERE day = ? ORDER BY fruit", (day,)
            ).fetchall()

    five_days = {f"2026-01-0{day}": 2 for day in range(1, 6)}

    # Given a load that appends: a backfill of five days, then the same days again
    assert backfill("warehouse", *FIVE_DAYS).code == 0
    assert rows_per_day() == five_days
    assert backfill("warehouse", *FIVE_DAYS).code == 0  # all done: nothing runs
    assert rows_per_day() == five_days
    assert backfill("warehouse", *FIVE_DAYS, "--reprocess", "all").code == 0
    assert rows_per_day() == dict.fromkeys(five_days, 4)  # duplicated

    # When the load deletes the day's partition before inserting it, and the month is
    # backfilled again by a scheduler
    source.write_text(WAREHOUSE_REPLACES.replace("WAREHOUSE", str(database)))
    detached = backfill("warehouse", *FIVE_DAYS, "--reprocess", "all", "--detach", "--json")
    assert detached.code == 0, detached.stderr
    backfill_id = detached.json()["backfill_id"]
    assert [i["action"] for i in detached.json()["intervals"]] == ["redo"] * 5
    scheduler = Scheduler(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(lambda: store.get_backfill(backfill_id).state != "running")
    assert scheduler.stop() == 0

    # Then each day holds exactly one correct partition, from one run per day
    assert store.get_backfill(backfill_id).state == "success"
    assert rows_per_day() == five_days
    assert all(partitions_of(day) == [("apples", 3), ("pears", 5)] for day in five_days)
    runs = [
        r
        for r in store.list_runs("warehouse", limit=100)
        if r.logical_date.year == 2026 and r.logical_date.month == 1
    ]
    assert sorted(f"{r.logical_date:%Y-%m-%d}" for r in runs) == sorted(five_days)
    assert {(r.state, r.backfill_id) for r in runs} == {("success", backfill_id)}
    assert all(len(store.get_tries(r.run_id, "load")) == 3 for r in runs)


def test_a_backfill_survives_a_killed_scheduler(
    tmp_path: Path,
    backfill: Callable[..., Result],
    pipelines: Path,
    store: SqlStore,
    command_server: CommandServer,
) -> None:
    flag, release, marks = tmp_path / "blocked", tmp_path / "release", tmp_path / "marks"
    block = {"date": "2026-01-03", "flag": str(flag), "release": str(release)}
    # Given a detached backfill of six days whose third day hangs on its first try
    detached = backfill(
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-06",
        "--detach",
        *param("block", block),
        *param("marks", str(marks)),
        "--json",
    )
    assert detached.code == 0, detached.stderr
    backfill_id = detached.json()["backfill_id"]

    # When the scheduler running it is killed mid-way and another one starts
    first = Scheduler(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(flag.exists)
    first.stop(signal.SIGKILL)
    assert store.get_backfill(backfill_id).state == "running"
    second = Scheduler(command_server, tmp_path / "home", pipelines, tmp_path)
    wait_until(lambda: store.get_backfill(backfill_id).state != "running")
    assert second.stop() == 0

    # Then every day ends with exactly one successful run, and only the tries the kill
    # interrupted ran again: day 3's, and the one of the day that may have run beside it
    # (two runs at a time) if it had not ended yet
    assert store.get_backfill(backfill_id).state == "success"
    runs = [r for r in store.list_runs("daily", limit=100) if r.backfill_id == backfill_id]
    assert sorted(f"{r.logical_date:%d}" for r in runs) == ["01", "02", "03", "04", "05", "06"]
    assert {r.state for r in runs} == {"success"}
    tries = {f"{r.logical_date:%Y-%m-%d}": store.get_tries(r.run_id) for r in runs}
    again = sorted(day for day, day_tries in tries.items() if len(day_tries) > 1)
    assert "2026-01-03" in again
    assert len(again) <= 2
    for day in again:
        assert [t.state for t in tries[day]] == ["failed", "success"]
        assert (tries[day][0].error or "").startswith("interrupted"), tries[day][0].error
    lines = marks.read_text().splitlines()
    assert sorted(lines) == sorted([f"{day} 1" for day in tries] + [f"{day} 2" for day in again])


def test_ctrl_c_leaves_the_backfill_recorded_and_resume_finishes_it(
    tmp_path: Path, headwater: Headwater, pipelines: Path, command_server: CommandServer
) -> None:
    flag, release = tmp_path / "blocked", tmp_path / "release"
    block = {"date": "2026-01-02", "flag": str(flag), "release": str(release)}
    options = ["--pipelines", str(pipelines), *param("block", block)]
    process = command_server.popen(
        ["backfill", "daily", *FIVE_DAYS, *options],
        cwd=tmp_path,
        env=command_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(flag.exists)
    process.send_signal(signal.SIGINT)
    release.touch()  # the interrupted try may end; the process exits
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    [recorded] = headwater("backfills", "list", "--json").json()
    assert recorded["state"] == "running"
    assert f"backfill {recorded['backfill_id']} stays recorded" in stderr

    resumed = headwater("backfills", "resume", recorded["backfill_id"], "--json")

    assert resumed.code == 0, resumed.stderr
    assert [item["state"] for item in resumed.json()] == ["success"] * 5
    assert headwater("backfills", "list", "--json").json()[0]["state"] == "success"
    again = headwater("backfills", "resume", recorded["backfill_id"])
    assert again.code == 2
    assert "has ended (success)" in again.stderr
