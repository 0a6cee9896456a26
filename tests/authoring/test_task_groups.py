"""Task groups: id prefixes, and groups on either side of ``>>`` and ``<<``."""

from __future__ import annotations

import pytest

from headwater import DefinitionError, Pipeline, TaskGroup, pipeline, task, task_group


@task
def extract() -> None:
    return None


@task
def clean() -> None:
    return None


@task
def check() -> None:
    return None


@task
def load() -> None:
    return None


def edges(p: Pipeline) -> set[tuple[str, str]]:
    """``(upstream, downstream)`` pairs of the pipeline's graph."""
    nodes = p.plan.nodes
    return {(nodes[up].task_id, node.task_id) for node in nodes for up in node.upstream}


def test_tasks_in_a_group_get_its_id_as_prefix() -> None:
    @pipeline
    def grouped() -> None:
        with task_group("orders") as group:
            clean()
            check()
        assert isinstance(group, TaskGroup)
        assert group.members == ["orders.clean", "orders.check"]
        load()

    assert grouped.task_ids == ["orders.clean", "orders.check", "load"]


def test_nested_groups_join_their_prefixes() -> None:
    @pipeline
    def nested() -> None:
        with task_group("sales"):
            clean()
            with task_group("eu"):
                clean()
            with task_group("us"):
                clean()

    assert nested.task_ids == ["sales.clean", "sales.eu.clean", "sales.us.clean"]


def test_the_same_task_called_twice_in_a_group_is_suffixed_inside_the_group() -> None:
    @pipeline
    def twice() -> None:
        with task_group("g"):
            clean()
            clean()
        clean()

    assert twice.task_ids == ["g.clean", "g.clean__1", "clean"]


def test_a_task_upstream_of_a_group_feeds_the_groups_first_tasks() -> None:
    @pipeline
    def feeding() -> None:
        first = extract()
        with task_group("transform") as group:
            clean() >> check()
        first >> group >> load()

    assert edges(feeding) == {
        ("extract", "transform.clean"),
        ("transform.clean", "transform.check"),
        ("transform.check", "load"),
    }


def test_a_group_with_parallel_tasks_links_all_its_roots_and_leaves() -> None:
    @pipeline
    def parallel() -> None:
        with task_group("g") as group:
            clean()
            check()
        extract() >> group
        group >> load()

    assert edges(parallel) == {
        ("extract", "g.clean"),
        ("extract", "g.check"),
        ("g.clean", "load"),
        ("g.check", "load"),
    }


def test_groups_can_stand_on_both_sides() -> None:
    @pipeline
    def two_groups() -> None:
        with task_group("a") as a:
            extract() >> clean()
        with task_group("b") as b:
            check() >> load()
        a >> b

    assert edges(two_groups) == {
        ("a.extract", "a.clean"),
        ("b.check", "b.load"),
        ("a.clean", "b.check"),
    }


def test_left_shift_links_a_group_the_other_way() -> None:
    @pipeline
    def shifted() -> None:
        with task_group("a") as a:
            extract()
        with task_group("b") as b:
            clean()
        b << a
        load() << b

    assert edges(shifted) == {("a.extract", "b.clean"), ("b.clean", "load")}


def test_lists_of_groups_and_tasks_can_be_linked() -> None:
    @pipeline
    def lists() -> None:
        with task_group("eu") as eu:
            clean()
        with task_group("us") as us:
            clean()
        start = extract()
        start >> [eu, us] >> load()
        [eu, us] >> check()

    assert edges(lists) == {
        ("extract", "eu.clean"),
        ("extract", "us.clean"),
        ("eu.clean", "load"),
        ("us.clean", "load"),
        ("eu.clean", "check"),
        ("us.clean", "check"),
    }


@pytest.mark.parametrize("group_id", ["has space", "1st", ""])
def test_an_invalid_group_id_names_the_pipeline(group_id: str) -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def bad_group() -> None:
            with task_group(group_id):
                clean()

    assert str(caught.value).startswith(f"pipeline 'bad_group': invalid task group id {group_id!r}")
