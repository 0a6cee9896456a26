"""Cancelling a run while a host drives it: tries stopped, nothing new started, run failed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from headwater import Context, pipeline, task
from headwater.engine.host import EngineHost
from headwater.runtime import Runtime
from headwater.testing import FakeClock
from tests.engine.test_host import host_for
from tests.waiting import wait_until

release = threading.Event()


@task(pool="warehouse")
def blocker() -> str:
    release.wait(30)  # blocked in C: a cancel cannot stop it before it returns
    return "done"


@task
def load(value: str) -> str:
    return value


@task(retries=1, retry_delay=timedelta(hours=1))
def flaky(ctx: Context) -> int:
    if ctx.try_number == 1:
        raise ConnectionError("transient")
    return 1


@pipeline
def cancellable() -> None:
    load(blocker())
    flaky()


def step_until(host: EngineHost, condition: object) -> None:
    def stepped() -> bool:
        host.step(0.05)
        return bool(condition())  # type: ignore[operator]  # a callable

    wait_until(stepped, timeout=30)


def test_a_cancelled_run_stops_its_tries_and_keeps_the_slot_until_the_thread_returns(
    runtime: Runtime, clock: FakeClock
) -> None:
    release.clear()
    store = runtime.store
    store.set_pool("warehouse", 1, None, clock.now())
    run = runtime.create_run(cancellable, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    host = host_for(runtime, clock, 4)
    assert host.add(cancellable, run)
    host.start()
    try:
        states = lambda: {i.task_id: i.state for i in store.get_task_instances(run.run_id)}  # noqa: E731
        step_until(
            host,
            lambda: states() == {"blocker": "running", "load": "none", "flaky": "up_for_retry"},
        )
        assert store.request_cancel(run.run_id, clock.now(), "by ann: wrong day") is False
        step_until(host, lambda: run.run_id not in host.drivers)

        ended = store.get_run(run.run_id)
        assert (ended.state, ended.note) == ("failed", "by ann: wrong day")
        instances = {i.task_id: (i.state, i.error) for i in store.get_task_instances(run.run_id)}
        assert instances == {
            "blocker": ("failed", "cancelled: by ann: wrong day"),
            "load": ("skipped", "cancelled: by ann: wrong day"),
            "flaky": ("skipped", "cancelled: by ann: wrong day"),
        }
        # the thread still runs: it keeps its executor and pool slot until it returns
        assert len(host.zombies) == 1
        assert store.list_pools(clock.now())[0].in_use == 1
        release.set()
        step_until(host, lambda: not host.zombies)
        assert store.list_pools(clock.now())[0].in_use == 0
        assert run.run_id not in host.busy_runs()
    finally:
        release.set()
        host.shutdown()

    # repaired like a failed run: what the cancel stopped or skipped runs again
    repaired = runtime.retry(run.run_id, cancellable)
    assert (repaired.state, repaired.note) == ("success", None)
    assert {i.task_id: i.state for i in store.get_task_instances(run.run_id)} == {
        "blocker": "success",
        "load": "success",
        "flaky": "success",
    }


def test_a_run_cancelled_before_it_is_claimed_is_ended_by_the_request(
    runtime: Runtime, clock: FakeClock
) -> None:
    run = runtime.create_run(cancellable, logical_date=datetime(2026, 1, 6, tzinfo=UTC))
    runtime.store.release_run(run.run_id, runtime.owner, run.lease_generation)  # queued, free
    assert runtime.store.request_cancel(run.run_id, clock.now(), "not today") is True
    host = host_for(runtime, clock, 2)
    assert not host.add(cancellable, runtime.store.get_run(run.run_id))  # nothing to do


def test_a_run_claimed_with_a_cancel_pending_is_cancelled_when_taken_in(
    runtime: Runtime, clock: FakeClock
) -> None:
    release.set()
    store = runtime.store
    run = runtime.create_run(cancellable, logical_date=datetime(2026, 1, 7, tzinfo=UTC))
    until = clock.now() + timedelta(minutes=1)
    claimed = store.claim_run(run.run_id, runtime.owner, clock.now(), until)
    assert claimed is not None
    assert store.request_cancel(run.run_id, clock.now(), "later") is False
    host = host_for(runtime, clock, 2)
    assert host.add(cancellable, store.get_run(run.run_id), claimed=True)
    host.start()
    try:
        host.run_until_done()
    finally:
        host.shutdown()
    assert store.get_run(run.run_id).state == "failed"
    assert {i.state for i in store.get_task_instances(run.run_id)} == {"skipped"}
    assert store.get_tries(run.run_id) == []
