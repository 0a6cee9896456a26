"""``headwater materialize`` and ``headwater assets``: through the real command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater

SALES = """
from headwater import Context, DailyPartitions, asset, asset_check, not_empty

DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")


@asset(partitions=DAILY, group="sales")
def orders_raw(ctx: Context) -> list[dict]:
    return [{"day": ctx.partition_key, "amount": 5}, {"day": ctx.partition_key, "amount": -1}]


@asset(partitions=DAILY, group="sales", checks=[not_empty()])
def orders_cleaned(orders_raw: list[dict]) -> list[dict]:
    return [row for row in orders_raw if row["amount"] > 0]


@asset_check(asset="orders_cleaned")
def amounts_positive(orders_cleaned):
    return all(row["amount"] > 0 for row in orders_cleaned)
"""

REPORT = """
from headwater import asset, asset_pipeline


@asset(group="reports", deps=["orders_cleaned"])
def summary() -> dict:
    return {"ok": True}


daily_sales = asset_pipeline("daily_sales", select="group:sales", schedule="0 6 * * *")
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "sales.py").write_text(textwrap.dedent(SALES))
    (folder / "report.py").write_text(textwrap.dedent(REPORT))
    return folder


def test_materialize_a_partition_with_its_upstream_then_show_it(
    headwater: Headwater, folder: Path
) -> None:
    args = ("--pipelines", str(folder))
    made = headwater(
        "materialize", "orders_cleaned", "--partition", "2026-01-02", "--upstream", "--json", *args
    )
    assert made.code == 0, made.stderr
    body = made.json()
    assert body["assets"] == ["orders_raw", "orders_cleaned"]
    (run,) = body["runs"]
    assert run["state"] == "success"
    assert set(run["tasks"]) == {"orders_raw", "orders_cleaned"}

    shown = headwater("assets", "show", "orders_cleaned", "--json", *args)
    assert shown.code == 0, shown.stderr
    document = shown.json()
    assert document["upstream"] == ["orders_raw"]
    assert document["downstream"] == ["summary"]
    status = {p["partition"]: p["status"] for p in document["partitions_status"]}
    assert status["2026-01-02"] == "materialized"
    assert status["2026-01-01"] == "missing"
    assert {c["check"] for c in document["checks_history"]} == {"not_empty", "amounts_positive"}
    (materialization,) = document["materializations"]
    assert materialization["metadata"]["row_count"] == 1

    # the upstream partition written again: what was built from it is stale
    again = headwater("materialize", "orders_raw", "--partition", "2026-01-02", *args)
    assert again.code == 0, again.stderr
    shown = headwater("assets", "show", "orders_cleaned", "--json", *args).json()
    status = {p["partition"]: p["status"] for p in shown["partitions_status"]}
    assert status["2026-01-02"] == "stale"

    listed = headwater("assets", "list", "--json", *args)
    assert listed.code == 0, listed.stderr
    keys = {row["key"]: row for row in listed.json()["assets"]}
    assert set(keys) == {"orders_raw", "orders_cleaned", "summary"}
    assert keys["orders_raw"]["last_partition"] == "2026-01-02"
    lineage = headwater("assets", "lineage", "summary", "--json", *args).json()
    assert lineage["upstream"][0]["key"] == "orders_cleaned"
    assert lineage["upstream"][0]["children"][0]["key"] == "orders_raw"


def test_a_partitioned_asset_needs_a_partition_and_bad_ones_are_refused(
    headwater: Headwater, folder: Path
) -> None:
    args = ("--pipelines", str(folder))
    missing = headwater("materialize", "orders_raw", *args)
    assert missing.code == 2
    assert "partitioned (daily" in missing.stderr
    assert "--partition" in missing.stderr
    bad = headwater("materialize", "orders_raw", "--partition", "2026-13-01", *args)
    assert bad.code == 2
    assert "2026-13-01" in bad.stderr
    unknown = headwater("materialize", "orders_rae", *args)
    assert unknown.code == 2
    assert "selects no asset" in unknown.stderr


def test_a_broken_file_is_reported_and_the_other_assets_still_run(
    headwater: Headwater, folder: Path
) -> None:
    (folder / "broken.py").write_text("import nowhere_to_be_found\n")
    made = headwater("materialize", "summary", "--pipelines", str(folder))
    assert made.code == 0, made.stderr
    assert "broken.py" in made.stderr
    assert "nowhere_to_be_found" in made.stderr


def test_a_failed_materialize_run_is_retried_from_the_command_line(
    headwater: Headwater, folder: Path
) -> None:
    args = ("--pipelines", str(folder))
    (folder / "sales.py").write_text(
        textwrap.dedent(SALES).replace('row["amount"] > 0]', 'row["amount"] > 100]')
    )  # a bug keeps no order: orders_cleaned is empty, not_empty refuses it
    failed = headwater(
        "materialize", "+orders_cleaned", "--partition", "2026-01-03", "--json", *args
    )
    assert failed.code == 1, failed.stderr
    run_id = failed.json()["runs"][0]["run_id"]
    (folder / "sales.py").write_text(textwrap.dedent(SALES))  # fixed
    retried = headwater("retry", run_id, "--json")
    assert retried.code == 0, retried.stderr
    assert retried.json()["state"] == "success"
