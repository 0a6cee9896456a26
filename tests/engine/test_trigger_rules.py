"""Trigger rules: the decision table, then the same table run end to end.

``FINAL`` gives, for each combination of two finished upstream tasks, the state a task
ends in under every rule: Airflow's rules for when a task runs; a task that can no longer
run is ``upstream_failed`` if an upstream failed, ``skipped`` otherwise. The unit tests
check ``evaluate`` against it; the end-to-end tests build pipelines whose upstream tasks
really succeed, fail, are skipped or upstream-failed, in both orders, and check the
states the engine records.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from headwater import Pipeline, TaskHandle, TriggerRule, pipeline, task
from headwater.engine.states import TaskState
from headwater.engine.trigger_rules import Decision, UpstreamCounts, evaluate
from headwater.runtime import Runtime
from headwater.testing import FakeClock, run_pipeline_test

R = TriggerRule
SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED = "success", "failed", "skipped", "upstream_failed"

FINAL: dict[tuple[str, str], dict[TriggerRule, str]] = {
    (SUCCESS, SUCCESS): {
        R.ALL_SUCCESS: SUCCESS,
        R.ALL_FAILED: SKIPPED,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: SKIPPED,
        R.ONE_SUCCESS: SUCCESS,
        R.ONE_FAILED: SKIPPED,
        R.ONE_DONE: SUCCESS,
        R.NONE_FAILED: SUCCESS,
        R.NONE_FAILED_MIN_ONE_SUCCESS: SUCCESS,
        R.NONE_SKIPPED: SUCCESS,
        R.ALWAYS: SUCCESS,
    },
    (SUCCESS, FAILED): {
        R.ALL_SUCCESS: UPSTREAM_FAILED,
        R.ALL_FAILED: UPSTREAM_FAILED,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: UPSTREAM_FAILED,
        R.ONE_SUCCESS: SUCCESS,
        R.ONE_FAILED: SUCCESS,
        R.ONE_DONE: SUCCESS,
        R.NONE_FAILED: UPSTREAM_FAILED,
        R.NONE_FAILED_MIN_ONE_SUCCESS: UPSTREAM_FAILED,
        R.NONE_SKIPPED: SUCCESS,
        R.ALWAYS: SUCCESS,
    },
    (SUCCESS, SKIPPED): {
        R.ALL_SUCCESS: SKIPPED,
        R.ALL_FAILED: SKIPPED,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: SKIPPED,
        R.ONE_SUCCESS: SUCCESS,
        R.ONE_FAILED: SKIPPED,
        R.ONE_DONE: SUCCESS,
        R.NONE_FAILED: SUCCESS,
        R.NONE_FAILED_MIN_ONE_SUCCESS: SUCCESS,
        R.NONE_SKIPPED: SKIPPED,
        R.ALWAYS: SUCCESS,
    },
    (FAILED, FAILED): {
        R.ALL_SUCCESS: UPSTREAM_FAILED,
        R.ALL_FAILED: SUCCESS,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: UPSTREAM_FAILED,
        R.ONE_SUCCESS: UPSTREAM_FAILED,
        R.ONE_FAILED: SUCCESS,
        R.ONE_DONE: SUCCESS,
        R.NONE_FAILED: UPSTREAM_FAILED,
        R.NONE_FAILED_MIN_ONE_SUCCESS: UPSTREAM_FAILED,
        R.NONE_SKIPPED: SUCCESS,
        R.ALWAYS: SUCCESS,
    },
    (FAILED, UPSTREAM_FAILED): {
        R.ALL_SUCCESS: UPSTREAM_FAILED,
        R.ALL_FAILED: SUCCESS,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: UPSTREAM_FAILED,
        R.ONE_SUCCESS: UPSTREAM_FAILED,
        R.ONE_FAILED: SUCCESS,
        R.ONE_DONE: SUCCESS,
        R.NONE_FAILED: UPSTREAM_FAILED,
        R.NONE_FAILED_MIN_ONE_SUCCESS: UPSTREAM_FAILED,
        R.NONE_SKIPPED: SUCCESS,
        R.ALWAYS: SUCCESS,
    },
    (SKIPPED, SKIPPED): {
        R.ALL_SUCCESS: SKIPPED,
        R.ALL_FAILED: SKIPPED,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: SUCCESS,
        R.ONE_SUCCESS: SKIPPED,
        R.ONE_FAILED: SKIPPED,
        R.ONE_DONE: SKIPPED,
        R.NONE_FAILED: SUCCESS,
        R.NONE_FAILED_MIN_ONE_SUCCESS: SKIPPED,
        R.NONE_SKIPPED: SKIPPED,
        R.ALWAYS: SUCCESS,
    },
    # one_done counts success and failed only, so an upstream_failed one does not start it
    (UPSTREAM_FAILED, SKIPPED): {
        R.ALL_SUCCESS: UPSTREAM_FAILED,
        R.ALL_FAILED: UPSTREAM_FAILED,
        R.ALL_DONE: SUCCESS,
        R.ALL_SKIPPED: UPSTREAM_FAILED,
        R.ONE_SUCCESS: UPSTREAM_FAILED,
        R.ONE_FAILED: SUCCESS,
        R.ONE_DONE: UPSTREAM_FAILED,
        R.NONE_FAILED: UPSTREAM_FAILED,
        R.NONE_FAILED_MIN_ONE_SUCCESS: UPSTREAM_FAILED,
        R.NONE_SKIPPED: UPSTREAM_FAILED,
        R.ALWAYS: SUCCESS,
    },
}

DECISION_FOR_STATE = {
    SUCCESS: Decision.RUN,
    SKIPPED: Decision.SKIP,
    UPSTREAM_FAILED: Decision.UPSTREAM_FAILED,
}


def counts_of(*states: str, total: int | None = None) -> UpstreamCounts:
    counts = UpstreamCounts(total=len(states) if total is None else total)
    for state in states:
        counts.add(TaskState(state))
    return counts


def test_the_table_covers_every_rule() -> None:
    for outcomes in FINAL.values():
        assert set(outcomes) == set(TriggerRule)


@pytest.mark.parametrize(
    ("upstream", "rule", "expected"),
    [
        (upstream, rule, DECISION_FOR_STATE[state])
        for upstream, outcomes in FINAL.items()
        for rule, state in outcomes.items()
    ],
)
def test_evaluate_once_every_upstream_is_done(
    upstream: tuple[str, str], rule: TriggerRule, expected: Decision
) -> None:
    assert evaluate(rule, counts_of(*upstream)) is expected


@pytest.mark.parametrize(
    ("rule", "done", "expected"),
    [
        # decisions taken before the second upstream task ends: a task that can no longer
        # run waits to be skipped, since the other upstream might still fail
        (R.ALL_SUCCESS, SUCCESS, Decision.WAIT),
        (R.ALL_SUCCESS, FAILED, Decision.UPSTREAM_FAILED),
        (R.ALL_SUCCESS, UPSTREAM_FAILED, Decision.UPSTREAM_FAILED),
        (R.ALL_SUCCESS, SKIPPED, Decision.WAIT),
        (R.ALL_FAILED, FAILED, Decision.WAIT),
        (R.ALL_FAILED, SUCCESS, Decision.WAIT),
        (R.ALL_FAILED, SKIPPED, Decision.WAIT),
        (R.ALL_DONE, FAILED, Decision.WAIT),
        (R.ALL_SKIPPED, SKIPPED, Decision.WAIT),
        (R.ALL_SKIPPED, SUCCESS, Decision.WAIT),
        (R.ALL_SKIPPED, FAILED, Decision.UPSTREAM_FAILED),
        (R.ONE_SUCCESS, SUCCESS, Decision.RUN),
        (R.ONE_SUCCESS, FAILED, Decision.WAIT),
        (R.ONE_SUCCESS, SKIPPED, Decision.WAIT),
        (R.ONE_FAILED, FAILED, Decision.RUN),
        (R.ONE_FAILED, UPSTREAM_FAILED, Decision.RUN),
        (R.ONE_FAILED, SUCCESS, Decision.WAIT),
        (R.ONE_DONE, SUCCESS, Decision.RUN),
        (R.ONE_DONE, FAILED, Decision.RUN),
        (R.ONE_DONE, SKIPPED, Decision.WAIT),
        (R.ONE_DONE, UPSTREAM_FAILED, Decision.WAIT),
        (R.NONE_FAILED, SUCCESS, Decision.WAIT),
        (R.NONE_FAILED, FAILED, Decision.UPSTREAM_FAILED),
        (R.NONE_FAILED_MIN_ONE_SUCCESS, SKIPPED, Decision.WAIT),
        (R.NONE_FAILED_MIN_ONE_SUCCESS, UPSTREAM_FAILED, Decision.UPSTREAM_FAILED),
        (R.NONE_SKIPPED, SKIPPED, Decision.WAIT),
        (R.NONE_SKIPPED, FAILED, Decision.WAIT),
        (R.ALWAYS, FAILED, Decision.RUN),
    ],
)
def test_evaluate_while_an_upstream_task_is_still_running(
    rule: TriggerRule, done: str, expected: Decision
) -> None:
    assert evaluate(rule, counts_of(done, total=2)) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_task_without_upstream_always_runs(rule: TriggerRule) -> None:
    assert evaluate(rule, UpstreamCounts(total=0)) is Decision.RUN


@pytest.mark.parametrize("rule", [r for r in TriggerRule if r is not R.ALWAYS])
def test_no_rule_but_always_runs_before_any_upstream_is_done(rule: TriggerRule) -> None:
    assert evaluate(rule, UpstreamCounts(total=2)) is Decision.WAIT


# end to end


@task
def succeed() -> str:
    return "ok"


@task
def fail() -> None:
    raise RuntimeError("boom")


@task.branch
def skip_all() -> None:
    return None  # skips every direct downstream task


@task
def judge() -> str:
    return "ran"


def upstream_in_state(name: str, state: str) -> TaskHandle:
    """A task that will end in ``state`` when the pipeline runs."""
    if state == SUCCESS:
        handle: TaskHandle = succeed.override(task_id=name)()
    elif state == FAILED:
        handle = fail.override(task_id=name)()
    elif state == SKIPPED:
        handle = succeed.override(task_id=name)()
        skip_all.override(task_id=f"{name}_gate")() >> handle
    else:  # upstream_failed: downstream of a failure under all_success
        handle = succeed.override(task_id=name)()
        fail.override(task_id=f"{name}_gate")() >> handle
    return handle


def pipeline_with_judges(upstream: tuple[str, str]) -> Pipeline:
    """Two upstream tasks ending in ``upstream`` states, and one judge per rule below them."""

    def body() -> None:
        ups = [upstream_in_state(f"up{i}", state) for i, state in enumerate(upstream)]
        for rule in TriggerRule:
            ups >> judge.override(task_id=f"judge_{rule.value}", trigger_rule=rule)()

    return pipeline(pipeline_id="judges")(body)


@pytest.mark.parametrize("order", ["declared", "reversed"])
@pytest.mark.parametrize("upstream", list(FINAL), ids="-".join)
def test_trigger_rules_end_to_end(upstream: tuple[str, str], order: str, runtime: Runtime) -> None:
    # One try at a time, so the upstream tasks end in declaration order; the same states
    # in the other order must give the same outcome.
    states_in_order = upstream if order == "declared" else upstream[::-1]
    judges = pipeline_with_judges(states_in_order)
    run = runtime.create_run(judges)
    runtime.engine(judges, max_concurrency=1).drive(run.run_id)

    tasks = runtime.summary(run.run_id)["tasks"]
    assert [tasks[f"up{i}"]["state"] for i in range(2)] == list(states_in_order)
    states = {rule: tasks[f"judge_{rule.value}"]["state"] for rule in TriggerRule}
    assert states == FINAL[upstream]
    for rule, state in states.items():
        assert tasks[f"judge_{rule.value}"]["tries"] == (1 if state == SUCCESS else 0)


@pytest.mark.parametrize("upstream", list(FINAL), ids="-".join)
@pytest.mark.parametrize("rule", list(TriggerRule))
def test_the_outcome_does_not_depend_on_which_upstream_ends_first(
    upstream: tuple[str, str], rule: TriggerRule
) -> None:
    # Every order of arrival, decided at each arrival as the engine does
    outcomes = set()
    for first, second in (upstream, upstream[::-1]):
        counts = counts_of(first, total=2)
        decision = evaluate(rule, counts)
        if decision is Decision.WAIT:
            counts.add(TaskState(second))
            decision = evaluate(rule, counts)
        outcomes.add(decision)
    assert outcomes == {DECISION_FOR_STATE[FINAL[upstream][rule]]}


def test_a_task_a_branch_did_not_choose_waits_for_its_other_upstream(runtime: Runtime) -> None:
    # Given: a branch skips "target" at once; target's other upstream fails later
    @task
    def slow_fail() -> None:
        raise RuntimeError("later")

    @task.branch
    def choose_none() -> None:
        return None

    @pipeline
    def excluded() -> None:
        target = succeed.override(task_id="target")()
        choose_none() >> target
        slow_fail() >> target

    run = runtime.create_run(excluded)
    runtime.engine(excluded, max_concurrency=1).drive(run.run_id)

    # Then: it can no longer run, and an upstream failed: upstream_failed, not skipped
    assert runtime.summary(run.run_id)["tasks"]["target"]["state"] == UPSTREAM_FAILED


def test_a_failure_propagates_as_upstream_failed_down_a_chain(migrated_home: Path) -> None:
    @task(trigger_rule="all_done")
    def cleanup() -> str:
        return "cleaned"

    @pipeline
    def chain() -> None:
        a, b, c = (succeed.override(task_id=name)() for name in "abc")
        fail() >> a >> b >> c >> cleanup()

    run = run_pipeline_test(chain, clock=FakeClock(), home=migrated_home)

    assert run.state_of("fail") == "failed"
    assert [run.state_of(t) for t in "abc"] == ["upstream_failed"] * 3
    assert [run.tasks[t].tries for t in "abc"] == [0, 0, 0]
    assert run.state_of("cleanup") == "success"


def test_a_skip_propagates_down_a_chain_until_a_none_failed_task(migrated_home: Path) -> None:
    @task(trigger_rule="none_failed")
    def join() -> str:
        return "joined"

    @pipeline
    def chain() -> None:
        a, b, c = (succeed.override(task_id=name)() for name in "abc")
        skip_all() >> a >> b >> c >> join() >> succeed.override(task_id="after")()

    run = run_pipeline_test(chain, clock=FakeClock(), home=migrated_home)

    assert [run.state_of(t) for t in "abc"] == ["skipped"] * 3
    assert run.state_of("join") == "success"
    assert run.state_of("after") == "success"
    assert run.succeeded


def test_one_success_starts_while_another_upstream_is_still_running(migrated_home: Path) -> None:
    # Given: "slow" ends only once the one_success task has started
    started = threading.Event()

    @task
    def slow() -> bool:
        return started.wait(timeout=30)

    @task(trigger_rule="one_success")
    def first_one() -> str:
        started.set()
        return "first"

    @pipeline
    def race() -> None:
        [succeed.override(task_id="fast")(), slow()] >> first_one()

    # When / Then: first_one ran after "fast" alone, so "slow" saw it start
    run = run_pipeline_test(race, home=migrated_home)
    assert run.result("first_one") == "first"
    assert run.result("slow") is True
