"""Running dbt on the example project: parsing only when needed, building chosen nodes.

dbt takes seconds to start, so this module runs it four times, besides the parse it
shares with the manifest tests: a build that succeeds (then one more node alone), one whose
tests fail, and one that cannot start. Each builds in its own copy of the parsed project,
DuckDB file included.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import duckdb
import pytest

from headwater.assets.dbt import (
    DbtProject,
    dbt_build,
    ensure_manifest,
    manifest_is_fresh,
    read_manifest,
    select_arguments,
)
from headwater.errors import ConfigError, ExecutorError, TaskTimeoutError
from tests.assets.dbt_shop import (  # noqa: F401 (dbt_shop_fixture: a fixture)
    CUSTOMER_ORDERS,
    DAILY_REVENUE,
    RAW_CUSTOMERS,
    RAW_ORDERS,
    SNAPSHOT,
    STG_CUSTOMERS,
    STG_ORDERS,
    Shop,
    copy_parsed,
    dbt_shop_fixture,
)


@pytest.fixture
def shop_project(dbt_shop: Shop) -> DbtProject:
    return read_manifest(dbt_shop.manifest)


@pytest.fixture
def project(dbt_shop: Shop, tmp_path: Path) -> Path:
    """A copy of the parsed project, to build in."""
    return copy_parsed(dbt_shop, tmp_path / "dbt_shop")


def rows(database: Path, relation: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(f"select * from {relation} order by 1").fetchall()


def runs_left(project_dir: Path) -> list[Path]:
    runs = project_dir / "target" / "headwater-runs"
    return sorted(runs.iterdir()) if runs.exists() else []


def test_a_fresh_manifest_is_not_parsed_again(dbt_shop: Shop) -> None:
    parsed_at = dbt_shop.manifest.stat().st_mtime_ns
    assert manifest_is_fresh(dbt_shop.directory, None)
    assert ensure_manifest(dbt_shop.directory, None) == dbt_shop.manifest
    assert dbt_shop.manifest.stat().st_mtime_ns == parsed_at


def test_a_file_saved_after_the_parse_makes_the_manifest_stale(project: Path) -> None:
    assert manifest_is_fresh(project, None)
    model = project / "models" / "marts" / "daily_revenue.sql"
    before = model.stat()
    # even saved with an older time, as a copy that keeps times can do
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))
    assert not manifest_is_fresh(project, None)
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert manifest_is_fresh(project, None)


def test_a_file_added_or_removed_makes_the_manifest_stale(project: Path) -> None:
    model = project / "models" / "marts" / "daily_revenue.sql"
    text = model.read_text()
    model.unlink()
    assert not manifest_is_fresh(project, None)
    model.with_name("weekly_revenue.sql").write_text(text)
    assert not manifest_is_fresh(project, None)


def test_another_target_or_profiles_directory_makes_the_manifest_stale(project: Path) -> None:
    assert not manifest_is_fresh(project, None, target="prod")
    assert not manifest_is_fresh(project, project)


def test_a_manifest_rewritten_by_someone_else_is_stale(project: Path) -> None:
    manifest = project / "target" / "manifest.json"
    manifest.write_text(manifest.read_text())
    assert not manifest_is_fresh(project, None)


def test_a_build_makes_the_chosen_nodes_and_runs_their_tests(
    project: Path, shop_project: DbtProject
) -> None:
    # Given every node but customer_orders
    chosen = [RAW_ORDERS, RAW_CUSTOMERS, STG_ORDERS, STG_CUSTOMERS, DAILY_REVENUE, SNAPSHOT]
    lines: list[str] = []
    parsed_at = (project / "target" / "manifest.json").stat().st_mtime_ns

    # (buildable: as the assets build; dbt's default would also run customer_orders'
    # relationships test, since it reads stg_customers, and fail on the missing table)
    result = dbt_build(
        project,
        None,
        select_arguments(shop_project, chosen),
        log=lines.append,
        indirect_selection="buildable",
    )

    assert result.ok, result.log
    tests = {test.unique_id for node in chosen for test in shop_project.nodes[node].tests}
    assert len(tests) == 10
    assert set(result.results) == {*chosen, *tests}
    assert {result.results[node].status for node in chosen} == {"success"}
    assert {result.results[test].status for test in tests} == {"pass"}
    assert {result.results[test].failures for test in tests} == {0}
    assert result.results[RAW_ORDERS].rows_affected == 6
    assert result.results[RAW_CUSTOMERS].rows_affected == 4
    assert result.results[STG_ORDERS].execution_time > 0
    # the output went to the log as it came; the build went on from the parse
    assert lines == result.log.splitlines()
    assert any("Completed successfully" in line for line in lines)
    assert not any("Unable to do partial parsing" in line for line in lines)
    selection = result.command[result.command.index("--select") + 1 :]
    assert selection == [
        *select_arguments(shop_project, chosen),
        "--indirect-selection",
        "buildable",
    ]
    database = project / "target" / "shop.duckdb"
    revenue = rows(database, "main.daily_revenue")
    assert [(str(day), count) for day, count, _ in revenue] == [
        ("2026-01-02", 1),
        ("2026-01-05", 2),
        ("2026-01-06", 1),
        ("2026-01-08", 1),
    ]
    assert len(rows(database, "main.stg_orders")) == 6
    assert len(rows(database, "snapshots.customers_snapshot")) == 4
    with pytest.raises(duckdb.CatalogException):
        rows(database, "main.customer_orders")
    # the build left the parsed manifest alone, and its own files were removed
    assert (project / "target" / "manifest.json").stat().st_mtime_ns == parsed_at
    assert manifest_is_fresh(project, None)
    assert runs_left(project) == []

    # When customer_orders is built alone: its test that also reads stg_customers (upstream
    # of it) runs with it
    alone = dbt_build(
        project,
        None,
        select_arguments(shop_project, [CUSTOMER_ORDERS]),
        indirect_selection="buildable",
    )
    assert alone.ok, alone.log
    own = {test.unique_id for test in shop_project.nodes[CUSTOMER_ORDERS].tests}
    assert set(alone.results) == {CUSTOMER_ORDERS, *own}
    (relationships,) = [t for t in own if ".relationships_" in t]
    assert alone.results[relationships].status == "pass"
    assert len(rows(database, "main.customer_orders")) == 4


def test_a_failing_test_is_reported_with_its_failures(
    project: Path, shop_project: DbtProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given customers with a duplicate id (an error) and one without a country (a warning)
    with (project / "seeds" / "raw_customers.csv").open("a") as seed:
        seed.write("4,Margaret Hamilton,US\n5,Alan,\n")
    database = project / "failing.duckdb"
    monkeypatch.setenv("DBT_SHOP_DUCKDB_PATH", str(database))

    result = dbt_build(
        project,
        None,
        select_arguments(shop_project, shop_project.nodes),
        vars={"revenue_since": "2026-01-06"},
    )

    assert not result.ok
    by_name = {uid.split(".")[2]: outcome for uid, outcome in result.results.items()}
    unique = by_name["unique_stg_customers_customer_id"]
    assert (unique.status, unique.failures) == ("fail", 1)
    assert "Got 1 result" in (unique.message or "")
    country = by_name["not_null_stg_customers_country"]
    assert (country.status, country.failures) == ("warn", 1)
    # what reads the customers is skipped; what reads only the orders is built
    assert result.results[CUSTOMER_ORDERS].status == "skipped"
    assert result.results[SNAPSHOT].status == "skipped"
    assert result.results[DAILY_REVENUE].status == "success"
    # the DuckDB file is the one the environment names, and the vars reached the models
    assert len(rows(database, "main.daily_revenue")) == 2
    assert not (project / "target" / "shop.duckdb").exists()
    assert runs_left(project) == []


def test_a_build_that_cannot_start_is_an_error_with_dbt_s_words(
    project: Path, shop_project: DbtProject
) -> None:
    with pytest.raises(ExecutorError, match=r"(?s)could not start.*dbt said:.*'nope'"):
        dbt_build(project, None, select_arguments(shop_project, [RAW_ORDERS]), target="nope")
    assert runs_left(project) == []


def test_a_build_past_its_timeout_is_killed(project: Path, shop_project: DbtProject) -> None:
    with pytest.raises(TaskTimeoutError, match=r"ran longer than its timeout of 0.2 s"):
        dbt_build(project, None, select_arguments(shop_project, [RAW_ORDERS]), timeout=0.2)
    assert runs_left(project) == []


def test_a_duckdb_project_builds_one_at_a_time(project: Path, shop_project: DbtProject) -> None:
    # (two builds at once, each taking its turn, are in test_dbt_assets.py)
    assert shop_project.adapter_type == "duckdb"
    assert shop_project.single_writer
    lines: list[str] = []
    # Given another build of the project holding its turn (as a build in another process)
    with open(project / "target" / ".headwater-build.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # Then a build waits for it, says so, and its timeout counts the wait
        with pytest.raises(TaskTimeoutError, match=r"waited for another build of the project"):
            dbt_build(
                project,
                None,
                select_arguments(shop_project, [RAW_ORDERS]),
                timeout=0.3,
                log=lines.append,
                one_at_a_time=True,
            )
    assert lines == [
        "waiting for another dbt build of this project to end (its database file has one "
        "writer at a time)"
    ]
    assert runs_left(project) == []


def test_a_directory_without_dbt_project_yml_is_refused(tmp_path: Path) -> None:
    message = r"dbt project directory '.*' has no dbt_project.yml; give the directory"
    with pytest.raises(ConfigError, match=message):
        ensure_manifest(tmp_path, None)
    with pytest.raises(ConfigError, match=message):
        dbt_build(tmp_path, None, ["resource_type:model"])


def test_a_missing_profiles_directory_is_refused(dbt_shop: Shop, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profiles directory '.*nowhere' does not exist"):
        dbt_build(dbt_shop.directory, tmp_path / "nowhere", ["resource_type:model"])


def test_an_empty_selection_is_refused(dbt_shop: Shop) -> None:
    with pytest.raises(ConfigError, match=r"was given no --select: name the nodes to build"):
        dbt_build(dbt_shop.directory, None, [])
