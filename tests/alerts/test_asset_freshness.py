"""Asset freshness: one ``stale`` alert per asset while its newest data is too old, read
from the store alone, delivered to a real local webhook."""

from __future__ import annotations

import json
import random
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from headwater import DailyPartitions, asset
from headwater.alerts.asset_freshness import watch_asset_freshness
from headwater.alerts.channels.pagerduty import body_of
from headwater.alerts.config import AlertsConfig, parse_alerts
from headwater.alerts.message import build_message
from headwater.alerts.sender import AlertSender
from headwater.alerts.watchers import watch_all
from headwater.asset_status import NewestByAsset
from headwater.assets.graph import AssetGraph
from headwater.engine.assets import asset_records
from headwater.runtime import Runtime
from headwater.store.sql.schema import alert_conditions, alert_events, asset_materializations
from headwater.store.sql.store import SqlStore
from headwater.testing import FakeClock
from tests.alerts.receivers import HttpReceiver
from tests.cli.conftest import store_of
from tests.cli.test_scheduler import SchedulerProcess
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

__all__ = ["store_of"]  # the fixture

DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")


@asset(partitions=DAILY, freshness=timedelta(hours=26), alerts=["oncall"])
def orders_raw() -> list[int]:
    return [1]


@asset(key_prefix="finance", freshness=timedelta(hours=2))
def ledger() -> int:
    return 1


@asset
def lookup() -> int:  # no freshness: never watched
    return 1


GRAPH = AssetGraph([orders_raw, ledger, lookup])


def record(runtime: Runtime, name: str, partition: str | None = None) -> None:
    """A successful materialization of ``name``'s partition, now (as the engine records it)."""
    with runtime.store.engine.begin() as connection:
        connection.execute(
            asset_materializations.insert().values(
                asset_key=name,
                partition_key=partition or "",
                status="materialized",
                run_id="r",
                task_id=name,
                try_number=1,
                created_at=runtime.clock.now(),
                metadata="{}",
            )
        )


def stale_events(runtime: Runtime, asset_key: str | None = None) -> list[dict[str, Any]]:
    """The facts of the ``stale`` alerts written (of one asset), oldest first."""
    with runtime.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(alert_events.c.payload)
            .where(alert_events.c.event == "stale")
            .order_by(alert_events.c.id)
        )
        found = [json.loads(payload) for (payload,) in rows]
    return [facts for facts in found if asset_key in (None, facts["asset_key"])]


# each store's newest data kept between rounds, as the alert service keeps it
_NEWEST: weakref.WeakKeyDictionary[SqlStore, NewestByAsset] = weakref.WeakKeyDictionary()


def watch(runtime: Runtime) -> list[str]:
    return watch_all(
        runtime.store,
        {},
        runtime.clock.now(),
        scheduler_down_after=timedelta(1),
        newest_by_asset=_NEWEST.setdefault(runtime.store, NewestByAsset()),
    )


def alerts_config(url: str, rules: list[dict[str, Any]] | None = None) -> AlertsConfig:
    data = {
        "channels": {
            "oncall": {"type": "webhook", "url": url + "/oncall"},
            "team": {"type": "webhook", "url": url + "/team"},
            "orders-only": {"type": "webhook", "url": url + "/orders-only"},
        },
        "rules": rules or [],
    }
    return parse_alerts(data, Path("headwater.toml"))


@pytest.fixture
def recorded(runtime: Runtime) -> Runtime:
    """The assets' definitions recorded, as the scheduler records them when it loads."""
    runtime.store.upsert_assets(asset_records(GRAPH, runtime.clock.now()))
    return runtime


@pytest.mark.postgres
def test_a_missing_day_makes_a_daily_asset_stale_once_until_it_is_fresh_again(
    recorded: Runtime, clock: FakeClock
) -> None:
    runtime = recorded
    # Given Jan 3 and Jan 4 materialized (Monday Jan 5, 06:00): fresh
    record(runtime, "orders_raw", "2026-01-03")
    record(runtime, "orders_raw", "2026-01-04")
    watch(runtime)
    assert stale_events(runtime, "orders_raw") == []
    # When Jan 5 is still missing 26 hours after its window ended... (Jan 6, 02:00)
    clock.advance(timedelta(hours=20))
    watch(runtime)
    assert stale_events(runtime, "orders_raw") == []
    clock.advance(timedelta(minutes=1))
    watch(runtime)
    # Then one alert names the asset, its newest partition and how old its data is
    (event,) = stale_events(runtime, "orders_raw")
    assert event["asset_key"] == "orders_raw"
    assert event["newest_partition"] == "2026-01-04"
    assert event["data_until"] == "2026-01-05T00:00:00+00:00"
    assert event["age_seconds"] == 26 * 3600 + 60
    assert event["details"] == [
        "Freshness: newest partition 2026-01-04, whose window ended 2026-01-05T00:00:00+00:00, "
        "1 day 2 hours ago (allowed: 1 day 2 hours); last materialized 2026-01-05T06:00:00+00:00"
    ]
    # And materializing an older day again does not make it fresh, nor alert again
    record(runtime, "orders_raw", "2026-01-03")
    clock.advance(timedelta(hours=1))
    watch(runtime)
    assert len(stale_events(runtime, "orders_raw")) == 1
    # Once Jan 5 is there, its condition is resolved; the next staleness alerts again
    record(runtime, "orders_raw", "2026-01-05")
    watch(runtime)
    with runtime.store.engine.connect() as connection:
        resolved = connection.execute(
            sa.select(alert_conditions.c.resolved_at).where(
                alert_conditions.c.condition_key == "stale|asset:orders_raw|1"
            )
        ).scalar_one()
    assert resolved == clock.now()
    clock.advance(timedelta(days=2))
    watch(runtime)
    assert [e["newest_partition"] for e in stale_events(runtime, "orders_raw")] == [
        "2026-01-04",
        "2026-01-05",
    ]


def test_an_unpartitioned_asset_is_stale_when_its_newest_materialization_is_too_old(
    recorded: Runtime, clock: FakeClock
) -> None:
    runtime = recorded
    record(runtime, "finance/ledger")
    clock.advance(timedelta(hours=2))
    assert watch(runtime) == []
    clock.advance(timedelta(seconds=1))
    assert watch(runtime) == ["stale|asset:finance/ledger|1"]
    (event,) = stale_events(runtime)
    assert event["details"] == [
        "Freshness: newest materialization at 2026-01-05T06:00:00+00:00, 2 hours 1 second "
        "ago (allowed: 2 hours)"
    ]


def test_an_asset_never_materialized_counts_from_when_it_was_first_watched(
    recorded: Runtime, clock: FakeClock
) -> None:
    runtime = recorded
    watch(runtime)
    clock.advance(timedelta(hours=2, minutes=1))
    watch(runtime)
    watch(runtime)
    (event,) = stale_events(runtime)
    assert event["asset_key"] == "finance/ledger"  # orders_raw's limit is 26 hours
    assert event["newest_partition"] is None
    assert event["details"] == [
        "Freshness: never materialized; watched since 2026-01-05T06:00:00+00:00, "
        "2 hours 1 minute ago (allowed: 2 hours)"
    ]


def test_an_asset_removed_from_the_code_is_no_longer_watched_until_defined_again(
    recorded: Runtime, clock: FakeClock
) -> None:
    runtime = recorded
    record(runtime, "finance/ledger")
    clock.advance(timedelta(hours=3))
    assert watch(runtime) == ["stale|asset:finance/ledger|1"]
    # When the loader finds ledger's file without it
    kept = [r for r in asset_records(GRAPH, clock.now()) if r.asset_key != "finance/ledger"]
    gone = runtime.store.upsert_assets(kept, removed=lambda _: True, now=clock.now())
    assert gone == ["finance/ledger"]
    # Then it is not watched (a day later, still no alert) and its condition is closed
    clock.advance(timedelta(days=1))
    assert watch(runtime) == []
    with runtime.store.engine.connect() as connection:
        conditions = connection.execute(
            sa.select(alert_conditions.c.resolved_at).where(
                alert_conditions.c.condition_key == "stale|asset:finance/ledger|1"
            )
        ).all()
    assert conditions == [(clock.now(),)]
    # And defined again, it is watched again: still stale, so one new alert
    runtime.store.upsert_assets(asset_records(GRAPH, clock.now()))
    assert watch(runtime) == ["stale|asset:finance/ledger|2"]
    assert len(stale_events(runtime, "finance/ledger")) == 2


def test_the_alert_goes_to_the_assets_channels_and_the_rules_for_every_pipeline(
    recorded: Runtime, clock: FakeClock, receiver: HttpReceiver
) -> None:
    runtime = recorded
    record(runtime, "orders_raw", "2026-01-01")  # window ended Jan 2: stale on Jan 5
    config = alerts_config(
        receiver.url,
        rules=[
            {"events": ["stale"], "channels": ["team"]},
            {"pipelines": ["orders"], "events": ["stale"], "channels": ["orders-only"]},
        ],
    )
    watch(runtime)
    sender = AlertSender(runtime.store, config, owner="s", clock=clock, rng=random.Random(1))
    sender.run_once()
    by_path = {got.path: got.json() for got in receiver.received}
    assert sorted(by_path) == ["/oncall", "/team"]  # not the rule of one pipeline
    body = by_path["/oncall"]
    assert body["type"] == "stale"
    assert body["data"]["title"] == "headwater: asset orders_raw is stale"
    assert body["data"]["link"] == "http://127.0.0.1:8787/assets/orders_raw"
    assert body["data"]["text"].splitlines()[:2] == [
        "headwater: asset orders_raw is stale",
        "Asset: orders_raw",
    ]
    assert "newest partition 2026-01-01" in body["data"]["text"]


def test_pagerduty_gets_one_incident_per_stale_asset() -> None:
    facts = {"asset_key": "sales/orders_raw", "details": ["Freshness: ..."]}
    message = build_message("k", "stale", facts, "http://ui", datetime(2026, 1, 5, tzinfo=UTC))
    body = body_of(message, "routing-key")
    assert body["dedup_key"] == "headwater/asset/sales/orders_raw/stale"
    assert body["event_action"] == "trigger"


@pytest.mark.postgres
def test_watchers_running_at_once_alert_once(recorded: Runtime, clock: FakeClock) -> None:
    runtime = recorded
    record(runtime, "finance/ledger")
    clock.advance(timedelta(hours=3))
    stores = [SqlStore.from_settings(runtime.settings) for _ in range(4)]
    barrier = threading.Barrier(len(stores), timeout=20)
    opened: list[str] = []

    def watch_once(store: SqlStore) -> None:
        barrier.wait()
        opened.extend(watch_asset_freshness(store, clock.now()))

    threads = [threading.Thread(target=watch_once, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()
    assert opened == ["stale|asset:finance/ledger|1"]
    assert len(stale_events(runtime)) == 1


# end to end: a real scheduler process and a local webhook

STALE_ASSET = """\
from datetime import timedelta
from headwater import asset

@asset(freshness=timedelta(hours=1), alerts=["oncall"])
def inventory() -> int:
    return 1
"""


def test_a_scheduler_alerts_the_webhook_of_an_asset_materialized_too_long_ago(
    tmp_path: Path,
    receiver: HttpReceiver,
    store_of: Callable[[], SqlStore],
    command_server: CommandServer,
) -> None:
    # Given an asset last materialized two hours ago
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "inventory.py").write_text(STALE_ASSET)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "headwater.toml").write_text(
        f'[alerts.channels.oncall]\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
    )
    store = store_of()
    with store.engine.begin() as connection:
        connection.execute(
            asset_materializations.insert().values(
                asset_key="inventory",
                partition_key="",
                status="materialized",
                run_id="r",
                task_id="inventory",
                try_number=1,
                created_at=datetime.now(UTC) - timedelta(hours=2),
                metadata="{}",
            )
        )
    # When a scheduler starts
    scheduler = SchedulerProcess(command_server, home, pipelines, tmp_path)
    try:
        wait_until(lambda: len(receiver.received) >= 1, timeout=30)
    finally:
        scheduler.stop()
    # Then the webhook heard that the asset is stale, once
    (got,) = receiver.received
    body = got.json()
    assert (body["type"], body["data"]["asset_key"]) == ("stale", "inventory")
    assert "newest materialization at" in body["data"]["text"]
