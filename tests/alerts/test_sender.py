"""The sender: retries with backoff, dead past the maximum age, order, rate limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headwater.alerts.api import recent_deliveries
from headwater.alerts.config import AlertsConfig, parse_alerts
from headwater.alerts.sender import MAX_BACKOFF, AlertSender, backoff
from headwater.runtime import Runtime
from headwater.store.sql import outbox
from headwater.testing import FakeClock
from tests.alerts.receivers import HttpReceiver


def alerts_config(url: str, **settings: object) -> AlertsConfig:
    data = {
        "channels": {"oncall": {"type": "webhook", "url": url + "/hook", "rate_limit": 100}},
        "rules": [{"events": ["run_failed", "run_recovered"], "channels": ["oncall"]}],
        **settings,
    }
    return parse_alerts(data, Path("headwater.toml"))


def add_event(runtime: Runtime, key: str, event: str = "run_failed", pipeline: str = "p") -> None:
    with runtime.store.engine.begin() as connection:
        outbox.insert_events(
            connection,
            [
                outbox.AlertEventRow(
                    event_key=key,
                    event=event,
                    pipeline_id=pipeline,
                    run_id=f"run-{key}",
                    logical_date=datetime(2026, 1, 4, tzinfo=UTC),
                    payload={"pipeline_id": pipeline, "run_id": f"run-{key}", "tasks": []},
                    created_at=runtime.clock.now(),
                )
            ],
        )


def sender(runtime: Runtime, config: AlertsConfig, owner: str = "s1") -> AlertSender:
    return AlertSender(
        runtime.store, config, owner=owner, clock=runtime.clock, rng=random.Random(7)
    )


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(1)
    first = timedelta(seconds=2)
    for attempts, base in ((1, 2), (2, 4), (3, 8), (4, 16)):
        delay = backoff(attempts, first, rng).total_seconds()
        assert base / 2 <= delay <= base
    assert backoff(60, first, rng) <= MAX_BACKOFF


def test_a_receiver_answering_500_then_200_gets_the_alert_after_a_backoff(
    runtime: Runtime, clock: FakeClock, receiver: HttpReceiver
) -> None:
    receiver.statuses = [500]
    add_event(runtime, "e1")
    alerts = sender(runtime, alerts_config(receiver.url, retry_delay="10s"))
    assert alerts.run_once() == 1
    (delivery,) = recent_deliveries(runtime.store)
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert (
        delivery.last_error
        == "webhook channel 'oncall': the receiver answered HTTP 500: server error"
    )
    wait = (delivery.next_attempt_at - clock.now()).total_seconds()
    assert 5 <= wait <= 10
    # not before its time
    assert alerts.run_once() == 0
    clock.advance(wait)
    assert alerts.run_once() == 1
    (delivery,) = recent_deliveries(runtime.store)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 2, None)
    assert delivery.sent_at == clock.now()
    assert len(receiver.received) == 1


def test_an_alert_not_delivered_within_the_maximum_age_is_dead(
    runtime: Runtime, clock: FakeClock, receiver: HttpReceiver
) -> None:
    receiver.statuses = [503] * 20
    add_event(runtime, "e1")
    alerts = sender(runtime, alerts_config(receiver.url, max_age="1m", retry_delay="10s"))
    for _ in range(20):
        alerts.run_once()
        (delivery,) = recent_deliveries(runtime.store)
        if delivery.state != "pending":
            break
        clock.advance(delivery.next_attempt_at - clock.now())
    assert delivery.state == "dead"
    assert 3 <= delivery.attempts <= 6
    assert "HTTP 503" in (delivery.last_error or "")
    assert receiver.received == []


def test_a_receiver_refusing_the_alert_for_good_makes_it_dead_at_once(
    runtime: Runtime, receiver: HttpReceiver
) -> None:
    receiver.statuses = [404]
    add_event(runtime, "e1")
    sender(runtime, alerts_config(receiver.url)).run_once()
    (delivery,) = recent_deliveries(runtime.store)
    assert (delivery.state, delivery.attempts) == ("dead", 1)


def test_deliveries_of_one_channel_and_pipeline_go_in_order(
    runtime: Runtime, clock: FakeClock, receiver: HttpReceiver
) -> None:
    # Given a failure whose delivery fails once, then its recovery
    receiver.statuses = [500]
    add_event(runtime, "fail", "run_failed")
    add_event(runtime, "recover", "run_recovered")
    add_event(runtime, "other", "run_failed", pipeline="q")
    alerts = sender(runtime, alerts_config(receiver.url))
    for _ in range(10):
        alerts.run_once()
        if len(receiver.received) == 3:
            break
        clock.advance(1)
    # Then the recovery was delivered after the failure it resolves
    sent = [got.json()["data"]["run_id"] for got in receiver.received]
    assert sorted(sent) == ["run-fail", "run-other", "run-recover"]
    assert sent.index("run-fail") < sent.index("run-recover")


def test_two_senders_never_deliver_one_alert_twice(
    runtime: Runtime, receiver: HttpReceiver
) -> None:
    for number in range(5):
        add_event(runtime, f"e{number}", pipeline=f"p{number}")
    config = alerts_config(receiver.url)
    first, second = sender(runtime, config, "s1"), sender(runtime, config, "s2")
    first.route()
    now = runtime.clock.now()
    with runtime.store.engine.begin() as connection:
        claimed = outbox.claim_deliveries(connection, "s1", now, now + timedelta(minutes=1), 3)
    assert len(claimed) == 3
    assert second.run_once() == 2  # the two s1 did not lease
    taken = {delivery.run_id for delivery in claimed}
    assert receiver.received
    assert not {got.json()["data"]["run_id"] for got in receiver.received} & taken


def test_the_rate_limit_spaces_messages_to_a_channel(
    runtime: Runtime, clock: FakeClock, receiver: HttpReceiver
) -> None:
    for number in range(3):
        add_event(runtime, f"e{number}", pipeline=f"p{number}")
    config = parse_alerts(
        {
            "channels": {"team": {"type": "slack", "webhook_url": receiver.url + "/s"}},
            "rules": [{"channels": ["team"]}],
        },
        Path("headwater.toml"),
    )
    alerts = sender(runtime, config)
    alerts.run_once()
    assert len(receiver.received) == 1  # Slack: 1 message per second
    assert {d.attempts for d in recent_deliveries(runtime.store)} == {0, 1}
    clock.advance(1)
    alerts.run_once()
    assert len(receiver.received) == 2


@pytest.mark.parametrize("state", ["pending", "sent"])
def test_recent_deliveries_filter_by_channel(
    runtime: Runtime, receiver: HttpReceiver, state: str
) -> None:
    add_event(runtime, "e1")
    alerts = sender(runtime, alerts_config(receiver.url))
    if state == "sent":
        alerts.run_once()
    else:
        alerts.route()
    assert [d.state for d in recent_deliveries(runtime.store, channel="oncall")] == [state]
    assert recent_deliveries(runtime.store, channel="other") == []
