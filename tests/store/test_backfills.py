"""The StateStore's backfills, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from headwater.errors import NotFoundError
from headwater.store.records import BackfillRecord, Batch, RunRecord, RunUpdate
from headwater.store.sql.store import SqlStore

T0 = datetime(2026, 1, 10, tzinfo=UTC)


def backfill(backfill_id: str = "b1", **changes: object) -> BackfillRecord:
    record = BackfillRecord(
        backfill_id=backfill_id,
        pipeline_id="p",
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        end_date=datetime(2026, 1, 5, 23, 59, 59, 999999, tzinfo=UTC),
        max_active_runs=2,
        reprocess="failed",
        reverse=True,
        params={"n": 3},
        state="running",
        created_at=T0,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]  # test overrides


def run(day: int, backfill_id: str | None = None, state: str = "queued") -> RunRecord:
    logical = datetime(2026, 1, day, tzinfo=UTC)
    return RunRecord(
        run_id=f"r{day}",
        pipeline_id="p",
        logical_date=logical,
        data_interval_start=logical,
        data_interval_end=logical + timedelta(days=1),
        params={},
        state=state,
        run_type="backfill" if backfill_id else "scheduled",
        triggered_by="test",
        source_file=None,
        created_at=T0,
        backfill_id=backfill_id,
    )


def test_a_backfill_reads_back_as_recorded(store: SqlStore) -> None:
    record = backfill()
    store.create_backfill(record)
    assert store.get_backfill("b1") == record


def test_a_backfill_of_asset_partitions_reads_back_its_partitions_and_assets(
    store: SqlStore,
) -> None:
    record = backfill(
        reprocess="failed+stale",
        partitions=("2026-01-02", "2026-01-01", "eu|2026-01-03"),
        asset_selection=("sales/orders_raw", "orders_cleaned"),
    )
    store.create_backfill(record)
    assert store.get_backfill("b1") == record
    assert store.list_backfills(state="running") == [record]


def test_an_unknown_backfill_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match=r"no backfill 'nope'.*headwater backfills list"):
        store.get_backfill("nope")


def test_backfills_are_listed_newest_first_by_pipeline_and_state(store: SqlStore) -> None:
    store.create_backfill(backfill("old", state="success"))
    store.create_backfill(backfill("new", created_at=T0 + timedelta(hours=1)))
    store.create_backfill(backfill("other", pipeline_id="q"))
    assert [b.backfill_id for b in store.list_backfills()] == ["new", "other", "old"]
    assert [b.backfill_id for b in store.list_backfills("p")] == ["new", "old"]
    assert [b.backfill_id for b in store.list_backfills(state="running")] == ["new", "other"]
    assert [b.backfill_id for b in store.list_backfills(limit=1)] == ["new"]


def test_a_backfill_lease_is_held_renewed_and_taken_once_expired(store: SqlStore) -> None:
    store.create_backfill(backfill())
    held = store.claim_backfill("b1", "one", T0, T0 + timedelta(seconds=30))
    assert held is not None
    assert (held.owner, held.lease_expires_at) == ("one", T0 + timedelta(seconds=30))
    # the owner renews; another process is refused while the lease is live
    assert store.claim_backfill("b1", "one", T0, T0 + timedelta(seconds=60)) is not None
    assert store.claim_backfill("b1", "two", T0 + timedelta(seconds=59), T0) is None
    # expired: anyone takes it; or at once, with take_over
    later = T0 + timedelta(seconds=61)
    taken = store.claim_backfill("b1", "two", later, later + timedelta(seconds=30))
    assert taken is not None
    assert taken.owner == "two"
    assert store.claim_backfill("b1", "three", later, later, take_over=True) is not None


def test_a_released_backfill_is_free_at_once(store: SqlStore) -> None:
    store.create_backfill(backfill(owner="one", lease_expires_at=T0 + timedelta(hours=1)))
    store.release_backfill("b1", "someone else")
    assert store.claim_backfill("b1", "two", T0, T0) is None
    store.release_backfill("b1", "one")
    assert store.claim_backfill("b1", "two", T0, T0) is not None


def test_a_backfill_finishes_once_and_is_then_not_claimed(store: SqlStore) -> None:
    store.create_backfill(backfill(owner="one", lease_expires_at=T0))
    assert store.finish_backfill("b1", "failed", T0 + timedelta(minutes=5))
    assert not store.finish_backfill("b1", "success", T0 + timedelta(minutes=6))
    ended = store.get_backfill("b1")
    assert (ended.state, ended.ended_at, ended.lease_expires_at) == (
        "failed",
        T0 + timedelta(minutes=5),
        None,
    )
    assert store.claim_backfill("b1", "one", T0, T0, take_over=True) is None


def test_runs_between_includes_both_ends_oldest_first(store: SqlStore) -> None:
    for day in (4, 1, 2, 3, 5):
        store.create_run(run(day), [("t", -1, 1, 0)])
    between = store.runs_between(
        "p", datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC)
    )
    assert [r.run_id for r in between] == ["r2", "r3", "r4"]
    assert store.runs_between("q", datetime(2026, 1, 1, tzinfo=UTC), T0) == []


def test_backfill_runs_are_not_counted_against_the_pipeline_limit(store: SqlStore) -> None:
    store.create_run(run(1), [("t", -1, 1, 0)])
    store.create_run(run(2, backfill_id="b1"), [("t", -1, 1, 0)])
    store.create_run(run(3, backfill_id="b1"), [("t", -1, 1, 0)])
    assert store.active_run_counts() == {"p": 1}


def test_a_run_update_can_hand_a_run_to_a_backfill(store: SqlStore) -> None:
    store.create_run(dataclasses.replace(run(1), priority=10), [("t", -1, 1, 0)])
    store.apply(
        Batch(
            run_update=RunUpdate(
                run_id="r1", expected=("queued",), state="queued", backfill_id="b1", priority=0
            )
        )
    )
    updated = store.get_run("r1")
    assert (updated.backfill_id, updated.priority, updated.run_type) == ("b1", 0, "scheduled")
