"""Watchers: deadline_missed, stale and scheduler_down, as functions of (store, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from headwater import pipeline, task
from headwater.alerts.watchers import watch_all
from headwater.engine.runs import record_pipeline
from headwater.runtime import Runtime
from headwater.store.records import HeartbeatRecord
from headwater.store.sql.schema import alert_conditions, alert_events
from headwater.testing import FakeClock

DOWN_AFTER = timedelta(minutes=2)


@task
def step() -> None:
    pass


@pipeline(
    schedule="@daily",
    start="2026-01-01",
    deadline=timedelta(hours=3),
    freshness=timedelta(hours=26),
    alerts=["oncall"],
)
def daily() -> None:
    step()


def events(runtime: Runtime) -> list[str]:
    with runtime.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(alert_events.c.event, alert_events.c.logical_date).order_by(alert_events.c.id)
        )
        return [
            row.event + ("" if row.logical_date is None else f"@{row.logical_date:%m-%d}")
            for row in rows
        ]


def watch(runtime: Runtime, definitions: bool = True) -> list[str]:
    return watch_all(
        runtime.store,
        {"daily": daily} if definitions else {},
        runtime.clock.now(),
        scheduler_down_after=DOWN_AFTER,
    )


def test_with_no_scheduler_running_deadline_and_staleness_alert_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a daily pipeline recorded on Monday 06:00, and no scheduler afterwards
    record_pipeline(runtime.store, daily, clock.now())
    watch(runtime)  # first watched now
    # it never succeeded since its start (Jan 1): stale at once
    assert events(runtime) == ["stale"]
    # When Tuesday 03:00 passes (Monday's interval ended at 00:00, deadline 3 h)
    clock.advance(timedelta(hours=21, minutes=1))
    watch(runtime)
    watch(runtime)  # watching again alerts nothing new
    assert events(runtime) == ["stale", "deadline_missed@01-05"]
    # And the next day's interval misses its own deadline, once
    clock.advance(timedelta(days=1))
    watch(runtime)
    assert events(runtime) == ["stale", "deadline_missed@01-05", "deadline_missed@01-06"]


def test_a_successful_run_in_time_meets_the_deadline_and_freshens(
    runtime: Runtime, clock: FakeClock
) -> None:
    record_pipeline(runtime.store, daily, clock.now())
    watch(runtime)
    clock.advance(timedelta(hours=18))  # Tuesday 00:00: Monday's interval ended
    runtime.run(daily, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    clock.advance(timedelta(hours=4))
    watch(runtime)
    assert events(runtime) == ["stale", "run_succeeded@01-05"]  # stale from before, once


def test_a_stale_pipeline_alerts_again_only_after_being_fresh(
    runtime: Runtime, clock: FakeClock
) -> None:
    record_pipeline(runtime.store, daily, clock.now())
    watch(runtime, definitions=False)  # from the stored description alone
    assert events(runtime) == ["stale"]
    runtime.run(daily, logical_date=datetime(2026, 1, 5, tzinfo=UTC))  # fresh again
    watch(runtime, definitions=False)
    with runtime.store.engine.connect() as connection:
        resolved = connection.execute(
            sa.select(alert_conditions.c.resolved_at).where(alert_conditions.c.event == "stale")
        ).scalar_one()
    assert resolved == clock.now()
    clock.advance(timedelta(hours=45))  # its interval ended Jan 6 00:00: 26 h later, stale
    watch(runtime, definitions=False)
    assert [e for e in events(runtime) if e == "stale"] == ["stale", "stale"]


def test_scheduler_down_after_two_minutes_without_heartbeat(
    runtime: Runtime, clock: FakeClock
) -> None:
    watch(runtime)
    assert events(runtime) == []  # no scheduler ever ran: nothing to miss
    beat = HeartbeatRecord(
        owner="sched-1",
        hostname="h",
        pid=1,
        started_at=clock.now(),
        last_heartbeat=clock.now(),
    )
    runtime.store.beat(beat)
    clock.advance(timedelta(seconds=119))
    watch(runtime)
    assert events(runtime) == []
    clock.advance(timedelta(seconds=2))
    watch(runtime)
    watch(runtime)
    assert events(runtime) == ["scheduler_down"]
    # it comes back: resolved; it goes again: a new alert
    runtime.store.beat(HeartbeatRecord(**{**_fields(beat), "last_heartbeat": clock.now()}))
    watch(runtime)
    clock.advance(timedelta(minutes=3))
    watch(runtime)
    assert events(runtime) == ["scheduler_down", "scheduler_down"]


def _fields(beat: HeartbeatRecord) -> dict[str, object]:
    return {name: getattr(beat, name) for name in beat.__slots__}  # type: ignore[attr-defined]
