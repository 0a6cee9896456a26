"""start_alerting: the server's background job delivers alerts and watches."""

from __future__ import annotations

from pathlib import Path

from headwater.alerts.config import parse_alerts
from headwater.clock import SystemClock
from headwater.config import Settings
from headwater.server.alerting import start_alerting
from headwater.server.context import ServerContext
from headwater.store.records import HeartbeatRecord
from headwater.store.sql.store import SqlStore
from tests.alerts.receivers import HttpReceiver
from tests.waiting import wait_until


def test_the_server_job_alerts_scheduler_down_and_stops(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    settings = Settings.for_home(tmp_path)
    store = SqlStore.from_settings(settings)
    clock = SystemClock()
    config = parse_alerts(
        {
            "scheduler_down_after": "1s",
            "channels": {"oncall": {"type": "webhook", "url": receiver.url + "/hook"}},
            "rules": [{"events": ["scheduler_down"], "channels": ["oncall"]}],
        },
        Path("headwater.toml"),
    )
    long_ago = clock.now().replace(year=2025)
    store.beat(
        HeartbeatRecord(
            owner="gone", hostname="h", pid=1, started_at=long_ago, last_heartbeat=long_ago
        )
    )
    context = ServerContext(settings=settings, store=store, base_url="http://ui.example")
    stop = start_alerting(context, config)
    try:
        wait_until(lambda: len(receiver.received) == 1, timeout=20)
    finally:
        stop()
        store.close()
    body = receiver.received[0].json()
    assert body["type"] == "scheduler_down"
    assert body["data"]["link"] == "http://ui.example"
