"""The example pipeline: retried extract, idempotent load, notify after a failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from headwater.loader import load_pipeline

EXAMPLE = Path(__file__).parent.parent / "examples" / "daily_etl.py"


def params(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"data_dir": str(tmp_path / "raw"), "warehouse": str(tmp_path / "wh.db"), **extra}


def rows_per_day(warehouse: Path) -> dict[str, int]:
    with sqlite3.connect(warehouse) as db:
        found = dict(db.execute("SELECT day, COUNT(*) FROM orders GROUP BY day").fetchall())
    db.close()
    return found


def test_the_example_succeeds_after_retrying_extract(tmp_path: Path) -> None:
    daily_etl = load_pipeline(str(EXAMPLE))
    run = daily_etl.test(date="2026-01-05", params=params(tmp_path))
    assert run.state == "success"
    assert run.tasks["extract"].tries == 2
    assert run.tasks["quarantine"].state == "skipped"
    assert run.result("report") == {
        "day": "2026-01-05",
        "orders": 100,
        "revenue": run.result("report")["revenue"],
        "loaded": 100,
    }
    assert run.result("notify").startswith("daily_etl 2026-01-05: ok")


def test_running_one_date_twice_leaves_one_copy(tmp_path: Path) -> None:
    daily_etl = load_pipeline(str(EXAMPLE))
    for _ in range(2):
        assert daily_etl.test(date="2026-01-05", params=params(tmp_path)).succeeded
    daily_etl.test(date="2026-01-06", params=params(tmp_path))
    assert rows_per_day(tmp_path / "wh.db") == {"2026-01-05": 100, "2026-01-06": 100}


def test_notify_names_the_failed_step_and_the_run_fails(tmp_path: Path) -> None:
    daily_etl = load_pipeline(str(EXAMPLE))
    run = daily_etl.test(date="2026-01-05", params=params(tmp_path, fail_step="load"))
    assert run.state == "failed"
    assert run.tasks["load"].state == "failed"
    assert run.tasks["report"].state == "upstream_failed"
    assert run.tasks["notify"].state == "success"
    assert run.result("notify") == "daily_etl 2026-01-05: FAILED at load"


def test_bad_data_is_quarantined_and_the_chain_skipped(tmp_path: Path) -> None:
    daily_etl = load_pipeline(str(EXAMPLE))
    run = daily_etl.test(date="2026-01-05", params=params(tmp_path, bad_rows=3))
    assert run.state == "success"
    assert run.tasks["quarantine"].state == "success"
    assert [run.tasks[t].state for t in ("transform", "load", "report")] == ["skipped"] * 3
