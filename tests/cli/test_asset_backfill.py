"""``headwater backfill --asset``: the command in this process, and once killed for real
and finished by a real scheduler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from tests.cli.conftest import Result, command_env

from headwater.cli.main import main
from headwater.config import Settings
from headwater.store.records import RunRecord
from headwater.store.sql.store import SqlStore

# Partitions named in ./fail are refused by a blocking check; the first try of the one
# named in ./block waits for ./release (writing ./blocked first); each try is marked.
SALES = """\
import time
from pathlib import Path

from headwater import Context, DailyPartitions, MonthlyPartitions, asset, asset_check

DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")


@asset(partitions=DAILY, group="sales")
def orders_raw(ctx: Context) -> list[dict]:
    with open("marks", "a") as marks:
        marks.write(f"{ctx.partition_key} {ctx.try_number}\\n")
    block = Path("block")
    if block.exists() and block.read_text() == ctx.partition_key and ctx.try_number == 1:
        Path("blocked").write_text("blocked")
        deadline = time.monotonic() + 60
        while not Path("release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    failing = Path("fail").read_text().split() if Path("fail").exists() else []
    return [] if ctx.partition_key in failing else [{"day": ctx.partition_key, "amount": 5}]


@asset_check(asset="orders_raw", blocking=True)
def has_rows(orders_raw: list[dict]) -> bool:
    return bool(orders_raw)


@asset(partitions=DAILY, group="sales")
def orders_cleaned(orders_raw: list[dict]) -> list[dict]:
    return [row for row in orders_raw if row["amount"] > 0]


@asset
def fx_rates() -> dict:
    return {"eur": 1.1}


@asset(partitions=MonthlyPartitions(start="2026-01-01"), deps=["orders_cleaned"])
def monthly_report() -> int:
    return 1
"""

RANGE = ("--partitions", "2026-01-01..2026-01-04")
CLEANED = ("--asset", "orders_cleaned", "--upstream")


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "sales.py").write_text(SALES)
    return folder


@pytest.fixture
def headwater_here(
    tmp_path: Path,
    pipelines: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Result]:
    """``headwater ARGS --pipelines <folder>`` in this process, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("HEADWATER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HEADWATER_PIPELINES", str(pipelines))

    def run(*args: str) -> Result:
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 0, out.out, out.err)

    return run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
    yield opened
    opened.close()


def files_of(tmp_path: Path, asset: str) -> list[str]:
    return sorted(
        path.name for path in (tmp_path / "home" / "results" / "assets" / asset).iterdir()
    )


def actions(result: Result) -> list[str]:
    assert result.code == 0, result.stderr
    return [step["action"] for step in result.json()]


def test_a_dry_run_plans_each_partition_from_its_status_and_changes_nothing(
    tmp_path: Path, headwater_here: Callable[..., Result]
) -> None:
    # Given 01-02 materialized and 01-03 refused by a blocking check
    (tmp_path / "fail").write_text("2026-01-03")
    made = headwater_here(
        "materialize", "orders_cleaned", "--upstream", "--partitions", "2026-01-02..2026-01-03"
    )
    assert made.code == 1, made.stderr

    planned = headwater_here("backfill", *CLEANED, *RANGE, "--missing", "--dry-run", "--json")

    assert planned.code == 0, planned.stderr
    first, second, third, _ = planned.json()
    assert first == {
        "partition_key": "2026-01-01",
        "status": "missing",
        "action": "run",
        "data_interval_start": "2026-01-01T00:00:00+00:00",
        "data_interval_end": "2026-01-02T00:00:00+00:00",
        "run_id": None,
    }
    assert (second["status"], third["status"]) == ("materialized", "failed")
    assert third["run_id"] is not None  # the run of its window, which a redo resets
    assert actions(planned) == ["run", "skip", "skip", "run"]
    # --failed, the default: a backfill repairs what a check refused
    assert actions(headwater_here("backfill", *CLEANED, *RANGE, "--dry-run", "--json")) == [
        "run",
        "skip",
        "redo",
        "run",
    ]
    assert actions(
        headwater_here("backfill", *CLEANED, *RANGE, "--all", "--dry-run", "--json")
    ) == [
        "run",
        "redo",
        "redo",
        "run",
    ]
    shown = headwater_here("backfill", *CLEANED, *RANGE, "--all", "--dry-run")
    assert "would run 2, redo 2 and skip 0 partition(s); nothing was changed" in shown.stdout
    assert headwater_here("backfills", "list", "--json").json() == []


def test_a_failed_partition_fails_the_backfill_and_failed_materializes_it_again_in_its_run(
    tmp_path: Path, headwater_here: Callable[..., Result]
) -> None:
    # When a backfill meets a partition its check refuses
    (tmp_path / "fail").write_text("2026-01-02")
    first = headwater_here("backfill", *CLEANED, *RANGE, "--json")

    # Then every partition runs, the backfill fails, and says which partition failed
    assert first.code == 1, first.stderr
    assert [(r["partition_key"], r["state"]) for r in first.json()] == [
        ("2026-01-01", "success"),
        ("2026-01-02", "failed"),
        ("2026-01-03", "success"),
        ("2026-01-04", "success"),
    ]
    failed_run = first.json()[1]["run_id"]

    # When it is fixed: --missing leaves the failed partition alone, --failed runs it
    (tmp_path / "fail").unlink()
    assert (
        actions(headwater_here("backfill", *CLEANED, *RANGE, "--missing", "--dry-run", "--json"))
        == ["skip"] * 4
    )
    again = headwater_here("backfill", *CLEANED, *RANGE)

    # Then only that partition ran again, in the same run
    assert again.code == 0, again.stderr
    assert "SUCCESS: 1 run(s) succeeded, 3 partition(s) skipped" in again.stdout
    shown = headwater_here("runs", "show", failed_run, "--json").json()
    assert shown["state"] == "success"
    assert shown["tasks"]["orders_raw"]["tries"] == 2
    listed = headwater_here("backfills", "list", "--json").json()
    assert [(b["state"], b["reprocess"]) for b in listed] == [
        ("success", "failed"),
        ("failed", "failed"),
    ]
    assert listed[0]["assets"] == ["orders_raw", "orders_cleaned"]
    assert listed[0]["partitions"] == [f"2026-01-0{day}" for day in range(1, 5)]


def test_a_repeated_backfill_leaves_one_file_and_one_run_per_partition(
    tmp_path: Path, headwater_here: Callable[..., Result], store: SqlStore
) -> None:
    first = headwater_here("backfill", *CLEANED, *RANGE, "--json")
    assert first.code == 0, first.stderr
    again = headwater_here("backfill", *CLEANED, *RANGE, "--all", "--json")
    assert again.code == 0, again.stderr

    # the same run per partition, run twice; one file per partition and asset
    assert [r["run_id"] for r in again.json()] == [r["run_id"] for r in first.json()]
    [pipeline_id] = {run.pipeline_id for run in store.list_runs(limit=100)}
    assert len(store.list_runs(pipeline_id, limit=100)) == 4
    expected = [f"2026-01-0{day}.json" for day in range(1, 5)]
    assert files_of(tmp_path, "orders_raw") == expected
    assert files_of(tmp_path, "orders_cleaned") == expected
    marks = (tmp_path / "marks").read_text().splitlines()
    assert sorted(marks) == sorted(f"2026-01-0{day} {n}" for day in range(1, 5) for n in (1, 2))


def test_bad_input_exits_2_with_one_line(headwater_here: Callable[..., Result]) -> None:
    def error(*args: str) -> str:
        result = headwater_here("backfill", *args)
        assert result.code == 2, result.stdout
        assert result.stderr.count("\n") == 1, result.stderr
        return result.stderr

    assert "asset 'fx_rates' is not partitioned" in error("--asset", "fx_rates", *RANGE)
    outside = error("--asset", "orders_raw", "--partitions", "2025-12-30..2026-01-02")
    assert "--partitions '2025-12-30..2026-01-02': partition key '2025-12-30'" in outside
    future = error("--asset", "orders_raw", "--partitions", "2026-01-01..2099-01-01")
    assert "has not ended yet, so it cannot be backfilled" in future
    mixed = error("--asset", "orders_raw", "--downstream", *RANGE)
    assert (
        "backfill of 'orders_raw' --downstream: the assets selected are partitioned differently"
        in mixed
    )
    assert "selects no asset" in error("--asset", "orders_rae", *RANGE)
    # options of the two kinds of backfill are not mixed
    usage = headwater_here("backfill", "--asset", "orders_raw", *RANGE, "--start", "2026-01-01")
    assert usage.code == 2
    assert "--start is for a backfill of a pipeline" in usage.stderr
    assert headwater_here("backfill", "--asset", "orders_raw").code == 2
    assert (
        headwater_here("backfill", "--asset", "orders_raw", *RANGE, "--failed", "--all").code == 2
    )
    assert headwater_here("backfill", *RANGE).code == 2


def test_a_detached_backfill_is_listed_resumed_and_cancelled_like_any_other(
    headwater_here: Callable[..., Result],
) -> None:
    detached = headwater_here(
        "backfill", "--asset", "orders_raw", *RANGE, "--all", "--detach", "--json"
    )
    assert detached.code == 0, detached.stderr
    backfill_id = detached.json()["backfill_id"]
    assert [p["action"] for p in detached.json()["partitions"]] == ["run"] * 4
    # the same partitions of the same asset cannot be backfilled twice at once
    twice = headwater_here("backfill", *CLEANED, *RANGE)
    assert twice.code == 2
    over = "over partitions 2026-01-01..2026-01-04"
    assert f"asset 'orders_raw' already has a running backfill {over}: {backfill_id}" in (
        twice.stderr
    )

    resumed = headwater_here("backfills", "resume", backfill_id, "--json")

    assert resumed.code == 0, resumed.stderr
    assert [r["state"] for r in resumed.json()] == ["success"] * 4
    later = headwater_here(
        "backfill",
        "--asset",
        "orders_raw",
        "--partitions",
        "2026-01-05..2026-01-06",
        "--detach",
        "--json",
    )
    cancelled = headwater_here("backfills", "cancel", later.json()["backfill_id"], "--json")
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.json()["state"] == "cancelled"


# killed for real


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def max_overlap(runs: list[RunRecord]) -> int:
    """The most runs running at one instant."""
    spans: list[tuple[datetime, int]] = []
    for run in runs:
        assert run.started_at is not None
        assert run.ended_at is not None
        spans += [(run.started_at, 1), (run.ended_at, -1)]
    current = peak = 0
    for _, step in sorted(spans):  # at equal times an end (-1) sorts before a start (+1)
        current += step
        peak = max(peak, current)
    return peak


def test_a_killed_backfill_and_a_detached_one_are_finished_by_a_scheduler(
    tmp_path: Path, pipelines: Path, store: SqlStore
) -> None:
    env = command_env(tmp_path / "home")
    command = [sys.executable, "-m", "headwater", "backfill", "--pipelines", str(pipelines)]
    # Given a backfill of six days, two at a time, killed while its third day hangs
    (tmp_path / "block").write_text("2026-01-03")
    six = ("--asset", "orders_raw", "--partitions", "2026-01-01..2026-01-06")
    foreground = subprocess.Popen(
        [*command, *six],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until((tmp_path / "blocked").exists)
    foreground.send_signal(signal.SIGKILL)
    foreground.wait(timeout=60)
    # and a detached backfill of three more days
    detach = [
        *command,
        "--asset",
        "orders_raw",
        "--partitions",
        "2026-01-07..2026-01-09",
        "--detach",
    ]
    subprocess.run(detach, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
    killed, detached = sorted(store.list_backfills(), key=lambda b: b.created_at)
    assert killed.state == "running"

    # When a scheduler starts
    (tmp_path / "release").touch()
    log = (tmp_path / "scheduler.log").open("w")
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headwater",
            "scheduler",
            "--pipelines",
            str(pipelines),
            "--tick",
            "0.1",
        ],
        cwd=tmp_path,
        env={**env, "HEADWATER_LEASE_SECONDS": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        ids = (killed.backfill_id, detached.backfill_id)
        wait_until(lambda: all(store.get_backfill(i).state != "running" for i in ids))
    finally:
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=60) == 0
        log.close()

    # Then both succeeded, each day with one run and one file, never more than two
    # runs of a backfill at once, and only what was in flight when killed ran twice
    assert [store.get_backfill(i).state for i in ids] == ["success", "success"]
    runs = store.list_runs(killed.pipeline_id, limit=100)
    days = [f"2026-01-0{day}" for day in range(1, 10)]
    assert sorted(run.partition_key or "" for run in runs) == days
    assert {run.state for run in runs} == {"success"}
    for backfill_id in ids:
        assert max_overlap([run for run in runs if run.backfill_id == backfill_id]) <= 2
    assert files_of(tmp_path, "orders_raw") == [f"{day}.json" for day in days]
    marks = (tmp_path / "marks").read_text().splitlines()
    assert sorted(mark for mark in marks if mark.endswith(" 1")) == [f"{day} 1" for day in days]
    again = [mark.split()[0] for mark in marks if not mark.endswith(" 1")]
    assert "2026-01-03" in again
    assert len(again) <= 2  # the day that hung, and the other run of the two in flight
