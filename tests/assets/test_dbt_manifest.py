"""Reading a dbt project's assets, lineage and tests from the manifest dbt parsed."""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.assets.dbt import DbtProject, build_steps, read_manifest, select_arguments
from headwater.errors import ConfigError
from tests.assets.dbt_shop import (  # noqa: F401 (the two fixtures)
    CUSTOMER_ORDERS,
    DAILY_REVENUE,
    RAW_CUSTOMERS,
    RAW_ORDERS,
    SNAPSHOT,
    STG_CUSTOMERS,
    STG_ORDERS,
    Shop,
    dbt_shop_fixture,
    shop_project_fixture,
    uid,
)


def edited_manifest(shop: Shop, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the example's manifest, changed by ``edit``: a project laid out otherwise."""
    manifest = json.loads(shop.manifest.read_text())
    edit(manifest)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_importing_the_dbt_integration_does_not_import_dbt() -> None:
    import headwater.assets.dbt  # noqa: F401

    assert [name for name in sys.modules if name == "dbt" or name.startswith("dbt.")] == []


def test_each_model_seed_and_snapshot_is_an_asset_keyed_by_its_name(
    shop_project: DbtProject, dbt_shop: Shop
) -> None:
    assert shop_project.project_name == "dbt_shop"
    assert shop_project.manifest_path == dbt_shop.manifest
    keys = {node.unique_id: node.asset_key for node in shop_project.nodes.values()}
    assert keys == {
        RAW_ORDERS: ("shop", "raw_orders"),
        RAW_CUSTOMERS: ("shop", "raw_customers"),
        STG_ORDERS: ("shop", "stg_orders"),
        STG_CUSTOMERS: ("shop", "stg_customers"),
        CUSTOMER_ORDERS: ("shop", "customer_orders"),
        DAILY_REVENUE: ("shop", "daily_revenue"),
        SNAPSHOT: ("shop", "customers_snapshot"),
    }
    assert shop_project.by_key()[("shop", "stg_orders")].unique_id == STG_ORDERS


def test_lineage_follows_refs_and_sources_read_from_seeds(shop_project: DbtProject) -> None:
    nodes = shop_project.nodes
    # stg_orders reads the seed through source('shop', 'raw_orders'): the seed is its parent
    assert nodes[STG_ORDERS].depends_on == (RAW_ORDERS,)
    assert nodes[STG_ORDERS].sources == ()
    assert nodes[STG_CUSTOMERS].depends_on == (RAW_CUSTOMERS,)
    assert set(nodes[CUSTOMER_ORDERS].depends_on) == {STG_CUSTOMERS, STG_ORDERS}
    assert nodes[DAILY_REVENUE].depends_on == (STG_ORDERS,)
    assert nodes[SNAPSHOT].depends_on == (STG_CUSTOMERS,)
    assert nodes[RAW_ORDERS].depends_on == ()


def test_the_nodes_carry_their_dbt_details(shop_project: DbtProject) -> None:
    orders = shop_project.nodes[CUSTOMER_ORDERS]
    assert orders.resource_type == "model"
    assert orders.description == "Orders and lifetime value per customer (returns excluded)."
    assert orders.tags == ("marts",)
    assert orders.group == "sales"
    assert orders.materialized == "table"
    assert orders.relation_name == '"shop"."main"."customer_orders"'
    assert orders.original_file_path == "models/marts/customer_orders.sql"
    staging = shop_project.nodes[STG_ORDERS]
    assert (staging.materialized, staging.group, staging.tags) == ("view", None, ("staging",))
    snapshot = shop_project.nodes[SNAPSHOT]
    assert (snapshot.resource_type, snapshot.materialized) == ("snapshot", "snapshot")
    assert shop_project.nodes[RAW_ORDERS].resource_type == "seed"


def test_tests_are_attached_to_their_node_with_their_severity(shop_project: DbtProject) -> None:
    customers = {test.name: test for test in shop_project.nodes[STG_CUSTOMERS].tests}
    assert set(customers) == {
        "unique_stg_customers_customer_id",
        "not_null_stg_customers_customer_id",
        "not_null_stg_customers_country",
    }
    assert customers["unique_stg_customers_customer_id"].severity == "error"
    assert customers["unique_stg_customers_customer_id"].blocking
    assert customers["not_null_stg_customers_country"].severity == "warn"
    assert not customers["not_null_stg_customers_country"].blocking
    assert customers["not_null_stg_customers_country"].column == "country"

    orders = {test.name: test for test in shop_project.nodes[STG_ORDERS].tests}
    # relationships reads stg_customers too, but is a check of the model that declares it
    relationships = next(test for name, test in orders.items() if name.startswith("relations"))
    assert relationships.attached_to == (STG_ORDERS,)
    assert relationships.reads == (STG_CUSTOMERS, STG_ORDERS)
    assert relationships.column == "customer_id"
    assert any(name.startswith("accepted_values_stg_orders_status") for name in orders)
    singular = orders["assert_order_amounts_positive"]
    assert (singular.unique_id, singular.column, singular.severity) == (
        "test.dbt_shop.assert_order_amounts_positive",
        None,
        "error",
    )
    assert shop_project.nodes[RAW_ORDERS].tests == ()


def test_select_arguments_name_each_node_with_its_resource_type(
    shop_project: DbtProject,
) -> None:
    arguments = select_arguments(shop_project, [RAW_ORDERS, STG_ORDERS, SNAPSHOT, RAW_ORDERS])
    assert arguments == [
        "resource_type:seed,fqn:dbt_shop.raw_orders",
        "resource_type:model,fqn:dbt_shop.staging.stg_orders",
        "resource_type:snapshot,fqn:dbt_shop.customers_snapshot.customers_snapshot",
    ]


def test_selecting_an_unknown_node_names_it(shop_project: DbtProject) -> None:
    with pytest.raises(ConfigError, match=r"dbt node 'model.dbt_shop.nope' is not a model, seed"):
        select_arguments(shop_project, ["model.dbt_shop.nope"])


def test_the_example_builds_in_one_step(shop_project: DbtProject) -> None:
    # each staging model also says `-- depends_on: {{ ref('<seed>') }}`, so dbt orders it
    assert build_steps(shop_project, [STG_ORDERS, RAW_ORDERS]) == [[STG_ORDERS, RAW_ORDERS]]


def without_depends_on_hints(manifest: dict[str, Any]) -> None:
    """The staging models read their seeds through sources only, with no depends_on hint."""
    for name in ("stg_orders", "stg_customers"):
        node = manifest["nodes"][uid("model", name)]
        node["depends_on"]["nodes"] = [p for p in node["depends_on"]["nodes"] if "seed." not in p]


def test_a_seed_read_only_through_a_source_is_built_in_an_earlier_step(
    dbt_shop: Shop, tmp_path: Path
) -> None:
    project = read_manifest(edited_manifest(dbt_shop, tmp_path, without_depends_on_hints))
    assert project.nodes[STG_ORDERS].depends_on == (RAW_ORDERS,)
    assert project.nodes[STG_ORDERS].source_seeds == (RAW_ORDERS,)

    steps = build_steps(project, [DAILY_REVENUE, STG_ORDERS, RAW_ORDERS, STG_CUSTOMERS])
    # stg_customers' seed is not built: it needs no earlier step
    assert steps == [[RAW_ORDERS, STG_CUSTOMERS], [DAILY_REVENUE, STG_ORDERS]]
    assert build_steps(project, [STG_ORDERS]) == [[STG_ORDERS]]


def test_a_source_that_is_no_seed_is_listed_as_a_source(dbt_shop: Shop, tmp_path: Path) -> None:
    def add_payments_source(manifest: dict[str, Any]) -> None:
        source = copy.deepcopy(manifest["sources"]["source.dbt_shop.shop.raw_orders"])
        source.update(name="payments", relation_name='"shop"."main_raw"."payments"')
        manifest["sources"]["source.dbt_shop.shop.payments"] = source
        manifest["nodes"][STG_ORDERS]["depends_on"]["nodes"].append("source.dbt_shop.shop.payments")

    project = read_manifest(edited_manifest(dbt_shop, tmp_path, add_payments_source))
    assert project.nodes[STG_ORDERS].sources == ("shop.payments",)
    assert project.nodes[STG_ORDERS].depends_on == (RAW_ORDERS,)


def test_a_package_node_is_keyed_under_its_package(dbt_shop: Shop, tmp_path: Path) -> None:
    def add_package_model(manifest: dict[str, Any]) -> None:
        model = copy.deepcopy(manifest["nodes"][STG_ORDERS])
        model.update(
            unique_id="model.payments_pkg.raw_orders",
            name="raw_orders",
            package_name="payments_pkg",
            fqn=["payments_pkg", "raw_orders"],
        )
        manifest["nodes"][model["unique_id"]] = model

    project = read_manifest(edited_manifest(dbt_shop, tmp_path, add_package_model))
    assert project.nodes["model.payments_pkg.raw_orders"].asset_key == (
        "payments_pkg",
        "raw_orders",
    )
    assert project.nodes[RAW_ORDERS].asset_key == ("raw_orders",)
    # a seed and a model of one name are told apart when selected
    assert select_arguments(project, ["model.payments_pkg.raw_orders", RAW_ORDERS]) == [
        "resource_type:model,fqn:payments_pkg.raw_orders",
        "resource_type:seed,fqn:dbt_shop.raw_orders",
    ]


def test_two_nodes_with_one_asset_key_are_an_error(dbt_shop: Shop, tmp_path: Path) -> None:
    def add_duplicate(manifest: dict[str, Any]) -> None:
        model = copy.deepcopy(manifest["nodes"][STG_ORDERS])
        model.update(unique_id="model.dbt_shop.stg.orders", name="stg_orders")
        manifest["nodes"][model["unique_id"]] = model

    path = edited_manifest(dbt_shop, tmp_path, add_duplicate)
    with pytest.raises(ConfigError, match=r"would both be asset 'stg_orders'; rename one"):
        read_manifest(path)


def test_a_versioned_model_is_keyed_with_its_version(dbt_shop: Shop, tmp_path: Path) -> None:
    def make_versioned(manifest: dict[str, Any]) -> None:
        manifest["nodes"][STG_ORDERS]["version"] = 2

    project = read_manifest(edited_manifest(dbt_shop, tmp_path, make_versioned))
    assert project.nodes[STG_ORDERS].asset_key == ("stg_orders_v2",)


def test_a_missing_manifest_says_to_parse(tmp_path: Path) -> None:
    path = tmp_path / "target" / "manifest.json"
    with pytest.raises(ConfigError, match=r"manifest '.*manifest.json' does not exist: run `dbt"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{nope", "is not valid JSON"),
        ('{"metadata": {}}', "has no 'nodes'"),
        ("[]", "has no 'nodes'"),
    ],
)
def test_a_file_that_is_no_manifest_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"dbt manifest '{path}' {problem}")):
        read_manifest(path)


def test_a_manifest_without_a_project_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"metadata": {}, "nodes": {}}')
    with pytest.raises(ConfigError, match=r"names no project .* dbt-core 1.8 or later"):
        read_manifest(path)
