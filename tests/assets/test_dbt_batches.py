"""Which nodes of a run one ``dbt build`` takes, and what it leaves to their own tasks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from headwater.assets.dbt import DbtProject
from headwater.assets.dbt.batches import RunBuilds, batch, run_builds
from headwater.assets.dbt.runner import DbtBuildResult, DbtNodeResult
from headwater.assets.keys import task_id_of
from tests.assets.dbt_shop import (  # noqa: F401 (the two fixtures)
    CUSTOMER_ORDERS,
    DAILY_REVENUE,
    RAW_CUSTOMERS,
    RAW_ORDERS,
    SNAPSHOT,
    STG_CUSTOMERS,
    STG_ORDERS,
    dbt_shop_fixture,
    shop_project_fixture,
)


@pytest.fixture
def project(shop_project: DbtProject) -> DbtProject:
    return shop_project


@pytest.fixture
def builds(tmp_path: Path) -> RunBuilds:
    return RunBuilds(tmp_path / "run.json")


def tasks(project: DbtProject) -> dict[str, str]:
    return {unique_id: task_id_of(node.asset_key) for unique_id, node in project.nodes.items()}


def waiting_for(
    project: DbtProject, *started: str, also: dict[str, tuple[str, ...]] | None = None
) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Every node's task not started (but ``started``) waits for its dbt upstreams."""
    task_of = tasks(project)
    also = also or {}
    return {
        task_of[unique_id]: (
            1,
            tuple(task_of[d] for d in node.depends_on) + also.get(unique_id, ()),
        )
        for unique_id, node in project.nodes.items()
        if unique_id not in started
    }


def result_of(*unique_ids: str, status: str = "success") -> DbtBuildResult:
    return DbtBuildResult(
        ok=status == "success",
        results={
            u: DbtNodeResult(
                unique_id=u,
                status=status,
                message=None,
                execution_time=0.1,
                rows_affected=1,
                failures=None,
            )
            for u in unique_ids
        },
        log="",
        command=["dbt", "build", "--select", *unique_ids],
    )


def test_the_first_seed_builds_the_whole_project(project: DbtProject, builds: RunBuilds) -> None:
    waiting = waiting_for(project, RAW_ORDERS)

    chosen = batch(project, RAW_ORDERS, tasks(project), waiting, frozenset(), builds)

    assert set(chosen) == set(project.nodes) - {RAW_ORDERS}
    assert set(chosen.values()) == {1}


def test_a_node_waiting_for_a_task_outside_dbt_stays_out_with_what_follows_it(
    project: DbtProject, builds: RunBuilds
) -> None:
    # a Python asset between raw_customers and stg_customers
    waiting = waiting_for(project, RAW_ORDERS, also={STG_CUSTOMERS: ("clean_customers",)})

    chosen = batch(project, RAW_ORDERS, tasks(project), waiting, frozenset(), builds)

    assert set(chosen) == {RAW_CUSTOMERS, STG_ORDERS, DAILY_REVENUE}


def test_nothing_is_built_past_a_node_a_blocking_check_guards(
    project: DbtProject, builds: RunBuilds
) -> None:
    task_of = tasks(project)
    waiting = waiting_for(project, RAW_ORDERS)

    chosen = batch(project, RAW_ORDERS, task_of, waiting, frozenset({task_of[RAW_ORDERS]}), builds)

    # raw_orders's own check may refuse it: nothing that reads it is built before
    assert set(chosen) == {RAW_CUSTOMERS, STG_CUSTOMERS, SNAPSHOT}


def test_a_node_reading_a_seed_of_the_build_through_a_source_waits_for_its_own_build(
    project: DbtProject, builds: RunBuilds
) -> None:
    # dbt orders a build by ref() only: such a node could run before the seed
    node = project.nodes[STG_ORDERS]
    nodes = {**project.nodes, STG_ORDERS: dataclasses.replace(node, source_seeds=(RAW_ORDERS,))}
    project = dataclasses.replace(project, nodes=nodes)

    chosen = batch(
        project, RAW_ORDERS, tasks(project), waiting_for(project, RAW_ORDERS), frozenset(), builds
    )

    assert set(chosen) == {RAW_CUSTOMERS, STG_CUSTOMERS, SNAPSHOT}


def test_what_another_build_made_well_counts_as_built(
    project: DbtProject, builds: RunBuilds
) -> None:
    # raw_customers's task started first and built itself with stg_customers; raw_orders's
    # task builds the rest, customer_orders (which reads both sides) included
    task_of = tasks(project)
    made = result_of(RAW_CUSTOMERS, STG_CUSTOMERS)
    builds.record(made, task_of[RAW_CUSTOMERS], {RAW_CUSTOMERS: 1, STG_CUSTOMERS: 1})
    waiting = waiting_for(project, RAW_ORDERS, RAW_CUSTOMERS)

    chosen = batch(project, RAW_ORDERS, task_of, waiting, frozenset(), builds)

    assert set(chosen) == {STG_ORDERS, DAILY_REVENUE, CUSTOMER_ORDERS, SNAPSHOT}


def test_tasks_started_or_built_already_are_left_out_with_what_waits_for_them(
    project: DbtProject, builds: RunBuilds
) -> None:
    task_of = tasks(project)
    failed = result_of(RAW_CUSTOMERS, status="error")
    builds.record(failed, task_of[RAW_CUSTOMERS], {RAW_CUSTOMERS: 1})
    waiting = waiting_for(project, RAW_ORDERS, STG_ORDERS)

    chosen = batch(project, RAW_ORDERS, task_of, waiting, frozenset(), builds)

    # raw_customers failed in another build, stg_orders runs: what reads them waits for
    # their tasks
    assert chosen == {}


def test_a_result_serves_only_the_try_it_was_built_for(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    RunBuilds(path).record(
        result_of(STG_ORDERS, status="error"), "shop.raw_orders", {STG_ORDERS: 1}
    )

    found = RunBuilds(path).built(STG_ORDERS, 1)
    assert found is not None
    result, builder = found
    assert (result.results[STG_ORDERS].status, builder) == ("error", "shop.raw_orders")
    # its retry builds again
    assert RunBuilds(path).built(STG_ORDERS, 2) is None
    assert RunBuilds(path).built(DAILY_REVENUE, 1) is None


def test_a_damaged_file_is_as_no_build(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"nodes": {"x": {"try": 1, "build": 7}}, "builds": []}')
    assert RunBuilds(path).built("x", 1) is None
    for damaged in ("not json", "[1, 2]", '{"nodes": [], "builds": {}}'):
        path.write_text(damaged)
        assert RunBuilds(path).built("x", 1) is None
        # and a build records over it
        RunBuilds(path).record(result_of(RAW_ORDERS), "shop.raw_orders", {RAW_ORDERS: 1})
        assert RunBuilds(path).built(RAW_ORDERS, 1) is not None


def test_two_tasks_of_a_run_decide_one_after_the_other(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    told: list[str] = []
    with run_builds(tmp_path, "run-1", told.append) as first:
        first.record(result_of(RAW_ORDERS), "shop.raw_orders", {RAW_ORDERS: 1, RAW_CUSTOMERS: 1})
    # another run has its own file; the same run finds what the first recorded
    with run_builds(tmp_path, "run-2", told.append) as other:
        assert other.built(RAW_CUSTOMERS, 1) is None
    with run_builds(tmp_path, "run-1", told.append) as second:
        assert second.built(RAW_CUSTOMERS, 1) is not None
    assert told == []
