"""Tables on a narrow terminal: the ids that other commands take are never cut."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Headwater

NARROW = {"COLUMNS": "60"}

DAILY = """\
from headwater import pipeline, task

@task
def a_task_with_a_rather_long_name() -> int:
    return 1

@pipeline(schedule="@daily", start="2026-01-01")
def a_daily_pipeline() -> None:
    a_task_with_a_rather_long_name()
"""


def test_ids_are_whole_in_tables_on_a_60_column_terminal(
    headwater: Headwater, tmp_path: Path
) -> None:
    (tmp_path / "daily.py").write_text(DAILY)
    backfill = headwater(
        "backfill", "daily.py", "--start", "2026-01-01", "--end", "2026-01-03", env=NARROW
    )
    assert backfill.code == 0, backfill.stderr
    runs = headwater("runs", "list", "--json").json()
    backfills = headwater("backfills", "list", "--json").json()
    run_ids = [run["run_id"] for run in runs]
    backfill_id = backfills[0]["backfill_id"]
    assert len(run_ids) == 3

    # the backfill's summary, then the lists of runs and of backfills
    for run_id in run_ids:
        assert run_id in backfill.stdout, backfill.stdout
    listed = headwater("runs", "list", env=NARROW).stdout
    for run_id in run_ids:
        assert run_id in listed, listed
    assert backfill_id in headwater("backfills", "list", env=NARROW).stdout

    # the summary of one run, with its task ids
    shown = headwater("runs", "show", run_ids[0], env=NARROW).stdout
    assert "a_task_with_a_rather_long_name" in shown, shown
    dry_run = headwater(
        "backfill",
        "daily.py",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-01",
        "--reprocess",
        "all",
        "--dry-run",
        env=NARROW,
    )
    assert [run_id for run_id in run_ids if run_id in dry_run.stdout], dry_run.stdout
    assert all(len(line) <= 60 for line in listed.splitlines())


def test_pool_names_are_whole_on_a_narrow_terminal(headwater: Headwater) -> None:
    name = "warehouse_replica_connections_eu_west"
    created = headwater("pools", "set", name, "4", "--description", "a long description " * 3)
    assert created.code == 0, created.stderr
    listed = headwater("pools", "list", env={"COLUMNS": "50"}).stdout
    assert name in listed, listed
