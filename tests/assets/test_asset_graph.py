"""Declaring assets: dependencies from parameter names, validation, selections."""

from __future__ import annotations

import pytest

from headwater import Context, asset, asset_check, asset_pipeline
from headwater.assets.catalog import FileDefinitions, build_catalog
from headwater.assets.graph import AssetGraph
from headwater.assets.selection import select
from headwater.errors import ConfigError, DefinitionError


@asset(group="sales", tags=["raw"])
def orders_raw(ctx: Context) -> list[dict[str, int]]:
    return [{"amount": 1}]


@asset(group="sales")
def orders_cleaned(orders_raw: list[dict[str, int]]) -> list[dict[str, int]]:
    return orders_raw


@asset(key_prefix="finance", deps=[orders_cleaned])
def revenue(ctx) -> int:  # an unannotated ctx receives the Context
    return 1


@asset_check(asset="orders_cleaned", blocking=True)
def amounts_positive(orders_cleaned: list[dict[str, int]]) -> bool:
    return all(row["amount"] > 0 for row in orders_cleaned)


GRAPH = AssetGraph([orders_raw, orders_cleaned, revenue], [amounts_positive])


def names(keys: list[tuple[str, ...]]) -> list[str]:
    return ["/".join(key) for key in keys]


def test_a_parameter_named_like_an_asset_is_a_dependency_and_deps_add_more() -> None:
    assert GRAPH.upstream[("orders_cleaned",)] == (("orders_raw",),)
    assert GRAPH.upstream[("finance", "revenue")] == (("orders_cleaned",),)
    (data,) = GRAPH.inputs[("orders_cleaned",)]
    assert data.parameter == "orders_raw"
    (dep,) = GRAPH.inputs[("finance", "revenue")]
    assert dep.parameter is None  # a dependency that loads nothing
    assert revenue.context_parameters == ("ctx",)
    assert names(list(GRAPH.order)) == ["orders_raw", "orders_cleaned", "finance/revenue"]
    assert [c.name for c in GRAPH.checks[("orders_cleaned",)]] == ["amounts_positive"]


def test_an_asset_function_can_be_called_directly_for_unit_tests() -> None:
    assert orders_cleaned([{"amount": 3}]) == [{"amount": 3}]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("orders_cleaned", ["orders_cleaned"]),
        ("+orders_cleaned", ["orders_raw", "orders_cleaned"]),
        ("orders_raw+", ["orders_raw", "orders_cleaned", "finance/revenue"]),
        ("group:sales", ["orders_raw", "orders_cleaned"]),
        ("tag:raw", ["orders_raw"]),
        ("finance/*", ["finance/revenue"]),
        ("revenue, orders_raw", ["orders_raw", "finance/revenue"]),
        ("*", ["orders_raw", "orders_cleaned", "finance/revenue"]),
    ],
)
def test_selections(expression: str, expected: list[str]) -> None:
    assert names(select(GRAPH, expression)) == expected


@pytest.mark.parametrize("expression", ["nothing", "group:none", "tag:none", "kind:x", " "])
def test_a_selection_that_selects_nothing_is_an_error(expression: str) -> None:
    with pytest.raises(ConfigError, match=r"select|selection"):
        select(GRAPH, expression)


def test_an_unknown_dependency_names_the_file_line_and_close_names() -> None:
    @asset
    def report(orders_cleand: list[int]) -> int:
        return 0

    with pytest.raises(DefinitionError) as error:
        AssetGraph([orders_raw, orders_cleaned, report])
    message = str(error.value)
    assert "test_asset_graph.py:" in message
    assert "'orders_cleand' names no asset" in message
    assert "did you mean 'orders_cleaned'" in message


def test_a_cycle_is_reported_with_its_path() -> None:
    @asset(key="a", deps=["c"])
    def first() -> int:
        return 1

    @asset(key="b", deps=["a"])
    def second() -> int:
        return 1

    @asset(key="c", deps=["b"])
    def third() -> int:
        return 1

    with pytest.raises(
        DefinitionError, match=r"cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"
    ):
        AssetGraph([first, second, third])


def test_duplicate_keys_name_both_places() -> None:
    @asset(key="orders_raw")
    def other() -> int:
        return 1

    with pytest.raises(DefinitionError, match="duplicate asset key 'orders_raw', also defined at"):
        AssetGraph([orders_raw, other])


def test_bad_definitions_are_refused_when_declared() -> None:
    with pytest.raises(DefinitionError, match="unknown option"):
        asset(colour="red")(lambda: 1)
    with pytest.raises(DefinitionError, match="invalid asset key"):
        asset(key="a b")(lambda: 1)
    with pytest.raises(DefinitionError, match="freshness must be a positive timedelta"):
        asset(key="x", freshness=3)(lambda: 1)
    with pytest.raises(DefinitionError, match="automation must be"):
        asset(key="x", automation="sometimes")(lambda: 1)
    with pytest.raises(DefinitionError, match="checks must be a list of checks"):
        asset(key="x", checks=["not_empty"])(lambda: 1)
    with pytest.raises(DefinitionError, match=r"unknown task option|retries"):
        asset(key="x", retries=-1)(lambda: 1)


def test_a_check_of_an_unknown_asset_is_an_error() -> None:
    @asset_check(asset="nowhere")
    def check(value: int) -> bool:
        return True

    with pytest.raises(DefinitionError, match="checks unknown asset 'nowhere'"):
        AssetGraph([orders_raw], [check])


def test_a_broken_file_is_left_out_and_the_others_still_compile(tmp_path) -> None:
    @asset(key="orders_raw")
    def duplicate() -> int:
        return 1

    good = FileDefinitions(
        path=tmp_path / "good.py",
        assets=[orders_raw, orders_cleaned],
        jobs=[asset_pipeline("daily_sales", select="group:sales")],
    )
    bad = FileDefinitions(path=__import__("pathlib").Path(__file__), assets=[duplicate])
    catalog = build_catalog([good, bad])
    assert list(catalog.pipelines) == ["daily_sales"]
    assert catalog.pipelines["daily_sales"].task_ids == ["orders_raw", "orders_cleaned"]
    assert list(catalog.errors) == [bad.path]


def test_an_asset_pipeline_is_a_pipeline_of_one_task_per_asset() -> None:
    with pytest.raises(DefinitionError, match="unknown option"):
        asset_pipeline("bad", select="*", colour="red")
    pipeline = asset_pipeline("sales", select="+orders_cleaned", schedule="0 6 * * *").compile(
        GRAPH
    )
    assert pipeline.pipeline_id == "sales"
    assert pipeline.task_ids == ["orders_raw", "orders_cleaned"]
    node = pipeline.plan.node("orders_cleaned")
    assert [pipeline.plan.nodes[i].task_id for i in node.upstream] == ["orders_raw"]
    assert node.kind == "asset"
    assert pipeline.timetable is not None
