"""The Tuesday incident, caught (examples/tuesday), end to end through a real scheduler.

Monday is materialized; on Tuesday the events API answers 503 and the extract, as in the
story, returns Monday's saved file. The freshness check refuses it: nothing downstream
runs, the run fails, the webhook hears of it within seconds, and the warehouse holds
exactly one correct copy of Monday. Once the API is back, materializing Tuesday with what
is downstream of it repairs the day, one copy.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

from headwater.store.sql import assets as queries
from headwater.store.sql.store import SqlStore
from tests.alerts.receivers import HttpReceiver, http_receiver
from tests.cli.conftest import Headwater, store_of
from tests.cli.test_scheduler import SchedulerProcess
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "tuesday"
__all__ = ["store_of"]  # the fixture


def load_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tuesday_api", EXAMPLE / "api.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def api() -> Iterator[Any]:
    server = load_api().EventsApi().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from http_receiver()


def days() -> tuple[str, str]:
    """Monday and Tuesday: Tuesday is the day the scheduler's run at 06:00 processes now."""
    now = datetime.now(UTC)
    six = now.replace(hour=6, minute=0, second=0, microsecond=0)
    last_run = six if now >= six else six - timedelta(days=1)
    tuesday = (last_run - timedelta(days=1)).date()
    return (tuesday - timedelta(days=1)).isoformat(), tuesday.isoformat()


def warehouse_rows(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute(
            "SELECT event_date, partition_key, count(*) FROM events_daily GROUP BY 1, 2"
        ).fetchall()
    return {f"{date}@{partition}": count for date, partition, count in rows}


def test_the_tuesday_incident_is_caught_and_repaired(
    tmp_path: Path,
    api: Any,
    receiver: HttpReceiver,
    headwater: Headwater,
    store_of: Callable[[], SqlStore],
    monkeypatch: pytest.MonkeyPatch,
    command_server: CommandServer,
) -> None:
    monday, tuesday = days()
    pipelines = tmp_path / "pipelines"
    shutil.copytree(EXAMPLE / "pipelines", pipelines)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "headwater.toml").write_text(
        f'[alerts]\nsend_delay = "0s"\n\n'
        f'[alerts.channels.oncall]\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
    )
    warehouse = tmp_path / "warehouse.duckdb"
    # the example reads where things are from the environment (the commands inherit it)
    monkeypatch.setenv("TUESDAY_API_URL", api.url)
    monkeypatch.setenv("TUESDAY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TUESDAY_WAREHOUSE", f"duckdb:///{warehouse}")
    args = ("--pipelines", str(pipelines))

    # Monday went well
    made = headwater("materialize", "events_raw+", "--partition", monday, *args)
    assert made.code == 0, made.stderr
    assert warehouse_rows(warehouse) == {f"{monday}@{monday}": 5}

    # Tuesday: the API fails, the extract hands over Monday's file
    api.failing.add(tuesday)
    started = time.monotonic()
    scheduler = SchedulerProcess(command_server, home, pipelines, tmp_path)
    try:
        wait_until(lambda: len(receiver.received) >= 1, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        scheduler.stop()
    assert elapsed < 20
    alert = receiver.received[0].json()
    assert alert["type"] == "run_failed"
    assert "fresh_column(event_date)" in alert["data"]["text"]

    store = store_of()
    (run,) = store.list_runs("events", limit=10)
    assert run.state == "failed"
    assert run.partition_key == tuesday
    states = {t.task_id: t.state for t in store.get_task_instances(run.run_id)}
    assert states == {
        "events_raw": "failed",
        "events_daily": "upstream_failed",
        "dashboard": "upstream_failed",
    }
    with store.asset_connection() as connection:
        refused = queries.materializations(connection, "events_raw", partition_key=tuesday)
    assert [m.status for m in refused] == ["failed"]
    # the warehouse still holds exactly one correct copy of Monday, and nothing for Tuesday
    assert warehouse_rows(warehouse) == {f"{monday}@{monday}": 5}

    # the API recovers: Tuesday and what is downstream of it are repaired, one copy
    api.failing.discard(tuesday)
    repaired = headwater(
        "backfill", "--asset", "events_raw", "--partitions", tuesday, "--downstream", *args
    )
    assert repaired.code == 0, repaired.stderr
    assert warehouse_rows(warehouse) == {f"{monday}@{monday}": 5, f"{tuesday}@{tuesday}": 5}
