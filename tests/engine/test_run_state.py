"""A run's final state: it fails when any task failed, or when a leaf is upstream_failed.

Unlike Airflow, a run whose only leaf is an ``all_done`` notifier does not succeed after
a task failed for good: every failed instance fails the run unless its task has
``allow_failure=True``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from headwater import Context, pipeline, task
from headwater.engine.states import RunState, run_sources
from headwater.errors import TransitionRejected
from headwater.runtime import Runtime
from headwater.store.records import Batch, RunUpdate
from headwater.testing import FakeClock, run_pipeline_test


@task
def extract() -> list[int]:
    return [1, 2, 3]


@task
def transform(rows: list[int]) -> list[int]:
    raise ValueError(f"cannot transform {len(rows)} rows")


@task
def load(rows: list[int]) -> int:
    return len(rows)


@task(trigger_rule="all_done")
def notify() -> str:
    return "sent"


def test_an_all_done_leaf_runs_after_a_failure_and_the_run_is_failed(migrated_home: Path) -> None:
    # Given: extract >> transform (fails) >> load, and a notify leaf that waits for all
    @pipeline
    def etl() -> None:
        rows = extract()
        cleaned = transform(rows)
        load(cleaned)
        [rows, cleaned] >> notify()

    run = run_pipeline_test(etl, clock=FakeClock(), home=migrated_home)

    # Then: notify ran, but load (a leaf) is upstream_failed, so the run failed
    assert run.state_of("transform") == "failed"
    assert run.state_of("load") == "upstream_failed"
    assert run.result("notify") == "sent"
    assert run.state == "failed"
    assert not run.succeeded


def test_a_failed_leaf_fails_the_run_even_when_other_leaves_succeed(migrated_home: Path) -> None:
    @pipeline
    def fan_out() -> None:
        rows = extract()
        load(rows)
        transform(rows)

    run = run_pipeline_test(fan_out, clock=FakeClock(), home=migrated_home)

    assert run.state_of("load") == "success"
    assert run.state == "failed"


def test_a_failure_upstream_of_an_all_done_leaf_fails_the_run(migrated_home: Path) -> None:
    # Given: the only leaf is an all_done notifier, which runs and succeeds
    @pipeline
    def notified() -> None:
        transform(extract()) >> notify()

    run = run_pipeline_test(notified, clock=FakeClock(), home=migrated_home)

    # Then: transform failed for good, so the run failed (Airflow would say success)
    assert run.state_of("transform") == "failed"
    assert run.state_of("notify") == "success"
    assert run.state == "failed"


def test_a_task_allowed_to_fail_does_not_fail_the_run(migrated_home: Path) -> None:
    seen: dict[str, str] = {}

    @task(allow_failure=True)
    def optional_enrichment(rows: list[int]) -> list[int]:
        raise ConnectionError("the enrichment API is down")

    @task(trigger_rule="all_done")
    def report(ctx: Context) -> str:
        seen.update(ctx.upstream_states)
        return "reported"

    @pipeline
    def tolerant() -> None:
        rows = extract()
        [load(rows), optional_enrichment(rows)] >> report()

    run = run_pipeline_test(tolerant, clock=FakeClock(), home=migrated_home)

    # Then: its failure is recorded, and trigger rules still see it as failed
    assert run.state_of("optional_enrichment") == "failed"
    assert run.tasks["optional_enrichment"].error == ("ConnectionError: the enrichment API is down")
    assert seen["optional_enrichment"] == "failed"
    assert run.state == "success"


def test_allow_failure_does_not_excuse_the_tasks_it_blocks(migrated_home: Path) -> None:
    @task(allow_failure=True)
    def optional() -> list[int]:
        raise RuntimeError("no data")

    @pipeline
    def blocked() -> None:
        load(optional())

    run = run_pipeline_test(blocked, clock=FakeClock(), home=migrated_home)

    assert run.state_of("load") == "upstream_failed"
    assert run.state == "failed"  # a leaf that could not run fails the run


def test_a_failed_mapped_item_fails_the_run(migrated_home: Path) -> None:
    @task
    def check(n: int) -> int:
        if n == 2:
            raise ValueError("bad item")
        return n

    @task(trigger_rule="all_done")
    def summary(values: list[int | None]) -> int:
        return len(values)

    @pipeline
    def items() -> None:
        summary(check.map([1, 2, 3]))

    run = run_pipeline_test(items, clock=FakeClock(), home=migrated_home)

    assert run.state_of("summary") == "success"
    assert run.state == "failed"


def test_a_skip_never_hides_a_failure_that_ends_later(migrated_home: Path) -> None:
    # Given: pick (a branch) skips maybe at once; slow_bad fails half a second later;
    # both feed report (all_success)
    @task.branch
    def pick() -> list[str]:
        return []

    @task
    def maybe() -> str:
        return "maybe"

    @task
    def slow_bad() -> str:
        time.sleep(0.5)
        raise RuntimeError("late failure")

    @task
    def report() -> str:
        return "reported"

    @pipeline
    def racing() -> None:
        chosen = pick()
        optional = maybe()
        chosen >> optional
        [optional, slow_bad()] >> report()

    run = run_pipeline_test(racing, home=migrated_home)

    # Then: report is upstream_failed (a failed upstream), never skipped, and the run failed
    assert run.state_of("maybe") == "skipped"
    assert run.state_of("slow_bad") == "failed"
    assert run.state_of("report") == "upstream_failed"
    assert run.state == "failed"


def test_skipped_leaves_do_not_fail_a_run(migrated_home: Path) -> None:
    @task.branch
    def nothing_to_do() -> None:
        return None

    @pipeline
    def quiet() -> None:
        nothing_to_do() >> load(extract())

    run = run_pipeline_test(quiet, clock=FakeClock(), home=migrated_home)

    assert run.state_of("load") == "skipped"
    assert run.state == "success"


def test_the_run_record_is_final_with_its_times(runtime: Runtime, clock: FakeClock) -> None:
    @pipeline
    def simple() -> None:
        load(extract())

    run = runtime.run(simple)

    assert run.state == RunState.SUCCESS
    assert run.started_at == clock.now()
    assert run.ended_at == clock.now()
    assert run.triggered_by == "cli"
    assert runtime.store.get_run(run.run_id) == run


def test_driving_a_finished_run_again_changes_nothing(runtime: Runtime) -> None:
    calls: list[str] = []

    @task
    def counted() -> None:
        calls.append("ran")

    @pipeline
    def once() -> None:
        counted()

    run = runtime.run(once)
    again = runtime.resume(run.run_id, pipeline=once)

    assert again == run
    assert calls == ["ran"]


def test_listener_sees_every_state_change(runtime: Runtime) -> None:
    seen: list[tuple[str, str]] = []

    @pipeline
    def observed() -> None:
        transform(extract()) >> load([])

    runtime.run(observed, listener=lambda task_id, state: seen.append((task_id, state)))

    assert seen == [
        ("extract", "running"),
        ("extract", "success"),
        ("transform", "running"),
        ("transform", "failed"),
        ("load", "upstream_failed"),
    ]


def test_run_updates_take_their_expected_states_from_the_transition_table() -> None:
    assert run_sources(RunState.RUNNING) == ("queued", "success", "failed")
    assert run_sources(RunState.RUNNING, staying=True) == ("queued", "running", "success", "failed")
    assert run_sources(RunState.SUCCESS) == ("running",)
    assert run_sources(RunState.QUEUED, staying=True) == ("queued", "success", "failed")


def test_the_store_refuses_to_end_a_run_that_is_not_running(runtime: Runtime) -> None:
    @pipeline
    def simple() -> None:
        load(extract())

    run = runtime.create_run(simple)
    update = RunUpdate(run_id=run.run_id, expected=run_sources(RunState.SUCCESS), state="success")
    with pytest.raises(TransitionRejected):
        runtime.store.apply(Batch(run_update=update))
