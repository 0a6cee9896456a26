"""Ids of tasks, pipelines, task groups and pools: non-empty, at most 200 characters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headwater import DefinitionError, pipeline, task, task_group
from headwater.authoring.retry import MAX_ID_LENGTH
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.runtime import Runtime


@task
def work(n: int = 0) -> int:
    return n


def test_ids_are_at_most_200_characters() -> None:
    assert MAX_ID_LENGTH == 200


def test_a_task_id_longer_than_the_bound_is_refused_with_its_length() -> None:
    with pytest.raises(DefinitionError) as caught:
        work.override(task_id="t" * 201)
    message = str(caught.value)
    assert "task id 'tttt" in message
    assert "is 201 characters long; ids are at most 200 characters" in message


def test_a_long_task_id_inside_a_pipeline_names_the_pipeline() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def long_ids() -> None:
            work.override(task_id="t" * 256)()

    message = str(caught.value)
    assert message.startswith("pipeline 'long_ids', task 'tttt")
    assert "is 256 characters long" in message


def test_a_pipeline_id_longer_than_the_bound_is_refused() -> None:
    def body() -> None:
        work()

    with pytest.raises(DefinitionError, match=r"pipeline id 'pppp.*' is 201 characters long"):
        pipeline(pipeline_id="p" * 201)(body)


def test_a_task_group_id_longer_than_the_bound_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def long_group() -> None:
            with task_group("g" * 201):
                work()

    message = str(caught.value)
    assert message.startswith("pipeline 'long_group': task group id 'gggg")
    assert "is 201 characters long" in message


def test_a_pool_name_longer_than_the_bound_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"pool 'qqqq.*' is 201 characters long"):
        work.override(pool="q" * 201)


def test_a_group_prefix_that_makes_the_task_id_too_long_is_refused() -> None:
    # Given a group id and a task id each within the bound, but not together
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def prefixed() -> None:
            with task_group("g" * 150):
                work.override(task_id="t" * 60)()

    message = str(caught.value)
    assert message.startswith("pipeline 'prefixed': task id 'gggg")
    assert "(task 'tttt" in message
    assert "is 211 characters long with its task group prefix" in message
    assert "ids are at most 200 characters" in message


def test_a_numbered_suffix_that_makes_the_task_id_too_long_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"is 203 characters long .* suffix"):

        @pipeline
        def repeated() -> None:
            long_task = task(task_id="t" * 200)(work.fn)
            long_task(1)
            long_task(2)  # named tttt...__1


@pytest.mark.parametrize("task_id", ["", " ", "1st", "a b"])
def test_an_override_with_an_invalid_task_id_is_refused(task_id: str) -> None:
    with pytest.raises(DefinitionError, match=f"invalid task id {task_id!r}"):
        work.override(task_id=task_id)


def test_a_task_declared_with_an_empty_task_id_is_refused() -> None:
    with pytest.raises(DefinitionError, match="invalid task id ''"):
        task(task_id="")(lambda: None)


@pytest.mark.timeout(60)
def test_a_run_with_ids_of_the_longest_length_succeeds(settings: Settings) -> None:
    # Given a pipeline id and a mapped task id (in a group) of 200 characters each
    group_id = "g" * 100
    task_id = "t" * (MAX_ID_LENGTH - len(group_id) - 1)

    def longest() -> None:
        with task_group(group_id):
            work.override(task_id=task_id).map([1, 2])

    longest_pipeline = pipeline(pipeline_id="p" * MAX_ID_LENGTH)(longest)
    runtime = Runtime(settings, clock=FakeClock("2026-01-06T00:00:00+00:00"))
    try:
        # When it runs with the thread executor, its try logs under those ids
        run = runtime.run(longest_pipeline, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
        instances = runtime.store.get_task_instances(run.run_id)
    finally:
        runtime.close()
    # Then it succeeds (it does not hang) and the ids are stored whole
    assert run.state == "success"
    assert {(ti.task_id, ti.map_index) for ti in instances} == {
        (f"{group_id}.{task_id}", 0),
        (f"{group_id}.{task_id}", 1),
    }
