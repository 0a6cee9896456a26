"""Building the ExecutionPlan: edges, ids, cycles and the other validation errors."""

from __future__ import annotations

from typing import Any

import pytest

from headwater import DefinitionError, Pipeline, TaskHandle, pipeline, task
from headwater.graph.build import find_cycle, topological_order
from headwater.graph.plan import Ref


@task
def extract() -> list[int]:
    return [1, 2]


@task
def transform(rows: list[int]) -> list[int]:
    return rows


@task
def load(rows: list[int]) -> None:
    return None


@task
def step() -> None:
    return None


def edges(p: Pipeline) -> set[tuple[str, str]]:
    """``(upstream, downstream)`` pairs of the pipeline's graph."""
    nodes = p.plan.nodes
    return {(nodes[up].task_id, node.task_id) for node in nodes for up in node.upstream}


# edges from values and from >> / <<


def test_passing_a_result_makes_an_edge_and_a_reference() -> None:
    @pipeline
    def etl() -> None:
        load(transform(extract()))

    assert etl.task_ids == ["extract", "transform", "load"]
    assert edges(etl) == {("extract", "transform"), ("transform", "load")}
    node = etl.plan.node("transform")
    assert node.kwargs == {"rows": Ref(etl.plan.index_by_id["extract"])}
    assert node.has_refs


def test_results_nested_in_lists_and_dicts_make_edges() -> None:
    @task
    def gather(parts: dict[str, Any]) -> None:
        return None

    @pipeline
    def nested() -> None:
        a = extract.override(task_id="a")()
        b = extract.override(task_id="b")()
        gather({"first": a, "rest": [b, 3]})

    assert edges(nested) == {("a", "gather"), ("b", "gather")}
    index = nested.plan.index_by_id
    assert nested.plan.node("gather").kwargs == {
        "parts": {"first": Ref(index["a"]), "rest": [Ref(index["b"]), 3]},
    }


def test_right_shift_chains_and_returns_its_right_side() -> None:
    @pipeline
    def chain() -> None:
        a = step.override(task_id="a")()
        b = step.override(task_id="b")()
        c = step.override(task_id="c")()
        result = a >> b >> c
        assert result is c

    assert edges(chain) == {("a", "b"), ("b", "c")}


def test_lists_on_either_side_of_right_shift_link_every_pair() -> None:
    @pipeline
    def fan() -> None:
        a, b, c, d, e = (step.override(task_id=name)() for name in "abcde")
        a >> [b, c] >> d
        [b, c] >> e

    assert edges(fan) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("b", "e"), ("c", "e")}


def test_left_shift_links_the_other_way_with_lists_on_either_side() -> None:
    @pipeline
    def fan_in() -> None:
        a, b, c, d = (step.override(task_id=name)() for name in "abcd")
        d << [b, c]
        [b, c] << a

    assert edges(fan_in) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}


def test_an_edge_given_twice_is_kept_once() -> None:
    @pipeline
    def twice() -> None:
        rows = extract()
        rows >> transform(rows)

    assert twice.plan.node("transform").upstream == (0,)


def test_right_shift_rejects_what_is_not_a_task() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def odd() -> None:
            step() >> "load"

    assert str(caught.value) == (
        "pipeline 'odd': '>>' and '<<' link tasks, task groups or lists of them, got 'load'"
    )


def test_a_handle_of_another_pipeline_cannot_be_linked() -> None:
    leaked: list[TaskHandle] = []

    @pipeline
    def first() -> None:
        leaked.append(step())

    with pytest.raises(
        DefinitionError,
        match=r"pipeline 'second': <TaskHandle 'step'> belongs to another pipeline",
    ):

        @pipeline
        def second() -> None:
            step.override(task_id="mine")() >> leaked[0]


# ids


def test_a_second_call_of_a_task_gets_a_suffixed_id() -> None:
    @pipeline
    def twice() -> None:
        rows = extract()
        transform(transform(transform(rows)))

    assert twice.task_ids == ["extract", "transform", "transform__1", "transform__2"]
    assert edges(twice) == {
        ("extract", "transform"),
        ("transform", "transform__1"),
        ("transform__1", "transform__2"),
    }
    assert twice.plan.node("transform__1").base_id == "transform"


def test_override_gives_an_explicit_id() -> None:
    @pipeline
    def renamed() -> None:
        rows = extract()
        transform.override(task_id="clean")(rows)
        transform(rows)

    assert renamed.task_ids == ["extract", "clean", "transform"]


def test_a_duplicate_explicit_id_is_an_error_naming_pipeline_and_id() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def duplicated() -> None:
            rows = extract()
            transform.override(task_id="clean")(rows)
            transform.override(task_id="clean")(rows)

    assert str(caught.value) == (
        "pipeline 'duplicated': duplicate task id 'clean'; give each call its own task_id, "
        "e.g. task.override(task_id=...)"
    )


def test_an_explicit_id_that_an_earlier_call_took_is_a_duplicate() -> None:
    with pytest.raises(DefinitionError, match="duplicate task id 'extract'"):

        @pipeline
        def clash() -> None:
            extract()
            step.override(task_id="extract")()


# cycles and other errors


def test_a_cycle_is_reported_with_its_path() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def looping() -> None:
            a, b, c = (step.override(task_id=name)() for name in "abc")
            a >> b >> c >> a

    assert str(caught.value) == "pipeline 'looping' has a cycle: a -> b -> c -> a"


def test_a_cycle_below_other_tasks_shows_only_the_cycle() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def looping() -> None:
            start, x, y, end = (
                step.override(task_id=name)() for name in ("start", "x", "y", "end")
            )
            start >> x >> y >> end
            y >> x

    assert str(caught.value) == "pipeline 'looping' has a cycle: x -> y -> x"


def test_a_task_cannot_depend_on_itself() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def selfish() -> None:
            a = step.override(task_id="a")()
            a >> a

    assert str(caught.value) == (
        "pipeline 'selfish': task 'a' cannot depend on itself (cycle: a -> a)"
    )


def test_a_pipeline_without_tasks_is_an_error() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def empty() -> None:
            pass

    assert str(caught.value) == (
        "pipeline 'empty' declares no task; call at least one @task inside the pipeline function"
    )


def test_an_error_raised_by_the_pipeline_function_propagates() -> None:
    with pytest.raises(ZeroDivisionError):

        @pipeline
        def broken() -> None:
            step()
            1 / 0  # noqa: B018


# the plan


def test_the_plan_is_in_topological_order_keeping_declaration_order() -> None:
    @pipeline
    def ordered() -> None:
        a, b, c, d = (step.override(task_id=name)() for name in "abcd")
        d >> a  # d declared last, but upstream of a
        b >> c

    ids = ordered.task_ids
    assert ids.index("d") < ids.index("a")
    assert ids.index("b") < ids.index("c")
    assert [node.index for node in ordered.plan.nodes] == list(range(4))


def test_leaves_and_descendants() -> None:
    @pipeline
    def tree() -> None:
        a, b, c, d = (step.override(task_id=name)() for name in "abcd")
        a >> [b, c]
        b >> d

    plan = tree.plan
    assert [node.task_id for node in plan.leaves] == ["c", "d"]
    assert {plan.nodes[i].task_id for i in plan.descendants([plan.index_by_id["a"]])} == {
        "b",
        "c",
        "d",
    }


def test_describe_gives_a_json_view_of_the_graph() -> None:
    @task(retries=2, timeout=30, trigger_rule="all_done", tags=["io"])
    def notify() -> None:
        """Tell someone."""

    @pipeline
    def described() -> None:
        step() >> notify()

    assert described.plan.describe() == {
        "tasks": [
            {
                "task_id": "step",
                "kind": "python",
                "upstream": [],
                "trigger_rule": "all_success",
                "retries": 0,
                "timeout_seconds": None,
                "mapped": False,
                "allow_failure": False,
                "tags": [],
                "description": "",
            },
            {
                "task_id": "notify",
                "kind": "python",
                "upstream": ["step"],
                "trigger_rule": "all_done",
                "retries": 2,
                "timeout_seconds": 30.0,
                "mapped": False,
                "allow_failure": False,
                "tags": ["io"],
                "description": "Tell someone.",
            },
        ]
    }


def test_find_cycle_and_topological_order_on_plain_mappings() -> None:
    assert find_cycle({"a": [], "b": ["a"], "c": ["b"]}) is None
    assert find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "b", "c", "a"]
    assert topological_order({"c": ["b"], "b": ["a"], "a": []}) == ["a", "b", "c"]
