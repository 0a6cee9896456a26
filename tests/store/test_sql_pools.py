"""Pools in the store: slots granted under a lease, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from headwater.config import Settings
from headwater.errors import NotFoundError
from headwater.store.records import Batch, ReleaseSlots, RunRecord, SlotRequest
from headwater.store.sql.store import SqlStore

T0 = datetime(2026, 1, 5, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def ask(task_id: str, pool: str = "db", slots: int = 1, run_id: str = "r1") -> SlotRequest:
    return SlotRequest(pool=pool, slots=slots, run_id=run_id, task_id=task_id, map_index=-1)


def release(task_id: str, owner: str = "a", run_id: str = "r1") -> Batch:
    return Batch(changes=[ReleaseSlots(run_id=run_id, task_id=task_id, map_index=-1, owner=owner)])


def granted(
    store: SqlStore, *requests: SlotRequest, owner: str = "a", now: datetime = T0
) -> list[str]:
    grants = store.acquire_slots(list(requests), owner, now, now + LEASE)
    return [r.task_id for r in requests if r.key in grants.granted]


def in_use(store: SqlStore, now: datetime = T0) -> dict[str, int]:
    return {pool.name: pool.in_use for pool in store.list_pools(now)}


def test_pools_are_created_updated_listed_and_deleted(store: SqlStore) -> None:
    store.set_pool("db", 2, "the replica", T0)
    store.set_pool("api", 5, None, T0)
    store.set_pool("db", 3, None, T0 + timedelta(hours=1))  # None keeps the description
    pools = store.list_pools(T0)
    assert [(p.name, p.slots, p.description, p.in_use) for p in pools] == [
        ("api", 5, "", 0),
        ("db", 3, "the replica", 0),
    ]
    assert pools[1].updated_at == T0 + timedelta(hours=1)
    store.delete_pool("api")
    assert [p.name for p in store.list_pools(T0)] == ["db"]
    with pytest.raises(NotFoundError, match="no pool 'api'; 'headwater pools list' shows"):
        store.delete_pool("api")


def test_requests_are_granted_in_order_while_the_slots_last(store: SqlStore) -> None:
    store.set_pool("db", 3, "", T0)
    # Given a pool of 3, when a 2-slot, another 2-slot and a 1-slot request come in order
    result = granted(store, ask("big", slots=2), ask("big2", slots=2), ask("small"))
    # Then the second does not fit, but the third still does
    assert result == ["big", "small"]
    assert in_use(store) == {"db": 3}
    assert granted(store, ask("more")) == []


def test_a_released_slot_is_granted_again(store: SqlStore) -> None:
    store.set_pool("db", 1, "", T0)
    assert granted(store, ask("first")) == ["first"]
    assert granted(store, ask("second")) == []
    store.apply(release("first"))
    assert in_use(store) == {"db": 0}
    assert granted(store, ask("second")) == ["second"]


def test_a_release_by_another_owner_deletes_nothing(store: SqlStore) -> None:
    # (a run taken over: the old owner's late release must not free the new owner's slot)
    store.set_pool("db", 1, "", T0)
    assert granted(store, ask("t"), owner="new") == ["t"]
    store.apply(release("t", owner="old"))
    assert in_use(store) == {"db": 1}


def test_asking_again_for_the_same_instance_replaces_its_slot(store: SqlStore) -> None:
    store.set_pool("db", 1, "", T0)
    assert granted(store, ask("t"), owner="old") == ["t"]
    # the new owner of the run starts a new try of the same instance: its old try is over
    assert granted(store, ask("t"), owner="new") == ["t"]
    assert in_use(store) == {"db": 1}


def test_expired_leases_hold_no_slots(store: SqlStore) -> None:
    store.set_pool("db", 2, "", T0)
    assert granted(store, ask("a"), ask("b")) == ["a", "b"]
    later = T0 + LEASE + timedelta(seconds=1)
    assert in_use(store, T0 + LEASE) == {"db": 2}  # still live at its last instant
    assert in_use(store, later) == {"db": 0}
    assert granted(store, ask("c"), ask("d"), owner="b", now=later) == ["c", "d"]


def test_unknown_pools_are_not_granted_and_not_sized(store: SqlStore) -> None:
    store.set_pool("db", 1, "", T0)
    grants = store.acquire_slots([ask("a", pool="nope"), ask("b")], "a", T0, T0 + LEASE)
    assert grants.granted == {("r1", "b", -1)}
    assert grants.sizes == {"db": 1}


def test_a_pool_of_zero_slots_grants_nothing(store: SqlStore) -> None:
    store.set_pool("db", 0, "paused", T0)
    grants = store.acquire_slots([ask("a")], "a", T0, T0 + LEASE)
    assert grants.granted == frozenset()
    assert grants.sizes == {"db": 0}


def make_run(run_id: str, day: int) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        pipeline_id="p",
        logical_date=T0 + timedelta(days=day),
        data_interval_start=T0,
        data_interval_end=T0 + timedelta(days=1),
        params={},
        state="running",
        run_type="manual",
        triggered_by="test",
        source_file=None,
        created_at=T0,
    )


def test_slot_leases_are_renewed_with_the_runs_their_owner_still_drives(store: SqlStore) -> None:
    store.set_pool("db", 2, "", T0)
    for day, run_id in enumerate(("kept", "lost")):
        store.create_run(make_run(run_id, day), [])
        assert store.claim_run(run_id, "a", T0, T0 + LEASE) is not None
    assert granted(store, ask("t", run_id="kept"), ask("t", run_id="lost")) == ["t", "t"]
    # Given run "lost" taken over by another process after its lease expired
    expired = T0 + LEASE + timedelta(seconds=1)
    assert store.claim_run("lost", "b", expired, expired + LEASE) is not None
    # When "a" renews its leases
    assert store.extend_leases("a", ["kept", "lost"], expired + LEASE) == {"lost"}
    # Then only the slot of the run it still drives is renewed
    assert in_use(store, expired) == {"db": 1}
    # and giving the leases up (until now) lets that slot go too
    store.extend_leases("a", ["kept"], expired)
    assert in_use(store, expired + timedelta(seconds=1)) == {"db": 0}


@pytest.fixture
def stores(settings: Settings) -> Iterator[list[SqlStore]]:
    """Six stores on one database, each with its own engine: six processes, in effect."""
    opened = [SqlStore.from_settings(settings) for _ in range(6)]
    yield opened
    for each in opened:
        each.close()


def test_concurrent_acquirers_never_overfill_a_pool(stores: list[SqlStore]) -> None:
    stores[0].set_pool("db", 3, "", T0)
    barrier = threading.Barrier(len(stores), timeout=30)
    grants: dict[int, int] = {}
    lock = threading.Lock()

    def acquire(index: int, store: SqlStore) -> None:
        for round_ in range(5):
            # each round a lease later: the slots of the round before have expired
            now = T0 + round_ * (LEASE + timedelta(seconds=1))
            barrier.wait()  # everyone asks at the same moment
            requests = [ask(f"t{index}.{i}", run_id=f"r{index}.{round_}") for i in range(2)]
            count = len(store.acquire_slots(requests, f"owner{index}", now, now + LEASE).granted)
            with lock:
                grants[round_] = grants.get(round_, 0) + count

    threads = [threading.Thread(target=acquire, args=(i, store)) for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    # 6 acquirers × 2 requests for 3 slots, 5 times: exactly 3 granted each time
    assert grants == dict.fromkeys(range(5), 3)
