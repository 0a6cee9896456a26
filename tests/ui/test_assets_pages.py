"""The assets pages over HTTP: the list, an asset's page, its canvases' data and its
actions, against a real server over a store seeded by materializing real assets (no
browser here: see test_assets_browser.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from headwater.config import Settings
from headwater.store.sql.schema import assets
from headwater.testing import FakeClock
from tests.server.asset_seed import DAYS, EMPTY_DAY, NOW, PARTITIONS, AssetApi, asset_server
from tests.ui.live import serve

FIRST_DAY = date(2016, 1, 1)


def position(day: str) -> int:
    """A daily partition's place in the matrix (the first is 2016-01-01)."""
    return (date.fromisoformat(day) - FIRST_DAY).days


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssetApi]:
    root = tmp_path_factory.mktemp("asset-pages")
    with asset_server(Settings.for_home(root / "home"), root) as server:
        yield server


def rows(text: str) -> list[str]:
    return re.findall(r'<tr data-asset="([^"]+)"', text)


def test_the_list_shows_each_asset_with_its_freshness_and_partitions(site: AssetApi) -> None:
    with site.live.client("vera") as viewer:
        page = viewer.get("/assets")
        searched = viewer.get("/assets", params={"q": "clean"})
        grouped = viewer.get("/assets", params={"group": "reports"})
    assert page.status_code == 200
    assert rows(page.text) == ["finance/summary", "orders_cleaned", "orders_raw", "regions"]
    assert '<a href="/assets">Assets</a>' in page.text  # the nav link
    assert f"{len(DAYS)} / 3,657 materialized" in page.text
    assert '<span class="fresh ok" data-testid="freshness"' in page.text
    assert '<option value="sales" >sales (2)</option>' in page.text
    assert rows(searched.text) == ["orders_cleaned"]
    assert rows(grouped.text) == ["finance/summary", "regions"]


def test_an_assets_page_shows_its_definition_history_and_checks(site: AssetApi) -> None:
    with site.live.client("vera") as viewer:
        page = viewer.get("/assets/orders_cleaned")
        older = viewer.get("/assets/orders_cleaned", params={"before": 1})
        missing = viewer.get("/assets/sales/nope")
    assert page.status_code == 200
    assert '<canvas id="matrix" data-asset="orders_cleaned">' in page.text
    assert 'data-layout="/ui/data/assets/orders_cleaned/lineage"' in page.text
    assert '<span data-count="stale">1</span>' in page.text
    assert len(re.findall(r'<tr data-materialization="\d+">', page.text)) == len(DAYS)
    assert 'data-check="not_empty"' in page.text
    assert "orders_cleaned partition 2026-01-04 has 1 row" in page.text
    assert "materialize-form" not in page.text  # a viewer gets no action
    assert "Never materialized." in older.text
    assert missing.status_code == 404


def test_the_matrix_is_one_character_per_partition(site: AssetApi) -> None:
    with site.live.client("vera") as viewer:
        matrix = viewer.get("/ui/data/assets/orders_cleaned/matrix").json()
        whole = viewer.get("/ui/data/assets/finance/summary/matrix").json()
    states = matrix["states"]
    assert len(states) == len(matrix["keys"]) == PARTITIONS
    assert matrix["keys"][0] == "2016-01-01"
    assert states[position("2026-01-01") :] == "mmfs"
    assert set(states[: position("2026-01-01")]) == {"."}
    assert matrix["runs"][str(position(EMPTY_DAY))].startswith("manual__20260103")
    assert matrix["counts"]["failed"] == 1
    assert whole["states"] == "m"
    assert whole["partitioned"] is False


def test_the_lineage_is_laid_out_on_the_server_with_a_state_per_asset(site: AssetApi) -> None:
    with site.live.client("vera") as viewer:
        lineage = viewer.get("/ui/data/assets/orders_cleaned/lineage").json()
    states = dict(zip(lineage["ids"], lineage["states"], strict=True))
    assert states["orders_raw"] == "s"
    assert states["finance/summary"] == "s"
    assert states["regions"] == "n"  # never materialized
    at = {key: lineage["x"][i] for i, key in enumerate(lineage["ids"])}
    assert at["orders_raw"] < at["orders_cleaned"] < at["finance/summary"]


def test_a_viewer_may_not_materialize(site: AssetApi) -> None:
    form = {"csrf_token": site.live.csrf["vera"], "partition": "2025-01-01"}
    with site.live.client("vera") as viewer:
        answer = viewer.post("/ui/assets/orders_raw/materialize", data=form)
        plan = viewer.post("/ui/assets/orders_raw/backfill/plan", data=form)
    assert answer.status_code == 403
    assert plan.status_code == 403
    assert not [r for r in site.live.store.list_runs(limit=1000) if r.triggered_by == "ui:vera"]


def test_an_operator_materializes_a_partition(site: AssetApi) -> None:
    form = {"csrf_token": site.live.csrf["otto"], "partition": "2025-10-01", "upstream": "on"}
    with site.live.client("otto") as operator:
        page = operator.get("/assets/orders_cleaned")
        queued = operator.post(
            "/ui/assets/orders_cleaned/materialize", data=form, headers={"HX-Request": "true"}
        )
    assert 'id="materialize-form"' in page.text
    assert queued.headers["HX-Trigger"] == "asset-runs-queued"
    assert "<strong>Run queued</strong> for partition" in queued.text
    (run,) = [r for r in site.live.store.list_runs(limit=1000) if r.triggered_by == "ui:otto"]
    assert run.partition_key == "2025-10-01"
    assert run.state == "queued"


def test_an_operator_plans_then_backfills_partitions(site: AssetApi) -> None:
    csrf = site.live.csrf["otto"]
    asked = {
        "csrf_token": csrf,
        "first": "2025-11-01",
        "last": "2025-11-30",
        "reprocess": "failed",
        "max_active_runs": "3",
        "upstream": "on",
    }
    with site.live.client("otto") as operator:
        page = operator.get("/assets/orders_cleaned")
        plan = operator.post("/ui/assets/orders_cleaned/backfill/plan", data=asked)
        assert site.live.store.list_backfills() == []
        started = operator.post(
            "/ui/assets/orders_cleaned/backfill", data=asked, headers={"HX-Request": "true"}
        )
    assert 'id="asset-backfill-form"' in page.text
    assert "of 30 partition(s) (2025-11-01 to 2025-11-30) of 2 asset(s)" in plan.text
    assert "would run 30, redo 0 and skip 0" in plan.text
    assert '<input type="hidden" name="reprocess" value="failed">' in plan.text
    assert started.headers["HX-Trigger"] == "asset-runs-queued"
    assert "recorded</strong> over 30 partition(s)" in started.text
    (backfill,) = site.live.store.list_backfills()
    assert backfill.partitions is not None
    assert len(backfill.partitions) == 30
    assert backfill.max_active_runs == 3
    assert backfill.reprocess == "failed"
    assert backfill.owner is None  # left to a scheduler


def test_a_form_that_cannot_be_acted_on_answers_one_line(site: AssetApi) -> None:
    csrf = site.live.csrf["otto"]
    with site.live.client("otto") as operator:
        bad = operator.post(
            "/ui/assets/orders_raw/materialize", data={"csrf_token": csrf, "partition": "soon"}
        )
        half = operator.post(
            "/ui/assets/orders_raw/backfill/plan", data={"csrf_token": csrf, "first": "2025-01-01"}
        )
        many = operator.post(
            "/ui/assets/orders_raw/backfill/plan",
            data={
                "csrf_token": csrf,
                "first": "2025-01-01",
                "last": "2025-01-02",
                "reprocess": "x",
            },
        )
        unknown = operator.post("/ui/assets/nope/materialize", data={"csrf_token": csrf})
    assert '<p class="error" role="alert">' in bad.text
    assert "partition key &#39;soon&#39; is not a key of daily" in bad.text
    assert "needs its first and its last partition" in half.text
    assert "reprocess must be one of missing, failed, all" in many.text
    assert "no asset &#39;nope&#39;" in unknown.text


def test_the_list_pages_ten_thousand_assets(tmp_path: Path) -> None:
    now = FakeClock(NOW).now()
    many = [
        {
            "asset_key": f"bulk/asset_{i:05d}",
            "group_name": f"group_{i % 20}",
            "description": "",
            "definition": '{"upstream": [], "downstream": [], "partitions": null}',
            "updated_at": now,
        }
        for i in range(10_000)
    ]
    with serve(Settings.for_home(tmp_path), None) as live, live.client("vera") as viewer:
        with live.store.engine.begin() as connection:
            connection.execute(assets.insert(), many)
        started = time.perf_counter()
        first = viewer.get("/assets")
        took = time.perf_counter() - started
        after = re.search(r'href="/assets\?after=([^&"]+)', first.text)
        assert after is not None
        second = viewer.get(f"/assets?after={after.group(1)}")
    shown = rows(first.text)
    assert len(shown) == 200
    assert shown[0] == "bulk/asset_00000"
    assert rows(second.text)[0] == "bulk/asset_00200"
    assert took < 5  # about 0.1 s on a quiet machine; the bound only catches a full scan
