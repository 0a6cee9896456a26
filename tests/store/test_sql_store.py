"""The StateStore contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.resources.store_pipeline import store_pipeline

from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.errors import NotFoundError, RunExistsError, TransitionRejected
from headwater.runtime import Runtime
from headwater.store.records import (
    AddInstances,
    Batch,
    FinishTry,
    PipelineRecord,
    ResetMapped,
    RunRecord,
    RunUpdate,
    SetState,
    StartTry,
)
from headwater.store.sql.store import SqlStore

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def make_run(
    run_id: str = "r1", pipeline_id: str = "p", created: datetime = T0, day: datetime = T0
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        pipeline_id=pipeline_id,
        logical_date=day,
        data_interval_start=T0,
        data_interval_end=T0 + timedelta(days=1),
        params={"full_refresh": True, "n": 3},
        state="queued",
        run_type="manual",
        triggered_by="test",
        source_file="/pipelines/p.py",
        created_at=created,
    )


def start(task_id: str, try_number: int = 1, expected: str = "none") -> StartTry:
    return StartTry(
        run_id="r1",
        task_id=task_id,
        map_index=-1,
        try_number=try_number,
        expected=expected,
        started_at=T0,
        log_path=f"/logs/{task_id}/try-{try_number}.log",
        hostname="host",
    )


def finish(task_id: str, state: str = "success", try_number: int = 1, **extra: object) -> FinishTry:
    return FinishTry(
        run_id="r1",
        task_id=task_id,
        map_index=-1,
        try_number=try_number,
        try_state="success" if state == "success" else "failed",
        instance_state=state,
        ended_at=T0 + timedelta(seconds=2),
        duration=2.0,
        **extra,  # type: ignore[arg-type]  # optional FinishTry fields
    )


def test_a_created_run_reads_back_with_aware_utc_times(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0), ("b", -1, 3, 0)])
    run = store.get_run("r1")
    assert run.logical_date == T0
    assert run.logical_date.tzinfo is not None
    assert run.params == {"full_refresh": True, "n": 3}
    instances = store.get_task_instances("r1")
    assert [(i.task_id, i.state, i.max_tries) for i in instances] == [
        ("a", "none", 1),
        ("b", "none", 3),
    ]


def test_unknown_run_and_pipeline_raise_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match="no run 'missing'"):
        store.get_run("missing")
    with pytest.raises(NotFoundError, match="no pipeline 'missing'"):
        store.get_pipeline("missing")


def test_runs_are_listed_newest_first_and_by_pipeline(store: SqlStore) -> None:
    store.create_run(make_run("r1", "p", T0), [])
    store.create_run(make_run("r2", "q", T0 + timedelta(hours=1)), [])
    store.create_run(make_run("r3", "p", T0 + timedelta(hours=2), T0 + timedelta(days=1)), [])
    assert [r.run_id for r in store.list_runs()] == ["r3", "r2", "r1"]
    assert [r.run_id for r in store.list_runs("p")] == ["r3", "r1"]
    assert [r.run_id for r in store.list_runs(limit=1)] == ["r3"]


def test_a_second_run_for_the_same_logical_date_is_refused(store: SqlStore) -> None:
    store.create_run(make_run("r1"), [("a", -1, 1, 0)])
    with pytest.raises(RunExistsError, match="already has a run for logical date") as caught:
        store.create_run(make_run("r2"), [("a", -1, 1, 0)])
    assert caught.value.run_id == "r1"
    assert [r.run_id for r in store.list_runs()] == ["r1"]
    found = store.find_run("p", T0)
    assert found is not None
    assert found.run_id == "r1"
    assert store.find_run("p", T0 + timedelta(days=1)) is None


def test_a_try_starts_and_finishes_with_its_own_record(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 2, 0)])
    store.apply(Batch(changes=[start("a")]))
    assert store.get_task_instances("r1")[0].state == "running"
    store.apply(
        Batch(
            changes=[
                finish(
                    "a",
                    "up_for_retry",
                    error="boom",
                    traceback="tb",
                    next_try_at=T0 + timedelta(seconds=30),
                )
            ]
        )
    )
    store.apply(Batch(changes=[start("a", 2, expected="up_for_retry")]))
    store.apply(Batch(changes=[finish("a", "success", 2, result="42")]))
    instance = store.get_task_instances("r1")[0]
    assert (instance.state, instance.try_number, instance.result) == ("success", 2, "42")
    tries = store.get_tries("r1", "a")
    assert [(t.try_number, t.state, t.error) for t in tries] == [
        (1, "failed", "boom"),
        (2, "success", None),
    ]
    assert tries[0].traceback == "tb"
    assert tries[0].log_path == "/logs/a/try-1.log"


def test_a_rescheduled_sensor_pokes_again_in_the_same_try_row(store: SqlStore) -> None:
    store.create_run(make_run(), [("wait", -1, 1, 0)])
    store.apply(Batch(changes=[start("wait")]))
    unmet = dataclasses.replace(
        finish("wait", "up_for_reschedule", next_try_at=T0 + timedelta(seconds=60)),
        try_state="up_for_reschedule",
    )
    store.apply(Batch(changes=[unmet]))
    poke = dataclasses.replace(
        start("wait", expected="up_for_reschedule"),
        started_at=T0 + timedelta(seconds=60),
        hostname="other-host",
        poke_again=True,
    )
    store.apply(Batch(changes=[poke]))

    # Then: one try row, running again; the instance and the row keep the first start
    instance = store.get_task_instances("r1")[0]
    assert (instance.state, instance.try_number, instance.started_at) == ("running", 1, T0)
    assert (instance.next_try_at, instance.ended_at) == (None, None)
    [row] = store.get_tries("r1", "wait")
    assert (row.try_number, row.state, row.started_at, row.ended_at) == (1, "running", T0, None)
    assert row.hostname == "other-host"
    # And: poking again is refused unless the try waits for its next poke
    with pytest.raises(TransitionRejected, match="unexpected state"):
        store.apply(Batch(changes=[dataclasses.replace(poke, expected="running")]))


def test_a_guarded_change_from_an_unexpected_state_keeps_nothing_of_the_batch(
    store: SqlStore,
) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0), ("b", -1, 1, 0)])
    store.apply(Batch(changes=[start("a")]))
    with pytest.raises(TransitionRejected, match="unexpected state"):
        # b may start, but a is running, not none: the whole batch is refused
        store.apply(Batch(changes=[start("b"), start("a", 2)]))
    states = {i.task_id: i.state for i in store.get_task_instances("r1")}
    assert states == {"a": "running", "b": "none"}
    assert [t.task_id for t in store.get_tries("r1")] == ["a"]


def test_the_same_try_cannot_be_recorded_twice(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0)])
    store.apply(Batch(changes=[start("a")]))
    store.apply(Batch(changes=[finish("a")]))
    with pytest.raises(TransitionRejected):
        store.apply(Batch(changes=[finish("a")]))


def test_run_updates_are_guarded(store: SqlStore) -> None:
    store.create_run(make_run(), [])
    running = RunUpdate(run_id="r1", expected=("queued",), state="running", started_at=T0)
    store.apply(Batch(run_update=running))
    assert store.get_run("r1").state == "running"
    with pytest.raises(TransitionRejected, match="cannot move to 'running'"):
        store.apply(Batch(run_update=running))


def test_skips_clears_and_mapped_expansions(store: SqlStore) -> None:
    store.create_run(make_run(), [("a", -1, 1, 0), ("m", -1, 1, 0)])
    store.apply(
        Batch(
            changes=[
                SetState(
                    run_id="r1",
                    task_id="a",
                    map_index=-1,
                    expected="none",
                    state="skipped",
                    ended_at=T0,
                ),
                AddInstances(
                    run_id="r1", instances=(("m", 0, 1, 0), ("m", 1, 1, 0)), remove_placeholder="m"
                ),
            ]
        )
    )
    labels = [(i.task_id, i.map_index, i.state) for i in store.get_task_instances("r1")]
    assert labels == [("a", -1, "skipped"), ("m", 0, "none"), ("m", 1, "none")]
    store.apply(
        Batch(
            changes=[
                SetState(
                    run_id="r1",
                    task_id="a",
                    map_index=-1,
                    expected="skipped",
                    state="none",
                    max_tries=4,
                ),
                ResetMapped(run_id="r1", task_id="m", try_number=1, max_tries=2),
            ]
        )
    )
    instances = store.get_task_instances("r1")
    assert [(i.task_id, i.map_index, i.state, i.max_tries, i.try_number) for i in instances] == [
        ("a", -1, "none", 4, 0),
        ("m", -1, "none", 2, 1),
    ]


def test_pipelines_are_upserted_with_their_graph(store: SqlStore) -> None:
    record = PipelineRecord(
        pipeline_id="p",
        source_file="p.py",
        description="first",
        schedule="@daily",
        timezone="UTC",
        graph={"tasks": [{"task_id": "a", "upstream": []}]},
        updated_at=T0,
    )
    store.upsert_pipeline(record)
    store.upsert_pipeline(dataclasses.replace(record, description="second"))
    stored = store.get_pipeline("p")
    assert stored.description == "second"
    assert stored.graph == {"tasks": [{"task_id": "a", "upstream": []}]}


def test_a_pipeline_runs_end_to_end_on_this_store(settings: Settings) -> None:
    runtime = Runtime(settings, clock=FakeClock("2026-01-06T00:00:00+00:00"))
    try:
        run = runtime.run(store_pipeline, logical_date=T0)
        summary = runtime.summary(run.run_id)
    finally:
        runtime.close()
    assert run.state == "success"
    states = {label: task["state"] for label, task in summary["tasks"].items()}
    assert states == {
        "flaky": "success",
        "double[0]": "success",
        "double[1]": "success",
        "double[2]": "success",
        "choose": "success",
        "total": "success",
        "nothing": "skipped",
    }
    assert summary["tasks"]["flaky"]["tries"] == 2


def test_migrations_build_exactly_the_declared_schema(settings: Settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from headwater.store.sql.schema import metadata

    sql_store = SqlStore.from_settings(settings)
    try:
        with sql_store.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, metadata) == []
    finally:
        sql_store.close()


def test_head_revision_constant_matches_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from headwater.store.sql.migrate import HEAD_REVISION, MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_sqlite_uses_wal_and_the_configured_synchronous_mode(tmp_path: Path) -> None:
    for mode, expected in (("NORMAL", 1), ("FULL", 2)):
        settings = Settings.for_home(tmp_path / mode, sqlite_synchronous=mode)
        sql_store = SqlStore.from_settings(settings)
        with sql_store.engine.connect() as connection:
            assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(sa.text("PRAGMA synchronous")).scalar() == expected
        sql_store.close()
