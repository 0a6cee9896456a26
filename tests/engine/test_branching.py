"""``@task.branch``: the direct downstream tasks it returns run, the others are skipped."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from headwater import Pipeline, pipeline, task, task_group
from headwater.testing import FakeClock, TestRun, run_pipeline_test


@task
def left() -> str:
    return "left ran"


@task
def right() -> str:
    return "right ran"


@task
def after_right(value: str) -> str:
    return value


@task
def elsewhere() -> str:
    return "elsewhere ran"


@task(trigger_rule="none_failed_min_one_success")
def join() -> str:
    return "joined"


def branching_pipeline(choice: Any) -> Pipeline:
    """choose -> [left, right]; right -> after_right; [left, after_right] -> join."""

    @task.branch
    def choose() -> Any:
        return choice

    @pipeline
    def branching() -> None:
        chosen = choose()
        went_left, went_right = left(), right()
        chosen >> [went_left, went_right]
        [went_left, after_right(went_right)] >> join()
        elsewhere()

    return branching


def run_with(choice: Any, home: Path) -> TestRun:
    return run_pipeline_test(branching_pipeline(choice), clock=FakeClock(), home=home)


@pytest.mark.parametrize(
    "choice", ["left", left, ["left"], ("left",)], ids=["id", "task", "list", "tuple"]
)
def test_the_chosen_task_runs_and_the_other_is_skipped_with_its_downstream(
    choice: Any, tmp_path: Path
) -> None:
    run = run_with(choice, tmp_path)

    assert run.state_of("choose") == "success"
    assert run.result("left") == "left ran"
    assert run.state_of("right") == "skipped"
    assert run.state_of("after_right") == "skipped"
    assert run.result("join") == "joined"
    assert run.succeeded


def test_a_list_of_ids_runs_all_of_them(tmp_path: Path) -> None:
    run = run_with(["left", right], tmp_path)

    assert run.result("left") == "left ran"
    assert run.result("right") == "right ran"
    assert run.result("after_right") == "right ran"
    assert run.state_of("join") == "success"


@pytest.mark.parametrize("choice", [None, []], ids=["none", "empty-list"])
def test_none_skips_every_direct_downstream_task(choice: Any, tmp_path: Path) -> None:
    run = run_with(choice, tmp_path)

    assert run.state_of("choose") == "success"
    assert [run.state_of(t) for t in ("left", "right", "after_right")] == ["skipped"] * 3
    # none_failed_min_one_success: every upstream skipped, so the join is skipped too
    assert run.state_of("join") == "skipped"
    assert run.succeeded  # skipped leaves do not fail a run


def test_a_task_that_is_not_a_direct_downstream_fails_the_try(tmp_path: Path) -> None:
    run = run_with("elsewhere", tmp_path)

    branch = run.tasks["choose"]
    assert branch.state == "failed"
    assert branch.tries == 1
    assert branch.error == (
        "BranchError: branch task 'choose' in pipeline 'branching' returned 'elsewhere', "
        "which is not one of its direct downstream tasks ('left', 'right'); return one of "
        "those ids, a list of them, or None"
    )
    assert run.state_of("left") == "upstream_failed"
    assert run.state_of("right") == "upstream_failed"
    assert run.state_of("join") == "upstream_failed"
    assert run.result("elsewhere") == "elsewhere ran"
    assert run.state == "failed"


def test_a_value_that_is_not_a_task_id_fails_the_try_naming_it(tmp_path: Path) -> None:
    run = run_with(3, tmp_path)

    error = run.tasks["choose"].error
    assert error is not None
    assert "returned 3, which is not one of its direct downstream tasks" in error


def test_the_branch_error_is_written_to_the_try_log(tmp_path: Path) -> None:
    run = run_with("nowhere", tmp_path)

    logs = list((tmp_path / "logs" / "branching" / run.run_id / "choose").glob("try-*.log"))
    assert [log.name for log in logs] == ["try-1.log"]
    assert "returned 'nowhere', which is not one of its direct downstream" in logs[0].read_text()


def test_a_failed_branch_is_retried_like_any_task(migrated_home: Path) -> None:
    @task.branch(retries=1, retry_delay=0)
    def wrong() -> str:
        return "nowhere"

    @pipeline
    def retried() -> None:
        wrong() >> left()

    run = run_pipeline_test(retried, clock=FakeClock(), home=migrated_home)

    assert run.tasks["wrong"].state == "failed"
    assert run.tasks["wrong"].tries == 2


def test_a_branch_in_a_group_may_return_the_ids_without_the_group_prefix(
    migrated_home: Path,
) -> None:
    @task.branch
    def pick() -> str:
        return "right"

    @pipeline
    def grouped() -> None:
        with task_group("g"):
            pick() >> [left(), right()]

    run = run_pipeline_test(grouped, clock=FakeClock(), home=migrated_home)

    assert run.state_of("g.left") == "skipped"
    assert run.result("g.right") == "right ran"


def test_an_exact_id_is_preferred_over_a_base_id(migrated_home: Path) -> None:
    # Given: two calls of "left"; the branch names the second by its full id
    @task.branch
    def pick() -> str:
        return "left__1"

    @pipeline
    def twice() -> None:
        pick() >> [left(), left(), right()]

    run = run_pipeline_test(twice, clock=FakeClock(), home=migrated_home)

    assert run.state_of("left") == "skipped"
    assert run.state_of("left__1") == "success"
    assert run.state_of("right") == "skipped"


def test_a_base_id_selects_every_call_of_that_task_in_a_group(migrated_home: Path) -> None:
    @task.branch
    def pick() -> str:
        return "left"

    @pipeline
    def twice() -> None:
        with task_group("g"):
            pick() >> [left(), left(), right()]

    run = run_pipeline_test(twice, clock=FakeClock(), home=migrated_home)

    assert run.state_of("g.left") == "success"
    assert run.state_of("g.left__1") == "success"
    assert run.state_of("g.right") == "skipped"


@pytest.mark.parametrize(
    ("choice", "stored"),
    [("left", "left"), (left, "left"), (("left", right), ["left", "right"]), (None, None)],
    ids=["id", "task", "tuple", "none"],
)
def test_the_choice_is_stored_as_task_ids(choice: Any, stored: Any, tmp_path: Path) -> None:
    run = run_with(choice, tmp_path)
    assert run.result("choose") == stored


def enrich_and_join(choice: str) -> Pipeline:
    """branch >> enrich >> join and branch >> join: join is below the branch twice."""

    @task.branch
    def branch() -> str:
        return choice

    @task
    def enrich() -> str:
        return "enriched"

    @task
    def join_all() -> str:
        return "joined"

    @pipeline
    def diamond() -> None:
        chosen = branch()
        enriched = enrich()
        joined = join_all()
        chosen >> enriched >> joined
        chosen >> joined
        chosen >> right()

    return diamond


def test_a_task_below_the_chosen_path_runs_even_as_a_direct_downstream(migrated_home: Path) -> None:
    # As in Airflow: the branch picks enrich; join_all is downstream of both the branch
    # and enrich, so it is not skipped, and its all_success rule runs it
    run = run_pipeline_test(enrich_and_join("enrich"), clock=FakeClock(), home=migrated_home)

    assert run.result("enrich") == "enriched"
    assert run.result("join_all") == "joined"
    assert run.state_of("right") == "skipped"
    assert run.succeeded


def test_a_direct_downstream_off_the_chosen_path_is_skipped(migrated_home: Path) -> None:
    run = run_pipeline_test(enrich_and_join("right"), clock=FakeClock(), home=migrated_home)

    assert run.state_of("enrich") == "skipped"
    assert run.state_of("join_all") == "skipped"
    assert run.result("right") == "right ran"


def test_a_branch_choice_holds_when_the_run_is_driven_again(tmp_path: Path) -> None:
    # Given: a run where pick chose "right" and left's other upstream (gate) failed
    from headwater.config import Settings
    from headwater.runtime import Runtime

    gate_opens = threading.Event()

    @task
    def gate() -> str:
        if not gate_opens.is_set():
            raise RuntimeError("closed")
        return "open"

    @task.branch
    def pick() -> str:
        return "right"

    @pipeline
    def again() -> None:
        target = left()
        pick() >> [target, right()]
        gate() >> target

    runtime = Runtime(Settings.for_home(tmp_path), clock=FakeClock())
    try:
        run = runtime.run(again)
        assert runtime.summary(run.run_id)["tasks"]["left"]["state"] == "upstream_failed"

        # When: gate and left are cleared and run again, gate succeeding this time
        gate_opens.set()
        runtime.clear(run.run_id, ["gate", "left"], pipeline=again)

        # Then: the branch's stored choice still excludes left: skipped, not run
        tasks = runtime.summary(run.run_id)["tasks"]
        assert tasks["gate"]["state"] == "success"
        assert tasks["left"]["state"] == "skipped"
        assert tasks["right"]["state"] == "success"
    finally:
        runtime.close()
