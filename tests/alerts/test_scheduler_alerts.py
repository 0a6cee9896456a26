"""Alerts through a real ``headwater scheduler`` process and a local webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import signal
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from headwater.alerts.api import recent_deliveries
from headwater.store.sql.schema import alert_events
from headwater.store.sql.store import SqlStore
from tests.alerts.receivers import HttpReceiver
from tests.cli.conftest import store_of
from tests.cli.test_scheduler import SchedulerProcess
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

FAILING_DAILY = """\
from datetime import datetime, timedelta, UTC
from headwater import pipeline, task

@task
def extract() -> None:
    raise RuntimeError("the orders API answered 503")

@pipeline(
    schedule="@daily",
    start=datetime.now(UTC) - timedelta(days=3),
    alerts=["oncall"],
)
def orders() -> None:
    extract()
"""
SECRET = "tuesday-secret"
__all__ = ["store_of"]  # the fixture


def setup(tmp_path: Path, receiver: HttpReceiver, send_delay: str = "0s") -> Path:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir(exist_ok=True)
    (pipelines / "orders.py").write_text(FAILING_DAILY)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True, mode=0o700)
    (home / "headwater.toml").write_text(
        f"""\
[alerts]
send_delay = "{send_delay}"

[alerts.channels.oncall]
type = "webhook"
url = "{receiver.url}/hook"
secret = "{SECRET}"
"""
    )
    return pipelines


def failures_committed(store: SqlStore) -> int:
    with store.engine.connect() as connection:
        query = sa.select(sa.func.count()).where(alert_events.c.event == "run_failed")
        return int(connection.execute(query).scalar_one())


def test_a_failed_scheduled_run_alerts_the_webhook_within_seconds(
    tmp_path: Path,
    receiver: HttpReceiver,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    pipelines = setup(tmp_path, receiver)
    started = time.monotonic()
    scheduler = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    try:
        wait_until(lambda: len(receiver.received) >= 1, timeout=30)
        elapsed = time.monotonic() - started
    finally:
        scheduler.stop()
    assert elapsed < 15
    (got,) = receiver.received
    body = got.json()
    assert body["type"] == "run_failed"
    assert body["data"]["pipeline_id"] == "orders"
    assert (
        "Failed task: extract (try 1): RuntimeError: the orders API answered 503"
        in (body["data"]["text"])
    )
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(SECRET.encode(), signed + got.body, hashlib.sha256).digest()
    assert got.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    assert SECRET not in scheduler.log.read_text()


def test_an_alert_survives_a_scheduler_killed_before_sending_it(
    tmp_path: Path,
    receiver: HttpReceiver,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    # Given a scheduler whose sender starts late, killed once the failure is committed
    pipelines = setup(tmp_path, receiver, send_delay="1h")
    first = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    store = store_of()
    try:
        wait_until(lambda: failures_committed(store) == 1, timeout=30)
    finally:
        first.stop(signal.SIGKILL)
    assert receiver.received == []
    # When a scheduler starts again
    setup(tmp_path, receiver, send_delay="0s")
    second = SchedulerProcess(command_server, tmp_path / "home", pipelines, tmp_path)
    try:
        wait_until(lambda: [d.state for d in recent_deliveries(store)] == ["sent"], timeout=30)
    finally:
        second.stop()
    # Then the receiver got the alert exactly once
    assert len(receiver.received) == 1
    (delivery,) = recent_deliveries(store)
    assert (delivery.event, delivery.attempts) == ("run_failed", 1)
