"""Running a finished run again: ``Runtime.retry`` and ``Runtime.clear``."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from headwater import Context, NotFoundError, Pipeline, pipeline, task
from headwater.runtime import Runtime
from headwater.testing import FakeClock, run_pipeline_test


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
    # it shows no try of the attempt to come; its earlier try stays in its history
    assert tries(runtime, run.run_id)["load"] == ("none", 0)
    assert len(runtime.summary(run.run_id)["tasks"]["load"]["history"]) == 1


def test_clear_of_an_unknown_task_names_the_known_ones(runtime: Runtime) -> None:
    etl = etl_pipeline({"transform": False})
    run = runtime.run(etl)

    with pytest.raises(NotFoundError) as caught:
        runtime.clear(run.run_id, ["transfrom"], pipeline=etl)

    assert str(caught.value) == (
        f"run {run.run_id!r} of pipeline 'etl' has no task 'transfrom'; its tasks are: "
        "extract, side, transform, load"
    )


def test_retry_runs_only_the_failed_items_of_a_mapped_task(runtime: Runtime) -> None:
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

    # Then: only the failed item ran again, and total (below it) got every item
    assert again.state == "success"
    states: dict[str, Any] = tries(runtime, run.run_id)
    assert states["items"] == ("success", 1)
    assert [states[f"check[{i}]"] for i in range(3)] == [
        ("success", 1),
        ("success", 2),
        ("success", 1),
    ]
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


def test_retry_reruns_an_all_done_notifier_so_it_reports_the_repair(runtime: Runtime) -> None:
    # Given: transform failed; notify (all_done, below it) ran and reported the failure
    broken = {"transform": True}
    reports: list[dict[str, str]] = []

    @task
    def transform() -> int:
        if broken["transform"]:
            raise RuntimeError("bad input")
        return 1

    @task(trigger_rule="all_done")
    def notify(ctx: Context) -> None:
        reports.append(dict(ctx.upstream_states))

    @pipeline
    def notified() -> None:
        transform() >> notify()

    run = runtime.run(notified)
    assert run.state == "failed"

    # When: fixed and retried
    broken["transform"] = False
    again = runtime.retry(run.run_id, pipeline=notified)

    # Then: notify ran again and reported the repaired outcome
    assert again.state == "success"
    assert reports == [{"transform": "failed"}, {"transform": "success"}]
    assert tries(runtime, run.run_id)["notify"] == ("success", 2)


def city_pipeline(bad: set[str]) -> Pipeline:
    """fetch -> validate.map -> store.map (item by item) -> summary."""

    @task
    def cities() -> list[str]:
        return ["paris", "lima", "oslo"]

    @task
    def validate(city: str) -> str:
        if city in bad:
            raise ValueError(f"{city}: bad data")
        return city.upper()

    @task
    def store(city: str) -> str:
        return f"stored {city}"

    @task(trigger_rule="all_done")
    def summary(stored: list[str | None], ctx: Context) -> dict[str, Any]:
        return {"stored": stored, "states": dict(ctx.upstream_states)}

    @pipeline
    def per_city() -> None:
        summary(store.map(validate.map(cities())))

    return per_city


def test_a_chain_of_mapped_tasks_goes_item_by_item(runtime: Runtime) -> None:
    # Given: b.map(a.map(items)), where one item fails validation
    run = runtime.run(city_pipeline({"lima"}))

    # Then: that item's store is upstream_failed; the others are stored
    states = tries(runtime, run.run_id)
    assert [states[f"validate[{i}]"][0] for i in range(3)] == ["success", "failed", "success"]
    assert [states[f"store[{i}]"][0] for i in range(3)] == [
        "success",
        "upstream_failed",
        "success",
    ]
    # the task below the mapped one sees every item: None for the one that failed
    summary = next(
        ti for ti in runtime.store.get_task_instances(run.run_id) if ti.task_id == "summary"
    )
    assert summary.result is not None
    body = json.loads(summary.result)
    assert body["stored"] == ["stored PARIS", None, "stored OSLO"]
    assert body["states"] == {
        "store": "upstream_failed",
        "store[0]": "success",
        "store[1]": "upstream_failed",
        "store[2]": "success",
    }
    assert run.state == "failed"


def test_an_item_starts_as_soon_as_its_own_upstream_item_ends(migrated_home: Path) -> None:
    # Given: item 0 of the first mapped task is slow; item 1 of the second must not wait
    # for it
    slow_done = threading.Event()

    @task
    def first(n: int) -> int:
        if n == 0:
            assert slow_done.wait(30), "item 1 of 'second' never ran while item 0 was slow"
        return n

    @task
    def second(n: int) -> int:
        if n == 1:
            slow_done.set()
        return n

    @pipeline
    def overlapping() -> None:
        second.map(first.map([0, 1]))

    run = run_pipeline_test(overlapping, home=migrated_home)
    assert run.succeeded


def test_retry_reruns_a_failed_item_and_the_same_item_below_it(runtime: Runtime) -> None:
    bad = {"lima"}
    cities = city_pipeline(bad)
    run = runtime.run(cities)

    bad.clear()
    again = runtime.retry(run.run_id, pipeline=cities)

    assert again.state == "success"
    states = tries(runtime, run.run_id)
    assert [states[f"validate[{i}]"] for i in range(3)] == [
        ("success", 1),
        ("success", 2),
        ("success", 1),
    ]
    assert [states[f"store[{i}]"] for i in range(3)] == [
        ("success", 1),
        ("success", 1),  # never ran before (upstream_failed), so its first try
        ("success", 1),
    ]
    assert states["summary"] == ("success", 2)


def test_clear_of_one_item_reruns_it_and_its_items_below(runtime: Runtime) -> None:
    cities = city_pipeline(set())
    run = runtime.run(cities)

    runtime.clear(run.run_id, ["validate[2]"], downstream=True, pipeline=cities)

    states = tries(runtime, run.run_id)
    assert [states[f"validate[{i}]"][1] for i in range(3)] == [1, 1, 2]
    assert [states[f"store[{i}]"][1] for i in range(3)] == [1, 1, 2]
    assert states["summary"] == ("success", 2)


def test_clear_without_downstream_also_reruns_what_its_failure_blocked(
    runtime: Runtime,
) -> None:
    # Given: transform failed, so load never ran (upstream_failed)
    broken = {"transform": True}
    etl = etl_pipeline(broken)
    run = runtime.run(etl)

    # When: transform alone is cleared after the fix
    broken["transform"] = False
    again = runtime.clear(run.run_id, ["transform"], pipeline=etl)

    # Then: load runs too, since its state only said transform had failed
    assert again.state == "success"
    assert tries(runtime, run.run_id)["load"] == ("success", 1)


def test_a_repaired_run_reports_the_start_and_duration_of_its_latest_attempt(
    runtime: Runtime, clock: FakeClock
) -> None:
    broken = {"transform": True}
    etl = etl_pipeline(broken)
    run = runtime.run(etl)
    first_start = run.started_at

    clock.advance(600)
    broken["transform"] = False
    again = runtime.retry(run.run_id, pipeline=etl)

    assert first_start is not None
    assert again.started_at is not None
    assert again.started_at == first_start + timedelta(seconds=600)
    assert again.ended_at == again.started_at  # the fake clock did not move meanwhile
