"""Running a finished run again: ``Runtime.retry`` and ``Runtime.clear``."""

from __future__ import annotations

from typing import Any

import pytest

from headwater import NotFoundError, Pipeline, pipeline, task
from headwater.runtime import Runtime
from headwater.testing import FakeClock


def tries(runtime: Runtime, run_id: str) -> dict[str, tuple[str, int]]:
    """``{task: (state, tries)}`` of a run."""
    return {
        task_id: (value["state"], value["tries"])
        for task_id, value in runtime.summary(run_id)["tasks"].items()
    }


def etl_pipeline(broken: dict[str, bool]) -> Pipeline:
    """extract -> transform -> load, and a side task; transform fails while broken."""

    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def transform(rows: list[int]) -> list[int]:
        if broken["transform"]:
            raise RuntimeError("bad input")
        return [r * 10 for r in rows]

    @task
    def load(rows: list[int]) -> int:
        return sum(rows)

    @task
    def side() -> str:
        return "side"

    @pipeline
    def etl() -> None:
        load(transform(extract()))
        side()

    return etl


def test_retry_reruns_only_the_failed_and_upstream_failed_tasks(runtime: Runtime) -> None:
    # Given: a run whose transform failed
    broken = {"transform": True}
    etl = etl_pipeline(broken)
    run = runtime.run(etl)
    assert run.state == "failed"
    assert tries(runtime, run.run_id) == {
        "extract": ("success", 1),
        "transform": ("failed", 1),
        "load": ("upstream_failed", 0),
        "side": ("success", 1),
    }

    # When: the cause is fixed and the run retried
    broken["transform"] = False
    again = runtime.retry(run.run_id, pipeline=etl)

    # Then: only transform and load ran; what succeeded kept its single try
    assert again.run_id == run.run_id
    assert again.state == "success"
    assert tries(runtime, run.run_id) == {
        "extract": ("success", 1),
        "transform": ("success", 2),
        "load": ("success", 1),
        "side": ("success", 1),
    }
    load_instance = next(
        ti for ti in runtime.store.get_task_instances(run.run_id) if ti.task_id == "load"
    )
    assert load_instance.result == "60"
    assert [t.state for t in runtime.store.get_tries(run.run_id, "transform")] == [
        "failed",
        "success",
    ]


def test_retry_of_a_successful_run_runs_nothing(runtime: Runtime) -> None:
    etl = etl_pipeline({"transform": False})
    run = runtime.run(etl)

    again = runtime.retry(run.run_id, pipeline=etl)

    assert again.state == "success"
    assert {state_tries[1] for state_tries in tries(runtime, run.run_id).values()} == {1}


def test_retry_grants_the_task_its_retries_again(runtime: Runtime, clock: FakeClock) -> None:
    calls: list[int] = []

    @task(retries=1, retry_delay=7)
    def always_fails() -> None:
        calls.append(len(calls))
        raise RuntimeError("still down")

    @pipeline
    def down() -> None:
        always_fails()

    run = runtime.run(down)
    runtime.retry(run.run_id, pipeline=down)

    assert len(calls) == 4
    assert clock.sleeps == [7.0, 7.0]
    assert [t.try_number for t in runtime.store.get_tries(run.run_id)] == [1, 2, 3, 4]


def test_clear_with_downstream_reruns_the_task_and_everything_below(runtime: Runtime) -> None:
    etl = etl_pipeline({"transform": False})
    run = runtime.run(etl)

    runtime.clear(run.run_id, ["transform"], downstream=True, pipeline=etl)

    assert tries(runtime, run.run_id) == {
        "extract": ("success", 1),
        "transform": ("success", 2),
        "load": ("success", 2),
        "side": ("success", 1),
    }


def test_clear_without_downstream_reruns_only_the_named_tasks(runtime: Runtime) -> None:
    etl = etl_pipeline({"transform": False})
    run = runtime.run(etl)

    again = runtime.clear(run.run_id, ["transform", "side"], pipeline=etl)

    assert again.state == "success"
    assert tries(runtime, run.run_id) == {
        "extract": ("success", 1),
        "transform": ("success", 2),
        "load": ("success", 1),
        "side": ("success", 2),
    }


def test_clear_without_running_leaves_the_run_queued(runtime: Runtime) -> None:
    etl = etl_pipeline({"transform": False})
    run = runtime.run(etl)

    cleared = runtime.clear(run.run_id, ["load"], run=False, pipeline=etl)

    assert cleared.state == "queued"
    assert cleared.ended_at is None
    assert tries(runtime, run.run_id)["load"] == ("none", 1)


def test_clear_of_an_unknown_task_names_the_known_ones(runtime: Runtime) -> None:
    etl = etl_pipeline({"transform": False})
    run = runtime.run(etl)

    with pytest.raises(NotFoundError) as caught:
        runtime.clear(run.run_id, ["transfrom"], pipeline=etl)

    assert str(caught.value) == (
        f"run {run.run_id!r} of pipeline 'etl' has no task 'transfrom'; its tasks are: "
        "extract, side, transform, load"
    )


def test_retry_maps_a_mapped_task_again_over_its_new_input(runtime: Runtime) -> None:
    # Given: a mapped task whose second item failed
    broken = {"item": True}

    @task
    def items() -> list[int]:
        return [1, 2, 3]

    @task
    def check(n: int) -> int:
        if n == 2 and broken["item"]:
            raise ValueError("bad item")
        return n * 100

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline
    def mapped() -> None:
        total(check.map(items()))

    run = runtime.run(mapped)
    assert tries(runtime, run.run_id)["check[1]"] == ("failed", 1)

    # When: fixed and retried
    broken["item"] = False
    again = runtime.retry(run.run_id, pipeline=mapped)

    # Then: the mapped task is expanded again, and total gets every item
    assert again.state == "success"
    states: dict[str, Any] = tries(runtime, run.run_id)
    assert states["items"] == ("success", 1)
    assert [states[f"check[{i}]"] for i in range(3)] == [("success", 2)] * 3
    total_instance = next(
        ti for ti in runtime.store.get_task_instances(run.run_id) if ti.task_id == "total"
    )
    assert total_instance.result == "600"


def test_clearing_the_upstream_of_a_mapped_task_maps_it_again(runtime: Runtime) -> None:
    # Given: a finished run where items returned two items, then three once cleared
    sizes = [2]

    @task
    def items() -> list[int]:
        count = sizes[0]
        sizes[0] += 1
        return list(range(count))

    @task
    def square(n: int) -> int:
        return n * n

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline
    def remapped() -> None:
        total(square.map(items()))

    run = runtime.run(remapped)
    assert "square[2]" not in tries(runtime, run.run_id)

    # When
    runtime.clear(run.run_id, ["items"], downstream=True, pipeline=remapped)

    # Then: square was expanded over the new list, numbering its tries after the old ones
    states = tries(runtime, run.run_id)
    assert [states[f"square[{i}]"] for i in range(3)] == [("success", 2)] * 3
    assert states["total"] == ("success", 2)
    total_instance = next(
        ti for ti in runtime.store.get_task_instances(run.run_id) if ti.task_id == "total"
    )
    assert total_instance.result == "5"
