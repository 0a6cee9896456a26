"""A run's final state is decided by its leaves, the tasks with nothing downstream."""

from __future__ import annotations

from pathlib import Path

from headwater import pipeline, task
from headwater.engine.states import RunState
from headwater.runtime import Runtime
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


def test_an_all_done_leaf_runs_after_a_failure_and_the_run_is_failed(tmp_path: Path) -> None:
    # Given: extract >> transform (fails) >> load, and a notify leaf that waits for all
    @pipeline
    def etl() -> None:
        rows = extract()
        cleaned = transform(rows)
        load(cleaned)
        [rows, cleaned] >> notify()

    run = run_pipeline_test(etl, clock=FakeClock(), home=tmp_path)

    # Then: notify ran, but load (a leaf) is upstream_failed, so the run failed
    assert run.state_of("transform") == "failed"
    assert run.state_of("load") == "upstream_failed"
    assert run.result("notify") == "sent"
    assert run.state == "failed"
    assert not run.succeeded


def test_a_failed_leaf_fails_the_run_even_when_other_leaves_succeed(tmp_path: Path) -> None:
    @pipeline
    def fan_out() -> None:
        rows = extract()
        load(rows)
        transform(rows)

    run = run_pipeline_test(fan_out, clock=FakeClock(), home=tmp_path)

    assert run.state_of("load") == "success"
    assert run.state == "failed"


def test_a_failure_absorbed_by_the_only_leaf_leaves_the_run_successful(tmp_path: Path) -> None:
    # As in Airflow: when the single leaf is an all_done task that succeeds, the run
    # succeeds although a task upstream of it failed.
    @pipeline
    def absorbed() -> None:
        transform(extract()) >> notify()

    run = run_pipeline_test(absorbed, clock=FakeClock(), home=tmp_path)

    assert run.state_of("transform") == "failed"
    assert run.state_of("notify") == "success"
    assert run.state == "success"


def test_skipped_leaves_do_not_fail_a_run(tmp_path: Path) -> None:
    @task.branch
    def nothing_to_do() -> None:
        return None

    @pipeline
    def quiet() -> None:
        nothing_to_do() >> load(extract())

    run = run_pipeline_test(quiet, clock=FakeClock(), home=tmp_path)

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
