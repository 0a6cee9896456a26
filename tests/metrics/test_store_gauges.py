"""The store's gauges on the server's /metrics, from a seeded store on a fixed clock."""

from __future__ import annotations

import math
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from headwater.accounts import Role, create_token, create_user
from headwater.config import Settings
from headwater.errors import ConfigError
from headwater.metrics.exposition import CONTENT_TYPE_LATEST
from headwater.server.app import create_app
from headwater.server.context import ServerContext
from headwater.server.metrics import metrics_auth_required
from headwater.store.records import HeartbeatRecord
from headwater.store.sql.schema import alert_outbox, pipelines, pool_slots, runs, task_instances
from headwater.store.sql.store import SqlStore
from headwater.testing import FakeClock
from tests.metrics.conftest import BOUNDED_LABELS, label_sets, parse, value
from tests.waiting import wait_until

NOW = "2026-03-10T12:00:00+00:00"


def seed(store: SqlStore, now: datetime) -> None:
    """Three pipelines (fresh, stale, never succeeded), a pool, alerts and heartbeats."""
    hour = timedelta(hours=1)
    with store.engine.begin() as connection:
        connection.execute(
            pipelines.insert(),
            [
                {"pipeline_id": p, "timezone": "UTC", "graph": "{}", "updated_at": now}
                for p in ("fresh", "stale", "never")
            ],
        )
        connection.execute(
            pipelines.update().where(pipelines.c.pipeline_id == "never").values(paused=True)
        )
        connection.execute(
            runs.insert(),
            [
                run("fresh", now - 26 * hour, "success"),
                run("fresh", now - 2 * hour, "success"),
                run("fresh", now - hour, "running"),
                run("stale", now - 50 * hour, "success"),
                run("stale", now - 3 * hour, "failed"),  # a failure does not refresh
                run("never", now - hour, "queued"),
            ],
        )
        instances = [
            ("fresh", now - 2 * hour, ["success"] * 5),
            ("fresh", now - hour, ["running", "queued", "queued", "success", "none"]),
            ("never", now - hour, ["none", "none"]),
        ]
        connection.execute(
            task_instances.insert(),
            [
                instance(pipeline_id, end, f"t{i}", state)
                for pipeline_id, end, states in instances
                for i, state in enumerate(states)
            ],
        )
        connection.execute(
            pool_slots.insert(),
            [
                slot("fresh", now - hour, "t0", 2, now + hour),  # held
                slot("fresh", now - hour, "t1", 1, now - hour),  # its lease expired
            ],
        )
        connection.execute(
            alert_outbox.insert(),
            [
                alert("oncall", "pending", now - timedelta(minutes=5), 1),
                alert("oncall", "pending", now - timedelta(minutes=1), 2),
                alert("oncall", "sent", now - hour, 3),
                alert("email", "dead", now - hour, 4),
            ],
        )
    store.set_pool("db", 4, "the warehouse", now)
    store.beat(heartbeat("scheduler-a", now - timedelta(seconds=30), None))
    store.beat(heartbeat("scheduler-dead", now - timedelta(minutes=3), None))  # silent
    store.beat(heartbeat("scheduler-b", now - timedelta(seconds=5), stopped=now))


def run_id(pipeline_id: str, end: datetime) -> str:
    return f"{pipeline_id}__{end.isoformat()}"


def run(pipeline_id: str, end: datetime, state: str) -> dict[str, Any]:
    return {
        "run_id": run_id(pipeline_id, end),
        "pipeline_id": pipeline_id,
        "logical_date": end - timedelta(days=1),
        "data_interval_start": end - timedelta(days=1),
        "data_interval_end": end,
        "params": "{}",
        "state": state,
        "run_type": "scheduled",
        "triggered_by": "scheduler",
        "created_at": end,
    }


def instance(pipeline_id: str, end: datetime, task_id: str, state: str) -> dict[str, Any]:
    return {
        "run_id": run_id(pipeline_id, end),
        "task_id": task_id,
        "map_index": -1,
        "state": state,
        "try_number": 1,
        "max_tries": 1,
    }


def slot(pipeline_id: str, end: datetime, task_id: str, slots: int, until: datetime) -> Any:
    return {
        "pool": "db",
        "run_id": run_id(pipeline_id, end),
        "task_id": task_id,
        "map_index": -1,
        "slots": slots,
        "owner": "scheduler-a",
        "lease_expires_at": until,
    }


def alert(channel: str, state: str, created: datetime, number: int) -> dict[str, Any]:
    return {
        "idempotency_key": f"key-{number}",
        "channel": channel,
        "event": "run_failed",
        "payload": "{}",
        "state": state,
        "next_attempt_at": created,
        "created_at": created,
    }


def heartbeat(owner: str, last: datetime, stopped: datetime | None) -> HeartbeatRecord:
    return HeartbeatRecord(
        owner=owner,
        hostname="host",
        pid=1,
        started_at=last - timedelta(hours=1),
        last_heartbeat=last,
        stopped_at=stopped,
    )


@pytest.fixture
def seeded(settings: Settings, store: SqlStore) -> ServerContext:
    clock = FakeClock(NOW)
    seed(store, clock.now())
    return ServerContext(settings=settings, store=store, clock=clock)


@dataclass
class Scraped:
    status_code: int
    headers: dict[str, str]
    text: str


Scrape = Callable[..., Scraped]


@pytest.fixture
def scrape() -> Iterator[Scrape]:
    """GET /metrics of the server app of a context, served by uvicorn on a free port."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def get(context: ServerContext, **headers: str) -> Scraped:
        config = uvicorn.Config(create_app(context), host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        wait_until(lambda: server.started)
        port = server.servers[0].sockets[0].getsockname()[1]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return Scraped(response.status, headers, response.read().decode())
        except urllib.error.HTTPError as error:
            return Scraped(error.code, dict(error.headers), error.read().decode())

    yield get
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_store_gauges_say_what_the_store_holds(seeded: ServerContext, scrape: Scrape) -> None:
    response = scrape(seeded)
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    families = parse(response.text)

    def gauge(name: str, **labels: str) -> float | None:
        return value(families, name, **labels)

    assert gauge("headwater_store_up") == 1
    # runs by state, and the task instances of the runs in progress only
    assert gauge("headwater_runs", pipeline="fresh", state="success") == 2
    assert gauge("headwater_runs", pipeline="stale", state="failed") == 1
    assert gauge("headwater_runs", pipeline="never", state="queued") == 1
    active = {
        (s.labels["pipeline"], s.labels["state"]): s.value
        for s in families["headwater_task_instances_active"]
    }
    assert active == {
        ("fresh", "running"): 1,
        ("fresh", "queued"): 2,
        ("fresh", "success"): 1,
        ("fresh", "none"): 1,
        ("never", "none"): 2,
    }
    # freshness: the newest successful interval's end, not a newer failure's
    assert gauge("headwater_data_freshness_seconds", pipeline="fresh") == 2 * 3600
    assert gauge("headwater_data_freshness_seconds", pipeline="stale") == 50 * 3600
    never = gauge("headwater_data_freshness_seconds", pipeline="never")
    assert never is not None
    assert math.isinf(never)
    assert gauge("headwater_pipeline_paused", pipeline="never") == 1
    assert gauge("headwater_pipeline_paused", pipeline="fresh") == 0
    # pools: an expired lease holds nothing
    assert gauge("headwater_pool_slots", pool="db") == 4
    assert gauge("headwater_pool_slots_in_use", pool="db") == 2
    # the outbox: waiting, delivered, given up; and how long the oldest has waited
    assert gauge("headwater_alert_outbox", channel="oncall", state="pending") == 2
    assert gauge("headwater_alert_outbox", channel="oncall", state="sent") == 1
    assert gauge("headwater_alert_outbox", channel="email", state="dead") == 1
    assert gauge("headwater_alert_outbox_oldest_pending_seconds", channel="oncall") == 300
    assert gauge("headwater_alert_outbox_oldest_pending_seconds", channel="email") is None
    # heartbeats: neither the stopped scheduler nor the silent one is alive
    assert gauge("headwater_schedulers_alive") == 1
    assert gauge("headwater_scheduler_heartbeat_age_seconds") == 30
    for labels in label_sets(families):
        assert set(labels) <= BOUNDED_LABELS
        assert not any("__" in label for label in labels.values())  # no run id


def test_an_empty_store_has_no_freshness_and_no_heartbeat(
    settings: Settings, store: SqlStore, scrape: Scrape
) -> None:
    families = parse(scrape(ServerContext(settings=settings, store=store)).text)
    assert families["headwater_data_freshness_seconds"] == []
    assert value(families, "headwater_schedulers_alive") == 0
    assert "headwater_scheduler_heartbeat_age_seconds" not in families


def test_a_store_that_cannot_be_read_still_answers_with_store_up_0(
    settings: Settings, tmp_path: Any, scrape: Scrape
) -> None:
    missing = tmp_path / "no-such-folder" / "headwater.db"
    down = SqlStore(sa.create_engine(f"sqlite:///{missing}"), migrate=False)
    try:
        response = scrape(ServerContext(settings=settings, store=down))
    finally:
        down.close()
    assert response.status_code == 200
    families = parse(response.text)
    assert value(families, "headwater_store_up") == 0
    assert "headwater_runs" not in families


def test_metrics_need_a_viewer_token_when_the_switch_is_on(
    seeded: ServerContext, scrape: Scrape, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_METRICS_AUTH", "1")
    now = seeded.clock.now()
    create_user(seeded.store, "grafana", Role.VIEWER, None, now)
    token, _ = create_token(seeded.store, "grafana", now)

    assert scrape(seeded).status_code == 401
    assert scrape(seeded, authorization="Bearer nope").status_code == 401
    response = scrape(seeded, authorization=f"Bearer {token}")
    assert response.status_code == 200
    assert "headwater_runs" in response.text


@pytest.mark.parametrize(("raw", "required"), [("", False), ("0", False), ("1", True)])
def test_the_switch_reads_1_or_0(raw: str, required: bool) -> None:
    assert metrics_auth_required({"HEADWATER_METRICS_AUTH": raw}) is required


def test_a_bad_switch_is_refused_with_what_to_write() -> None:
    with pytest.raises(ConfigError) as caught:
        metrics_auth_required({"HEADWATER_METRICS_AUTH": "maybe"})
    assert str(caught.value) == "HEADWATER_METRICS_AUTH must be 1 or 0 (true or false), got 'maybe'"
