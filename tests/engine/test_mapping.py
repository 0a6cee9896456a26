"""Dynamic mapping: ``.map`` runs one instance per item; downstream gets a list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater import Context, pipeline, task
from headwater.runtime import Runtime
from headwater.testing import FakeClock, run_pipeline_test


@task
def files(count: int) -> list[str]:
    return [f"part-{n}.csv" for n in range(count)]


@task
def size(name: str, ctx: Context, scale: int = 1) -> dict[str, Any]:
    return {"name": name, "map_index": ctx.map_index, "scaled": len(name) * scale}


@task
def collect(sizes: list[dict[str, Any]]) -> list[int]:
    return [item["map_index"] for item in sizes]


@task
def count_them(sizes: list[dict[str, Any]]) -> int:
    return len(sizes)


def test_a_mapped_task_runs_once_per_item_of_its_upstream_list(migrated_home: Path) -> None:
    @pipeline
    def mapped() -> None:
        collect(size.map(files(3), scale=2))

    run = run_pipeline_test(mapped, clock=FakeClock(), home=migrated_home)

    assert [key for key in run.tasks if key.startswith("size")] == ["size[0]", "size[1]", "size[2]"]
    assert run.result("size") == [
        {"name": "part-0.csv", "map_index": 0, "scaled": 20},
        {"name": "part-1.csv", "map_index": 1, "scaled": 20},
        {"name": "part-2.csv", "map_index": 2, "scaled": 20},
    ]
    # the downstream task receives the results as a list, in item order
    assert run.result("collect") == [0, 1, 2]
    assert run.succeeded


def test_a_task_can_map_over_a_literal_list_by_keyword(migrated_home: Path) -> None:
    @task
    def shout(word: str) -> str:
        return word.upper()

    @task
    def join(words: list[str]) -> str:
        return " ".join(words)

    @pipeline
    def literal() -> None:
        join(shout.map(word=["a", "b", "c"]))

    run = run_pipeline_test(literal, clock=FakeClock(), home=migrated_home)

    assert run.result("join") == "A B C"


def test_an_empty_list_skips_the_mapped_task_and_its_downstream(migrated_home: Path) -> None:
    @task(trigger_rule="all_done")
    def report() -> str:
        return "reported"

    @pipeline
    def empty() -> None:
        sizes = size.map(files(0))
        count_them(sizes)
        sizes >> report()

    run = run_pipeline_test(empty, clock=FakeClock(), home=migrated_home)

    assert run.tasks["size"].state == "skipped"
    assert run.tasks["size"].error == "mapped over an empty list"
    assert run.tasks["size"].tries == 0
    assert run.state_of("count_them") == "skipped"
    assert run.result("report") == "reported"
    assert run.succeeded


def test_a_failing_item_fails_the_mapped_task_not_its_siblings(migrated_home: Path) -> None:
    @task
    def check(n: int) -> int:
        if n == 2:
            raise ValueError("item 2 is bad")
        return n

    @task(trigger_rule="all_done")
    def summary(values: list[int | None]) -> list[int | None]:
        return values

    @pipeline
    def partly() -> None:
        checked = check.map([1, 2, 3])
        count_them(checked)
        summary(checked)

    run = run_pipeline_test(partly, clock=FakeClock(), home=migrated_home)

    assert [run.state_of(f"check[{i}]") for i in range(3)] == ["success", "failed", "success"]
    assert run.state_of("count_them") == "upstream_failed"
    # an all_done task gets None for the items that failed
    assert run.result("summary") == [1, None, 3]
    assert run.state == "failed"


def test_each_mapped_item_retries_on_its_own(runtime: Runtime, clock: FakeClock) -> None:
    @task(retries=1, retry_delay=5)
    def fragile(n: int, ctx: Context) -> int:
        if n == 1 and ctx.try_number == 1:
            raise ConnectionError("once")
        return n * 10

    @pipeline
    def retried() -> None:
        count_them(fragile.map([0, 1, 2]))

    run = runtime.run(retried)

    tasks = runtime.summary(run.run_id)["tasks"]
    assert [tasks[f"fragile[{i}]"]["tries"] for i in range(3)] == [1, 2, 1]
    assert len(runtime.store.get_tries(run.run_id, "fragile", 1)) == 2
    assert clock.sleeps == [5.0]
    assert run.state == "success"


def test_a_mapped_task_can_feed_another_mapped_task(migrated_home: Path) -> None:
    @task
    def numbers() -> list[int]:
        return [1, 2, 3]

    @task
    def double(n: int) -> int:
        return n * 2

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline
    def chained() -> None:
        total(double.map(double.map(numbers())))

    run = run_pipeline_test(chained, clock=FakeClock(), home=migrated_home)

    assert run.result("double__1") == [4, 8, 12]
    assert run.result("total") == 24


def test_mapping_over_something_that_is_not_a_list_fails_the_task(migrated_home: Path) -> None:
    @task
    def not_a_list() -> dict[str, int]:
        return {"a": 1}

    @task
    def each(item: Any) -> Any:
        return item

    @pipeline
    def wrong() -> None:
        each.map(not_a_list())

    run = run_pipeline_test(wrong, clock=FakeClock(), home=migrated_home)

    assert run.tasks["each"].state == "failed"
    assert run.tasks["each"].error == (
        "HeadwaterError: task 'each' in pipeline 'wrong' maps over 'item', which must be a "
        "list, got dict"
    )
    assert run.state == "failed"


def test_map_index_is_minus_one_for_a_task_that_is_not_mapped(migrated_home: Path) -> None:
    @task
    def where(ctx: Context) -> int:
        return ctx.map_index

    @pipeline
    def unmapped() -> None:
        where()

    run = run_pipeline_test(unmapped, clock=FakeClock(), home=migrated_home)

    assert run.result("where") == -1
