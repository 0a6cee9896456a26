"""``dbt_assets``: a dbt project's nodes as assets, built by dbt, its tests as checks."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.assets.jobs import materialize_pipeline
from headwater.assets.selection import select
from headwater.config import Settings
from headwater.loader import load_folder
from headwater.runtime import Runtime
from headwater.store.sql import assets as queries
from tests.assets.dbt_shop import Shop, copy_parsed, dbt_shop_fixture  # noqa: F401

PIPELINE = """
from headwater import asset, dbt_assets

shop = dbt_assets({project!r}, group="shop", key_prefix=["shop"])


@asset(deps=["shop/daily_revenue"])
def revenue_report() -> dict:
    return {{"ok": True}}
"""


@pytest.fixture
def folder(dbt_shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = copy_parsed(dbt_shop, tmp_path / "dbt_shop")
    monkeypatch.setenv("DBT_SHOP_DUCKDB_PATH", str(tmp_path / "shop.duckdb"))
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "shop.py").write_text(textwrap.dedent(PIPELINE.format(project=str(project))))
    return folder


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings.for_home(tmp_path / "home"))
    yield runtime
    runtime.close()


def materialize(folder: Path, runtime: Runtime, selection: str) -> list[tuple[str, ...]]:
    """Materialize the selected assets of ``folder`` in one run; their keys."""
    _, catalog = load_folder(folder)
    keys = select(catalog.graph, selection)
    pipeline = materialize_pipeline(catalog.graph, keys, source_file=str(folder))
    record = runtime.create_run(pipeline)
    run = runtime.engine(pipeline).drive(record.run_id)
    assert run.state == "success", runtime.store.get_tries(record.run_id)
    return list(keys)


def test_the_nodes_are_assets_with_dbt_lineage_and_tests_as_checks(folder: Path) -> None:
    _, catalog = load_folder(folder)
    assert catalog.errors == {}
    graph = catalog.graph
    keys = {"/".join(key) for key in graph.assets}
    assert {"shop/raw_orders", "shop/stg_orders", "shop/daily_revenue", "revenue_report"} <= keys
    assert ("shop", "stg_orders") in graph.upstream[("shop", "daily_revenue")]
    assert ("shop", "raw_orders") in graph.upstream[("shop", "stg_orders")]
    checks = {c.name: c.blocking for c in graph.assets[("shop", "stg_orders")].checks}
    assert any(name.startswith("unique_stg_orders") for name in checks)
    assert all(isinstance(blocking, bool) for blocking in checks.values())


def test_materializing_runs_dbt_and_records_each_node_and_test(
    folder: Path, runtime: Runtime
) -> None:
    # the two seeds start at once: one dbt build, or two when both decide at once, which
    # take turns (DuckDB has one writer) instead of failing on its lock
    materialize(folder, runtime, "+shop/stg_orders shop/raw_customers")
    with runtime.store.asset_connection() as connection:
        (made,) = queries.materializations(connection, "shop/raw_orders")
        assert len(queries.materializations(connection, "shop/raw_customers")) == 1
        checks = queries.check_results(connection, "shop/stg_orders")
    assert made.metadata["rows_affected"] == 6
    assert made.metadata["relation"]
    # a test of stg_orders that also reads stg_customers is not run by a build of stg_orders:
    # it warns (not passed, not blocking), the others passed
    (relationships,) = [c for c in checks if c.check_name.startswith("relationships_")]
    assert "not run: it also reads stg_customers, which is not upstream of this node" in (
        relationships.description
    )
    assert (relationships.passed, relationships.blocking) == (False, False)
    others = [c for c in checks if c is not relationships]
    assert others
    assert all(check.passed for check in others)


def test_a_run_of_the_whole_project_starts_dbt_once_or_twice(
    folder: Path, runtime: Runtime
) -> None:
    # seven nodes, one task each, but dbt starts once or twice: the first task to run
    # builds every node of the run that waits only for dbt nodes, and the others find
    # their results (the two seeds start at once: the second may decide first, and
    # build itself and what follows it only)
    keys = materialize(folder, runtime, "*")
    nodes = [key for key in keys if key[0] == "shop"]
    with runtime.store.asset_connection() as connection:
        made = {"/".join(key): queries.materializations(connection, "/".join(key)) for key in nodes}
        checks = queries.check_results(connection, "shop/stg_orders")
        assert queries.materializations(connection, "revenue_report")
    assert all(len(m) == 1 for m in made.values()), made
    builders = {m[0].metadata.get("dbt_built_by") for m in made.values()} - {None}
    assert len(builders) in (1, 2), made
    assert sum(m[0].metadata.get("dbt_built_by") is None for m in made.values()) == len(builders)
    assert builders <= {"shop.raw_orders", "shop.raw_customers"}
    # built together with stg_customers, the relationships test of stg_orders ran
    (relationships,) = [c for c in checks if c.check_name.startswith("relationships_")]
    assert relationships.passed, relationships.description
    assert "not run" not in relationships.description


def test_a_node_that_failed_in_another_task_s_build_builds_again_on_its_retry(
    dbt_shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtime: Runtime
) -> None:
    # a model that reads stg_orders and fails: raw_orders's task builds it with the rest
    project = copy_parsed(dbt_shop, tmp_path / "dbt_shop")
    (project / "models" / "marts" / "broken.sql").write_text(
        "select order_id from {{ ref('stg_orders') }} where (select count(*) from no_such) > 0\n"
    )
    monkeypatch.setenv("DBT_SHOP_DUCKDB_PATH", str(tmp_path / "shop.duckdb"))
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "shop.py").write_text(
        "from datetime import timedelta\n"
        "from headwater import dbt_assets\n"
        f"shop = dbt_assets({str(project)!r}, key_prefix=['shop'], retries=1,\n"
        "                  retry_delay=timedelta(0))\n"
    )
    _, catalog = load_folder(folder)
    keys = select(catalog.graph, "+shop/broken")
    pipeline = materialize_pipeline(catalog.graph, keys, source_file=str(folder))
    record = runtime.create_run(pipeline)

    run = runtime.engine(pipeline).drive(record.run_id)

    assert run.state == "failed"
    tries = [t for t in runtime.store.get_tries(record.run_id) if t.task_id == "shop.broken"]
    assert [t.state for t in tries] == ["failed", "failed"]
    logs = [Path(t.log_path).read_text() for t in tries]
    # the first try found the result of raw_orders's build; its retry ran dbt itself
    assert "built by the dbt build of task shop.raw_orders" in logs[0]
    assert "Running with dbt" not in logs[0]
    assert "Running with dbt" in logs[1]
    assert "no_such" in (tries[1].error or "")
    with runtime.store.asset_connection() as connection:
        assert len(queries.materializations(connection, "shop/stg_orders")) == 1
