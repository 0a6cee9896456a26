"""The web UI's list queries on SQLite and PostgreSQL: strips and freshness facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from headwater.server.ui import queries
from headwater.store.records import PipelineRecord
from headwater.store.sql import outbox
from headwater.store.sql.schema import runs
from headwater.store.sql.store import SqlStore

START = datetime(2026, 1, 1, tzinfo=UTC)


def run_row(pipeline_id: str, day: int, state: str) -> dict[str, Any]:
    moment = START + timedelta(days=day)
    return {
        "run_id": f"{pipeline_id}__{day:03d}",
        "pipeline_id": pipeline_id,
        "logical_date": moment,
        "data_interval_start": moment,
        "data_interval_end": moment + timedelta(days=1),
        "params": "{}",
        "state": state,
        "run_type": "scheduled",
        "triggered_by": "test",
        "created_at": moment,
    }


def record(store: SqlStore, pipeline_id: str, graph: dict[str, Any]) -> None:
    store.upsert_pipeline(
        PipelineRecord(
            pipeline_id=pipeline_id,
            source_file=None,
            description="",
            schedule="@daily",
            timezone="UTC",
            graph=graph,
            updated_at=START,
        )
    )


def test_strips_hold_the_latest_runs_oldest_first_and_list_rows_their_freshness(
    store: SqlStore,
) -> None:
    # Given "long" with 30 daily runs (every fifth failed, the last two running), "short"
    # with two, and "none" with none; only "long" records a freshness of one day
    record(store, "long", {"tasks": [], "alerting": {"freshness_seconds": 86400.0}})
    record(store, "short", {"tasks": []})
    record(store, "none", {"tasks": [], "alerting": {}})
    states = ["failed" if day % 5 == 0 else "success" for day in range(28)]
    states += ["running", "running"]
    with store.engine.begin() as connection:
        connection.execute(runs.insert(), [run_row("long", d, s) for d, s in enumerate(states)])
        connection.execute(runs.insert(), [run_row("short", 0, "failed")])
        connection.execute(runs.insert(), [run_row("short", 1, "queued")])
    with store.engine.connect() as connection:
        found = queries.strips(connection, ["long", "short", "none"], 12)
        rows = {row.pipeline_id: row for row in queries.pipeline_rows(connection)}
        newest_short = outbox.newest_success_end(connection, "short")
    # Then each strip holds its latest runs, oldest first, one character per state
    assert found["long"].states == "ssfssssfssrr"
    assert found["long"].run_ids == [f"long__{d:03d}" for d in range(18, 30)]
    assert found["long"].last_state == "running"
    assert (found["short"].states, found["short"].run_ids) == ("fq", ["short__000", "short__001"])
    assert (found["none"].states, found["none"].last_state) == ("", None)
    # And the list rows carry the recorded freshness and the newest successful end
    assert rows["long"].freshness == timedelta(days=1)
    assert rows["long"].newest_success_end == START + timedelta(days=28)
    assert rows["short"].freshness is None
    assert rows["short"].newest_success_end is None
    assert rows["none"].freshness is None
    assert newest_short is None
