"""Cancels, pauses, backfill cancels and heartbeats: the store's contract, on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta

import pytest
from tests.store.test_sql_store import T0, make_run, start

from headwater.errors import NotFoundError, TransitionRejected
from headwater.store.records import (
    BackfillRecord,
    Batch,
    HeartbeatRecord,
    PipelineRecord,
    RunUpdate,
)
from headwater.store.sql.store import SqlStore

LATER = T0 + timedelta(minutes=5)


def claim(store: SqlStore, run_id: str = "r1", until: datetime = T0 + timedelta(hours=1)) -> None:
    assert store.claim_run(run_id, "owner-1", T0, until) is not None


def test_a_queued_run_nobody_drives_is_ended_at_once(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0), ("b", -1, 3, 0)])
    assert store.request_cancel("r1", LATER, "cancelled by ann: wrong params") is True
    run = store.get_run("r1")
    assert (run.state, run.ended_at, run.note) == (
        "failed",
        LATER,
        "cancelled by ann: wrong params",
    )
    assert run.cancel_requested_at == LATER
    instances = store.get_task_instances("r1")
    assert {(i.state, i.error) for i in instances} == {
        ("skipped", "cancelled: cancelled by ann: wrong params")
    }
    # nobody can claim it now, and a second cancel is refused as for any ended run
    assert store.claim_run("r1", "owner-2", LATER, LATER + timedelta(minutes=1)) is None
    with pytest.raises(TransitionRejected, match="already ended failed"):
        store.request_cancel("r1", LATER, "again")


def test_a_driven_run_gets_a_request_its_driver_reads(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0)])
    store.create_run(make_run("r2", day=T0 + timedelta(days=1)), [])
    claim(store)
    claim(store, "r2")
    assert store.request_cancel("r1", LATER, "first") is False
    assert store.request_cancel("r1", LATER + timedelta(seconds=1), "second") is False
    run = store.get_run("r1")
    assert (run.state, run.cancel_requested_at, run.note) == ("queued", LATER, "first")
    assert store.cancel_requests(["r1", "r2", "missing"]) == {"r1": "first"}
    assert store.cancel_requests([]) == {}


def test_a_run_whose_driver_lease_ran_out_is_ended_with_its_tries(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0), ("b", -1, 1, 0)])
    claim(store, until=T0 + timedelta(seconds=30))
    store.apply(Batch(changes=[start("a")]))
    assert store.request_cancel("r1", LATER, "stuck") is True
    states = {i.task_id: (i.state, i.error) for i in store.get_task_instances("r1")}
    assert states == {"a": ("failed", "cancelled: stuck"), "b": ("skipped", "cancelled: stuck")}
    (attempt,) = store.get_tries("r1", "a")
    assert (attempt.state, attempt.error, attempt.ended_at) == ("failed", "cancelled: stuck", LATER)
    # the stalled driver's next write is fenced off: the claim's generation moved on
    assert store.get_run("r1").lease_generation == 2


def test_cancel_of_unknown_or_ended_runs_is_refused(store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match="no run 'missing'"):
        store.request_cancel("missing", T0, "x")
    store.create_run(dataclasses.replace(make_run(), state="success"), [])
    with pytest.raises(TransitionRejected, match="already ended success; nothing to cancel"):
        store.request_cancel("r1", T0, "x")


def test_a_cancel_and_a_claim_at_the_same_moment_never_both_win(store: SqlStore) -> None:
    count = 12
    for n in range(count):
        store.create_run(make_run(f"r{n}", day=T0 + timedelta(days=n)), [("a", -1, 1, 0)])
    barrier = threading.Barrier(2)
    claimed: list[str] = []
    ended: list[str] = []

    def claims() -> None:
        barrier.wait()
        for n in range(count):
            if store.claim_run(f"r{n}", "owner-1", T0, T0 + timedelta(hours=1)) is not None:
                claimed.append(f"r{n}")

    def cancels() -> None:
        barrier.wait()
        for n in range(count):
            if store.request_cancel(f"r{n}", T0, "race"):
                ended.append(f"r{n}")

    threads = [threading.Thread(target=claims), threading.Thread(target=cancels)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claimed + ended) == sorted(f"r{n}" for n in range(count))  # one each
    for run_id in claimed:  # claimed first: its driver cancels it
        run = store.get_run(run_id)
        assert (run.state, run.note) == ("queued", "race")
        assert run.cancel_requested_at is not None
    for run_id in ended:
        assert store.get_run(run_id).state == "failed"


def test_a_reset_forgets_the_cancel_of_the_last_attempt(store: SqlStore) -> None:
    store.create_run(make_run(), [])
    store.request_cancel("r1", LATER, "oops")
    store.apply(
        Batch(
            run_update=RunUpdate(
                run_id="r1",
                expected=("failed",),
                state="queued",
                clear_ended_at=True,
                clear_started_at=True,
            )
        )
    )
    run = store.get_run("r1")
    assert (run.state, run.cancel_requested_at, run.note) == ("queued", None, None)


def test_paused_pipelines(store: SqlStore) -> None:
    for pipeline_id in ("p", "q"):
        store.upsert_pipeline(
            PipelineRecord(
                pipeline_id=pipeline_id,
                source_file=None,
                description="",
                schedule="@daily",
                timezone="UTC",
                graph={},
                updated_at=T0,
            )
        )
    assert store.paused_pipeline_ids() == set()
    store.set_paused("p", True)
    assert store.paused_pipeline_ids() == {"p"}
    assert store.get_pipeline("p").paused
    # recording the pipeline again (a scheduler reloading its file) keeps it paused
    store.upsert_pipeline(dataclasses.replace(store.get_pipeline("p"), paused=False))
    assert store.paused_pipeline_ids() == {"p"}
    store.set_paused("p", False)
    assert store.paused_pipeline_ids() == set()
    with pytest.raises(NotFoundError, match="no pipeline 'missing'"):
        store.set_paused("missing", True)


def backfill(backfill_id: str = "bf1") -> BackfillRecord:
    return BackfillRecord(
        backfill_id=backfill_id,
        pipeline_id="p",
        start_date=T0,
        end_date=T0 + timedelta(days=5),
        max_active_runs=2,
        reprocess="none",
        reverse=False,
        params={},
        state="running",
        created_at=T0,
    )


def test_a_cancelled_backfill_cancels_its_queued_runs_and_leaves_running_ones(
    store: SqlStore,
) -> None:
    store.create_backfill(backfill())
    for n, state in enumerate(("queued", "queued", "running", "success")):
        run = dataclasses.replace(
            make_run(f"r{n}", day=T0 + timedelta(days=n)), state=state, backfill_id="bf1"
        )
        store.create_run(run, [("a", -1, 1, 0)])
    claim(store, "r1")  # a queued run a process already claimed: its driver cancels it
    claim(store, "r2")
    assert store.cancel_backfill("bf1", LATER, "stop") == ["r0", "r1"]
    record = store.get_backfill("bf1")
    assert (record.state, record.ended_at) == ("cancelled", LATER)
    assert store.get_run("r0").state == "failed"
    assert store.cancel_requests(["r0", "r1", "r2", "r3"]) == {"r0": "stop", "r1": "stop"}
    with pytest.raises(TransitionRejected, match="already ended cancelled"):
        store.cancel_backfill("bf1", LATER, "again")
    with pytest.raises(NotFoundError, match="no backfill 'missing'"):
        store.cancel_backfill("missing", LATER, "x")


def test_a_backfill_cancelled_with_its_runs_asks_its_running_runs_to_stop(
    store: SqlStore,
) -> None:
    store.create_backfill(backfill())
    run = dataclasses.replace(make_run(), state="running", backfill_id="bf1")
    store.create_run(run, [("a", -1, 1, 0)])
    claim(store)
    assert store.cancel_backfill("bf1", LATER, "stop all", with_runs=True) == ["r1"]
    assert store.cancel_requests(["r1"]) == {"r1": "stop all"}


def beat(owner: str, last: datetime, stopped: datetime | None = None) -> HeartbeatRecord:
    return HeartbeatRecord(
        owner=owner,
        hostname="host",
        pid=1,
        started_at=T0,
        last_heartbeat=last,
        stopped_at=stopped,
    )


def test_heartbeats_are_replaced_listed_and_pruned(store: SqlStore) -> None:
    day = timedelta(days=1)
    store.beat(beat("a", T0))
    store.beat(beat("a", T0 + timedelta(seconds=5)))
    store.beat(beat("b", T0 + timedelta(seconds=1), stopped=T0 + timedelta(seconds=1)))
    store.beat(beat("old", T0 - 2 * day))
    assert [h.owner for h in store.heartbeats()] == ["a", "b", "old"]
    assert store.heartbeats(limit=1)[0].last_heartbeat == T0 + timedelta(seconds=5)
    assert store.prune_heartbeats(T0 + timedelta(hours=1), day) == 1
    assert {h.owner for h in store.heartbeats()} == {"a", "b"}
    assert store.prune_heartbeats(T0 + day + timedelta(seconds=3), day) == 1  # b stopped
    assert [h.owner for h in store.heartbeats()] == ["a"]
    assert store.heartbeats()[0].last_heartbeat.tzinfo is not None
