"""Alert events are written in the transaction of the change that causes them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.alerts.config import AlertsConfig, RuleConfig, parse_alerts
from headwater.alerts.sender import AlertSender
from headwater.errors import TransitionRejected
from headwater.runtime import Runtime
from headwater.store.records import Batch, Lease, RunUpdate
from headwater.store.sql.schema import alert_events, alert_outbox
from headwater.testing import FakeClock
from tests.alerts import pipelines
from tests.alerts.pipelines import orders

DAY = date(2026, 1, 4)


def events_of(runtime: Runtime) -> list[tuple[str, str | None]]:
    with runtime.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(alert_events.c.event, alert_events.c.run_id).order_by(alert_events.c.id)
        )
        return [(row.event, row.run_id) for row in rows]


def outbox_of(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(alert_outbox.c.event, alert_outbox.c.channel).order_by(alert_outbox.c.id)
        )
        return [(row.event, row.channel) for row in rows]


def config(receiver_url: str = "http://127.0.0.1:9/hook", **rules: object) -> AlertsConfig:
    data: dict[str, object] = {
        "channels": {
            "oncall": {"type": "webhook", "url": receiver_url},
            "team": {"type": "slack", "webhook_url": receiver_url},
        }
    }
    if rules:
        data["rules"] = [rules]
    return parse_alerts(data, Path("headwater.toml"))


@pytest.fixture(autouse=True)
def failing() -> None:
    pipelines.outcome["fail"] = True


def test_a_task_failing_all_its_retries_makes_one_run_failed_and_one_task_failed(
    runtime: Runtime,
) -> None:
    # Given a task with 3 retries that always fails
    run = runtime.run(orders, logical_date=DAY)
    assert run.state == "failed"
    # Then the store holds one run_failed, one task_failed (the final try), three retries
    events = [event for event, _ in events_of(runtime)]
    assert sorted(events) == ["run_failed", "task_failed", "task_retry", "task_retry", "task_retry"]
    # And routing to a channel subscribed to both sends two alerts, not one per try
    sender = AlertSender(
        runtime.store,
        config(events=["run_failed", "task_failed"], channels=["team"]),
        owner="test",
        clock=runtime.clock,
    )
    sender.route()
    assert sorted(outbox_of(runtime)) == [
        ("run_failed", "oncall"),  # @pipeline(alerts=["oncall"]): run_failed by default
        ("run_failed", "team"),
        ("task_failed", "team"),
    ]
    # Routing again (another sender, a crash before marking) adds nothing
    with runtime.store.engine.begin() as connection:
        connection.execute(alert_events.update().values(routed_at=None))
    sender.route()
    assert len(outbox_of(runtime)) == 3


def test_the_message_facts_name_the_failed_task_its_try_and_last_error_line(
    runtime: Runtime,
) -> None:
    runtime.run(orders, logical_date=DAY)
    AlertSender(runtime.store, config(), owner="t", clock=runtime.clock).route()
    from headwater.alerts.api import recent_deliveries

    (delivery,) = recent_deliveries(runtime.store)
    assert delivery.event == "run_failed"
    assert delivery.title == "headwater: run of orders for 2026-01-04 00:00 UTC failed"
    with runtime.store.engine.connect() as connection:
        payload = connection.execute(sa.select(alert_outbox.c.payload)).scalar_one()
    assert '"try_number": 4' in payload
    assert "SourceUnavailable: the orders API answered 503" in payload
    assert "upstream said 503" not in payload  # only the last line


def test_a_retried_run_that_succeeds_is_a_recovery_of_its_interval(runtime: Runtime) -> None:
    run = runtime.run(orders, logical_date=DAY)
    pipelines.outcome["fail"] = False
    runtime.run(orders, logical_date=DAY)  # the same interval, run again
    events = events_of(runtime)
    assert ("run_succeeded", run.run_id) in events
    assert ("run_recovered", run.run_id) in events


def test_a_success_after_the_previous_interval_failed_is_a_recovery_once(
    runtime: Runtime,
) -> None:
    # Given a run that failed for one day
    runtime.run(orders, logical_date=DAY)
    pipelines.outcome["fail"] = False
    # When the next two days succeed
    second = runtime.run(orders, logical_date=DAY + timedelta(days=1))
    third = runtime.run(orders, logical_date=DAY + timedelta(days=2))
    # Then only the first success after the failure is a recovery
    events = events_of(runtime)
    assert ("run_recovered", second.run_id) in events
    assert ("run_succeeded", third.run_id) in events
    assert ("run_recovered", third.run_id) not in events


def test_a_fenced_batch_writes_no_alert(runtime: Runtime, clock: FakeClock) -> None:
    # Given a run whose lease a newer claim superseded
    run = runtime.create_run(orders, logical_date=DAY)
    claimed = runtime.store.claim_run(
        run.run_id, "a", clock.now(), clock.now() + timedelta(hours=1), take_over=True
    )
    assert claimed is not None
    runtime.store.claim_run(
        run.run_id, "b", clock.now(), clock.now() + timedelta(hours=1), take_over=True
    )
    stale = Lease(run_id=run.run_id, owner="a", generation=claimed.lease_generation)
    # When the old owner commits the run's failure
    batch = Batch(
        run_update=RunUpdate(
            run_id=run.run_id, expected=("queued", "running"), state="failed", ended_at=clock.now()
        ),
        lease=stale,
    )
    with pytest.raises(TransitionRejected):
        runtime.store.apply_many([batch])
    # Then neither the failure nor its alert was written
    assert runtime.store.get_run(run.run_id).state == "queued"
    assert events_of(runtime) == []


def test_rules_route_by_pipeline_and_event() -> None:
    declared = config(pipelines=["orders"], events=["stale"], channels=["team"])
    assert declared.channels_for("stale", "orders") == {"team"}
    assert declared.channels_for("stale", "other") == set()
    assert declared.channels_for("run_failed", "orders", ("oncall",)) == {"oncall"}
    assert declared.channels_for("task_retry", "orders", ("oncall",)) == set()
    assert declared.channels_for("run_failed", "orders", ("undeclared",)) == set()
    assert RuleConfig(pipelines=("*",), events=("scheduler_down",), channels=("team",)).matches(
        "scheduler_down", None
    )


def test_routed_events_and_ended_deliveries_are_pruned_after_their_keep(
    runtime: Runtime, clock: FakeClock
) -> None:
    from headwater.alerts.service import KEEP, AlertService

    # Given a failed run whose events were routed, one delivery ended and one pending
    runtime.run(orders, logical_date=DAY)
    AlertSender(
        runtime.store, config(events=["run_failed"], channels=["team"]), owner="t", clock=clock
    ).route()
    with runtime.store.engine.begin() as connection:
        first = connection.execute(sa.select(sa.func.min(alert_outbox.c.id))).scalar_one()
        connection.execute(
            alert_outbox.update().where(alert_outbox.c.id == first).values(state="sent")
        )
    routed = len(events_of(runtime))
    service = AlertService(runtime.store, config(), dict, owner="t", clock=clock)
    # When pruned before their keep has passed, nothing goes
    assert service.prune() == (0, 0)
    # Then, past it, the routed events and the sent delivery go; the pending one stays
    clock.advance(KEEP + timedelta(seconds=1))
    assert service.prune() == (routed, 1)
    assert events_of(runtime) == []
    assert len(outbox_of(runtime)) == 1
