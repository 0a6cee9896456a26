"""Run leases in the store: claims with generations, fencing, limits, dead owners.

On SQLite and on PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from tests.store.test_sql_store import make_run, start

from headwater.errors import LeaseLost
from headwater.store.records import Batch, Claim, Lease, RunUpdate, SlotRequest
from headwater.store.sql.schema import runs
from headwater.store.sql.store import SqlStore

T0 = datetime(2026, 1, 5, tzinfo=UTC)
LEASE = timedelta(seconds=30)
pytestmark = pytest.mark.postgres


def queued_run(store: SqlStore, run_id: str = "r1", day: int = 5, **fields: Any) -> None:
    run = make_run(run_id, day=datetime(2026, 1, day, tzinfo=UTC))
    store.create_run(dataclasses.replace(run, **fields), [("a", -1, 1, 0)])


def test_every_claim_gives_a_new_generation(store: SqlStore) -> None:
    queued_run(store)
    first = store.claim_run("r1", "a", T0, T0 + LEASE)
    again = store.claim_run("r1", "a", T0, T0 + LEASE)
    taken = store.claim_run("r1", "b", T0, T0 + LEASE, take_over=True)
    assert (first and first.lease_generation, again and again.lease_generation) == (1, 2)
    assert taken is not None
    assert (taken.owner, taken.lease_generation) == ("b", 3)


def test_a_stale_drivers_writes_are_refused_and_nothing_of_them_is_kept(store: SqlStore) -> None:
    # Given: a claimed "r1" (generation 1), then taken over by "b" (generation 2)
    queued_run(store)
    queued_run(store, "r2", day=6)
    stale = store.claim_run("r1", "a", T0, T0 + LEASE)
    other = store.claim_run("r2", "a", T0, T0 + LEASE)
    assert stale is not None
    assert other is not None
    store.claim_run("r1", "b", T0, T0 + LEASE, take_over=True)

    # When: "a" commits a step of both runs with the leases it claimed
    with pytest.raises(LeaseLost) as lost:
        store.apply_many(
            [
                Batch(
                    changes=[start("a")],
                    lease=Lease(run_id="r1", owner="a", generation=stale.lease_generation),
                ),
                Batch(
                    run_update=RunUpdate(run_id="r2", expected=("queued",), state="running"),
                    lease=Lease(run_id="r2", owner="a", generation=other.lease_generation),
                ),
            ]
        )

    # Then: refused, naming r1 alone; nothing of either batch was written
    assert lost.value.run_ids == frozenset({"r1"})
    assert [ti.state for ti in store.get_task_instances("r1")] == ["none"]
    assert store.get_tries("r1") == []
    assert store.get_run("r2").state == "queued"


def test_a_current_lease_lets_the_writes_through(store: SqlStore) -> None:
    queued_run(store)
    claimed = store.claim_run("r1", "a", T0, T0 + LEASE)
    assert claimed is not None
    lease = Lease(run_id="r1", owner="a", generation=claimed.lease_generation)
    store.apply(Batch(changes=[start("a")], lease=lease))
    assert [ti.state for ti in store.get_task_instances("r1")] == ["running"]


def test_renewing_reports_runs_claimed_since(store: SqlStore) -> None:
    queued_run(store)
    queued_run(store, "r2", day=6)
    one = store.claim_run("r1", "a", T0, T0 + LEASE)
    two = store.claim_run("r2", "a", T0, T0 + LEASE)
    assert one is not None
    assert two is not None
    store.claim_run("r2", "a", T0, T0 + LEASE)  # a newer claim of the same owner
    generations = {"r1": one.lease_generation, "r2": two.lease_generation}
    lost = store.extend_leases("a", ["r1", "r2"], T0 + 2 * LEASE, generations=generations)
    assert lost == {"r2"}
    assert store.get_run("r1").lease_expires_at == T0 + 2 * LEASE


def test_a_finished_run_cannot_be_claimed(store: SqlStore) -> None:
    queued_run(store)
    store.apply(Batch(run_update=RunUpdate(run_id="r1", expected=("queued",), state="success")))
    assert store.claim_run("r1", "a", T0, T0 + LEASE) is None
    assert store.claim_run("r1", "a", T0, T0 + LEASE, take_over=True) is None


def test_a_reset_can_claim_the_run_in_the_same_transaction(store: SqlStore) -> None:
    queued_run(store)
    store.apply(Batch(run_update=RunUpdate(run_id="r1", expected=("queued",), state="failed")))
    store.apply(
        Batch(
            run_update=RunUpdate(
                run_id="r1",
                expected=("failed",),
                state="queued",
                claim=Claim(owner="me", lease_until=T0 + LEASE),
            )
        )
    )
    run = store.get_run("r1")
    assert (run.state, run.owner, run.lease_expires_at) == ("queued", "me", T0 + LEASE)
    assert run.lease_generation == 1


def test_a_claim_with_a_limit_counts_runs_already_claimed(store: SqlStore) -> None:
    # Given: max_active_runs 1, and a queued run another scheduler claimed (not running yet)
    for day in (5, 6):
        queued_run(store, f"r{day}", day=day)
    assert store.claim_run("r5", "scheduler-a", T0, T0 + LEASE, max_active=1) is not None

    # Then: the second run of the pipeline cannot be claimed by anyone
    assert store.claim_run("r6", "scheduler-b", T0, T0 + LEASE, max_active=1) is None
    assert store.claim_run("r6", "scheduler-a", T0, T0 + LEASE, max_active=1) is None
    # ... until the first one's claim lapses (its scheduler died before starting it)
    later = T0 + 2 * LEASE
    assert store.claim_run("r6", "scheduler-b", later, later + LEASE, max_active=1) is not None


def test_backfill_runs_do_not_count_against_the_limit(store: SqlStore) -> None:
    queued_run(store, "r5", day=5, backfill_id="bf")
    queued_run(store, "r6", day=6)
    assert store.claim_run("r5", "a", T0, T0 + LEASE) is not None
    assert store.claim_run("r6", "b", T0, T0 + LEASE, max_active=1) is not None


def test_concurrent_claims_never_exceed_the_limit(store: SqlStore) -> None:
    # Many claimers at once, each with its own connections, one run each
    count = 8
    for day in range(1, count + 1):
        queued_run(store, f"r{day}", day=day)
    url = store.engine.url
    barrier = threading.Barrier(count)
    won: list[str] = []

    def claim(day: int) -> None:
        own = SqlStore(sa.create_engine(url), migrate=False)
        try:
            barrier.wait()
            if own.claim_run(f"r{day}", f"owner-{day}", T0, T0 + LEASE, max_active=2):
                won.append(f"r{day}")
        finally:
            own.close()

    threads = [threading.Thread(target=claim, args=(day,)) for day in range(1, count + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 2


def test_a_dead_owners_leases_end_at_once(store: SqlStore) -> None:
    # Given: runs and a pool slot held by "dead" with leases live for a minute
    queued_run(store)
    store.claim_run("r1", "dead", T0, T0 + 2 * LEASE)
    store.set_pool("p", 1, None, T0)
    request = SlotRequest(pool="p", slots=1, run_id="r1", task_id="a", map_index=-1)
    assert store.acquire_slots([request], "dead", T0, T0 + 2 * LEASE).granted
    assert store.live_owners(T0) == {"dead"}

    # When: its death is known
    store.reap_abandoned("dead", T0)

    # Then: its run is claimable now and its slot is free
    assert store.live_owners(T0) == set()
    assert [r.run_id for r in store.claimable_runs(T0)] == ["r1"]
    assert store.claim_run("r1", "heir", T0, T0 + LEASE) is not None
    assert [p.in_use for p in store.list_pools(T0)] == [0]


def test_a_run_whose_lease_was_released_is_claimable(store: SqlStore) -> None:
    queued_run(store)
    store.claim_run("r1", "a", T0, T0 + LEASE)
    with store.engine.begin() as connection:
        connection.execute(runs.update().values(state="running"))
    store.release_run("r1", "a")
    assert [r.run_id for r in store.claimable_runs(T0)] == ["r1"]
