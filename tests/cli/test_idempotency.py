"""``headwater test --idempotency``: two runs for one date, against temporary copies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest
from tests.cli.conftest import Headwater

ASSETS = """
import os
import uuid

from headwater import Context, DailyPartitions, SqlTableIOManager, asset

DAILY = DailyPartitions(start="2026-01-01")
WAREHOUSE = SqlTableIOManager("duckdb:///" + os.environ["WAREHOUSE"], load_as="records")


@asset(partitions=DAILY)
def steady(ctx: Context) -> list[dict]:
    return [{"day": ctx.partition_key, "n": n} for n in range(3)]


@asset(partitions=DAILY, io_manager=WAREHOUSE)
def stamped(ctx: Context) -> list[dict]:
    # a new id per run: each run writes other rows
    return [{"day": ctx.partition_key, "id": str(uuid.uuid4())}]
"""

TASKS = """
import time

from headwater import pipeline, task


@task
def steady() -> int:
    return 42


@task
def clock() -> int:
    return time.time_ns()


@pipeline
def mixed() -> None:
    steady()
    clock()
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "assets.py").write_text(textwrap.dedent(ASSETS))
    (folder / "tasks.py").write_text(textwrap.dedent(TASKS))
    monkeypatch.setenv("WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    return folder


def test_an_idempotent_asset_passes(headwater: Headwater, folder: Path) -> None:
    result = headwater(
        "test", "--idempotency", "steady", "--date", "2026-01-03", "--pipelines", str(folder)
    )
    assert result.code == 0, result.stderr
    assert "idempotent" in result.stdout
    assert "partition 2026-01-03" in result.stdout


def test_a_write_that_differs_is_reported_and_the_real_table_is_untouched(
    headwater: Headwater, folder: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    made = headwater(
        "materialize", "stamped", "--partition", "2026-01-02", "--pipelines", str(folder)
    )
    assert made.code == 0, made.stderr
    with duckdb.connect(str(warehouse), read_only=True) as db:
        before = db.execute("SELECT * FROM stamped ORDER BY id").fetchall()
    result = headwater(
        "test",
        "--idempotency",
        "stamped",
        "--date",
        "2026-01-03",
        "--json",
        "--pipelines",
        str(folder),
    )
    assert result.code == 1, result.stderr
    body = result.json()
    assert body["idempotent"] is False
    assert body["runs"] == ["success", "success"]
    (difference,) = body["differences"]
    assert difference["kind"] == "asset"
    assert difference["name"] == "stamped"
    assert difference["partition"] == "2026-01-03"
    with duckdb.connect(str(warehouse), read_only=True) as db:
        assert db.execute("SELECT * FROM stamped ORDER BY id").fetchall() == before


def test_a_task_pipeline_is_compared_by_what_its_tasks_return(
    headwater: Headwater, folder: Path
) -> None:
    result = headwater(
        "test", "--idempotency", "mixed", "--date", "2026-01-03", "--pipelines", str(folder)
    )
    assert result.code == 1
    assert "not idempotent: task clock" in result.stdout
    assert "task steady" not in result.stdout
