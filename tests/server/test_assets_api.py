"""``/api/v1/assets``: a real server (uvicorn in a thread) over a store seeded by really
materializing the assets of ``asset_seed`` on a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.config import Settings
from headwater.store.records import AssetRecord
from headwater.store.sql.assets import list_assets
from tests.server.asset_seed import DAYS, EMPTY_DAY, PARTITIONS, AssetApi, asset_server
from tests.server.generated import check_generated_requests, operations_of

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssetApi]:
    root = tmp_path_factory.mktemp("assets")
    with asset_server(Settings.for_home(root / "home"), root) as server:
        yield server


def items_by_key(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in page["items"]}


def test_assets_are_listed_with_freshness_partitions_checks_and_last_materialization(
    api: AssetApi,
) -> None:
    with api.client("vera") as client:
        page = client.get("/api/v1/assets").json()
    assert [item["key"] for item in page["items"]] == [
        "finance/summary",
        "orders_cleaned",
        "orders_raw",
        "regions",
    ]
    raw = items_by_key(page)["orders_raw"]
    assert raw["group"] == "sales"
    assert raw["partitions"] == "daily from 2016-01-01 in UTC"
    assert raw["partitions_summary"] == {"materialized": len(DAYS), "total": PARTITIONS}
    assert raw["last_materialization"]["partition"] == DAYS[-1]
    # daily: fresh as of the end of the newest partition's window, 6 h 05 ago (limit 26 h)
    assert raw["freshness"] == {
        "age_seconds": 6 * 3600 + 300,
        "stale": False,
        "limit_seconds": 26 * 3600,
        "data_until": "2026-01-05T00:00:00+00:00",
    }
    cleaned = items_by_key(page)["orders_cleaned"]
    assert cleaned["check_summary"] == {"passed": 2, "warned": 0, "failed": 0}
    assert cleaned["loaded"] is True
    summary = items_by_key(page)["finance/summary"]
    assert summary["partitions_summary"] is None
    assert summary["freshness"]["age_seconds"] == 300  # unpartitioned: since it was written
    assert items_by_key(page)["regions"]["last_materialization"] is None


def test_the_list_is_searched_filtered_and_paged(api: AssetApi) -> None:
    with api.client("vera") as client:
        found = client.get("/api/v1/assets", params={"q": "ORDERS"}).json()
        described = client.get("/api/v1/assets", params={"q": "finance team"}).json()
        grouped = client.get("/api/v1/assets", params={"group": "reports"}).json()
        first = client.get("/api/v1/assets", params={"limit": 3}).json()
        rest = client.get("/api/v1/assets", params={"limit": 3, "cursor": first["next_cursor"]})
        problem(client.get("/api/v1/assets", params={"cursor": "nonsense"}), 422)
    assert list(items_by_key(found)) == ["orders_cleaned", "orders_raw"]
    assert list(items_by_key(described)) == ["finance/summary"]
    assert list(items_by_key(grouped)) == ["finance/summary", "regions"]
    assert len(first["items"]) == 3
    assert [item["key"] for item in rest.json()["items"]] == ["regions"]
    assert rest.json()["next_cursor"] is None


def test_an_asset_shows_its_definition_partitions_and_checks(api: AssetApi) -> None:
    with api.client("vera") as client:
        cleaned = client.get("/api/v1/assets/orders_cleaned").json()
        summary = client.get("/api/v1/assets/finance/summary").json()
    assert cleaned["upstream"] == ["orders_raw"]
    assert cleaned["downstream"] == ["finance/summary"]
    assert cleaned["partitions_definition"]["kind"] == "time"
    # 01 and 02 written; 03 refused by not_empty; 04 stale: orders_raw's 04 was written after
    assert cleaned["partitions_status"] == {
        "total": PARTITIONS,
        "counts": {"materialized": 2, "failed": 1, "missing": PARTITIONS - 4, "stale": 1},
    }
    checks = {check["check"]: check for check in cleaned["checks"]}
    assert list(checks) == ["not_empty", "amounts_positive"]
    assert checks["not_empty"]["blocking"] is True
    assert checks["not_empty"]["latest"]["outcome"] == "passed"
    assert checks["not_empty"]["latest"]["partition"] == DAYS[-1]
    assert checks["amounts_positive"]["blocking"] is False
    assert summary["key"] == "finance/summary"
    assert summary["partitions_status"] == {
        "total": 0,
        "counts": {"materialized": 1, "failed": 0, "missing": 0, "stale": 0},
    }
    assert summary["checks"] == []


def test_unknown_assets_are_problems(api: AssetApi) -> None:
    with api.client("vera") as client:
        missing = problem(client.get("/api/v1/assets/sales/nope"), 404)
        problem(client.get("/api/v1/assets/nope/partitions"), 404)
        problem(client.get("/api/v1/assets/nope/materializations"), 404)
    assert "no asset 'sales/nope'" in missing["detail"]


def test_partitions_are_the_status_matrix_a_page_at_a_time(api: AssetApi) -> None:
    seen: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    with api.client("vera") as client:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/assets/orders_cleaned/partitions", params=params).json()
            seen.extend(page["items"])
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        stale = client.get(
            "/api/v1/assets/orders_cleaned/partitions", params={"status": "stale"}
        ).json()
        problem(client.get("/api/v1/assets/orders_cleaned/partitions?status=gone"), 422)
    assert pages == 4
    assert len(seen) == PARTITIONS
    assert seen[0]["partition"] == "2016-01-01"
    assert seen[0]["status"] == "missing"
    assert [(p["partition"], p["status"]) for p in seen[-4:]] == [
        ("2026-01-01", "materialized"),
        ("2026-01-02", "materialized"),
        (EMPTY_DAY, "failed"),
        ("2026-01-04", "stale"),
    ]
    assert seen[-1]["run_id"].startswith("manual__20260104")
    assert [p["partition"] for p in stale["items"]] == ["2026-01-04"]


def test_materializations_come_newest_first_with_metadata_and_checks(api: AssetApi) -> None:
    with api.client("vera") as client:
        first = client.get("/api/v1/assets/orders_cleaned/materializations?limit=2").json()
        older = client.get(
            "/api/v1/assets/orders_cleaned/materializations",
            params={"limit": 2, "cursor": first["next_cursor"]},
        ).json()
        one_day = client.get(
            "/api/v1/assets/orders_cleaned/materializations", params={"partition": EMPTY_DAY}
        ).json()
    assert [m["partition"] for m in first["items"] + older["items"]] == list(reversed(DAYS))
    assert older["next_cursor"] is None
    newest = first["items"][0]
    assert newest["status"] == "materialized"
    assert newest["metadata"]["row_count"] == 1
    assert {c["check"]: c["outcome"] for c in newest["checks"]} == {
        "not_empty": "passed",
        "amounts_positive": "passed",
    }
    (refused,) = one_day["items"]
    assert refused["status"] == "failed"
    assert {c["check"]: c["outcome"] for c in refused["checks"]}["not_empty"] == "failed"


def test_a_dry_run_plans_a_range_and_changes_nothing(api: AssetApi) -> None:
    body = {"partitions": "2026-01-02..2026-01-04", "upstream": True, "dry_run": True}
    with api.client("otto") as client:
        planned = client.post("/api/v1/assets/orders_cleaned/materialize", json=body)
        repair = client.post(
            "/api/v1/assets/orders_cleaned/materialize", json={**body, "reprocess": "failed"}
        )
    assert planned.status_code == 200, planned.text
    document = planned.json()
    assert document["pipeline_id"] == "materialize.orders_raw.and-1-more.32b6e7e1"
    assert document["assets"] == ["orders_raw", "orders_cleaned"]
    assert document["actions"] == {"run": 0, "redo": 3, "skip": 0}
    assert [(s["partition_key"], s["status"]) for s in document["plan"]] == [
        ("2026-01-02", "materialized"),
        (EMPTY_DAY, "failed"),
        ("2026-01-04", "stale"),
    ]
    assert [s["action"] for s in repair.json()["plan"]] == ["skip", "redo", "skip"]
    assert api.live.store.list_runs(state="queued") == []
    assert api.live.store.list_backfills() == []


def test_a_partition_gets_a_run_for_a_scheduler(api: AssetApi) -> None:
    url = "/api/v1/assets/orders_cleaned/materialize"
    with api.client("otto") as client:
        made = client.post(url, json={"partition": "2025-12-31", "upstream": True})
        again = client.post(url, json={"partition": "2025-12-31", "upstream": True})
        redone = client.post(url, json={"partition": "2026-01-01", "upstream": True})
        alone = client.post("/api/v1/assets/finance/summary/materialize")
        twice = client.post("/api/v1/assets/finance/summary/materialize")
    assert made.status_code == 201, made.text
    run = made.json()["run"]
    assert (run["partition"], run["outcome"], run["state"]) == ("2025-12-31", "created", "queued")
    record = api.live.store.get_run(run["run_id"])
    assert record.owner is None  # a scheduler claims it
    assert record.partition_key == "2025-12-31"
    assert record.triggered_by == "api:otto"
    assert str(record.data_interval_end) == "2026-01-01 00:00:00+00:00"
    assert again.json()["run"]["run_id"] == run["run_id"]
    assert again.json()["run"]["outcome"] == "active"
    assert redone.json()["run"]["outcome"] == "rerun"
    assert alone.status_code == 201, alone.text
    assert alone.json()["pipeline_id"] == "materialize.finance.summary"
    assert alone.json()["run"]["partition"] is None
    # an unpartitioned asset gets a new run each time, even on a clock standing still
    assert twice.json()["run"]["run_id"] != alone.json()["run"]["run_id"]


def test_a_range_is_recorded_as_a_backfill_for_a_scheduler(api: AssetApi) -> None:
    url = "/api/v1/assets/orders_cleaned/materialize"
    body = {"partitions": "2025-12-20..2025-12-22", "upstream": True, "max_active_runs": 3}
    with api.client("otto") as client:
        made = client.post(url, json=body)
        overlapping = problem(client.post(url, json={**body, "partitions": "2025-12-22"}), 409)
        listed = client.get("/api/v1/backfills").json()["items"]
    assert made.status_code == 201, made.text
    backfill = made.json()["backfill"]
    assert backfill["state"] == "running"
    assert backfill["assets"] == ["orders_raw", "orders_cleaned"]
    assert backfill["partitions"] == ["2025-12-20", "2025-12-21", "2025-12-22"]
    assert backfill["max_active_runs"] == 3
    assert backfill["reprocess"] == "all"
    assert [s["action"] for s in made.json()["plan"]] == ["run", "run", "run"]
    assert "already has a running backfill" in overlapping["detail"]
    assert backfill["backfill_id"] in [item["backfill_id"] for item in listed]
    assert api.live.store.get_backfill(backfill["backfill_id"]).owner is None  # detached


def test_materialize_refuses_what_the_definitions_do_not_have(api: AssetApi) -> None:
    url = "/api/v1/assets/orders_raw/materialize"
    with api.client("otto") as client:
        none = problem(client.post(url, json={}), 422)
        bad = problem(client.post(url, json={"partition": "2026-13-01"}), 422)
        backward = problem(client.post(url, json={"partitions": "2026-01-04..2026-01-01"}), 422)
        both = problem(
            client.post(url, json={"partition": "2026-01-01", "partitions": "2026-01-01.."}), 422
        )
        whole = problem(
            client.post("/api/v1/assets/finance/summary/materialize", json={"partition": "x"}),
            422,
        )
        unknown = problem(client.post("/api/v1/assets/nope/materialize", json={}), 404)
        extra = problem(client.post(url, json={"partition": "2026-01-01", "force": True}), 422)
        future = problem(client.post(url, json={"partitions": "2026-01-04..2026-01-09"}), 422)
    assert "partitioned (daily from 2016-01-01 in UTC); choose a partition" in none["detail"]
    assert "'2026-13-01'" in bad["detail"]
    assert "goes backward" in backward["detail"]
    assert "not both" in both["detail"]
    assert "finance/summary: not partitioned" in whole["detail"]
    assert "no asset 'nope'" in unknown["detail"]
    assert extra["errors"][0]["field"] == "body.force"
    assert "'2026-01-05' of daily from 2016-01-01 in UTC has not ended yet" in future["detail"]


def test_a_failed_materialize_run_is_retried_for_a_scheduler(api: AssetApi) -> None:
    (failed,) = [
        run for run in api.live.store.list_runs(state="failed") if run.partition_key == EMPTY_DAY
    ]
    with api.client("otto") as client:
        retried = client.post(f"/api/v1/runs/{failed.run_id}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["reset"] == ["orders_cleaned"]
    assert retried.json()["state"] == "queued"


def test_viewers_may_not_materialize(api: AssetApi) -> None:
    with api.client("vera") as client:
        problem(client.post("/api/v1/assets/finance/summary/materialize", json={}), 403)
    with api.client(None) as client:
        problem(client.post("/api/v1/assets/finance/summary/materialize", json={}), 401)


def test_an_asset_recorded_but_not_loaded_is_not_materialized(api: AssetApi) -> None:
    now = api.clock.now()
    ghost = AssetRecord(
        asset_key="old/ghost",
        group_name="gone",
        description="",
        source_file=None,
        definition={"key": "old/ghost", "upstream": [], "downstream": [], "partitions": None},
        updated_at=now,
    )
    api.live.store.upsert_assets([ghost])
    with api.client("otto") as client:
        shown = client.get("/api/v1/assets/old/ghost").json()
        refused = problem(client.post("/api/v1/assets/old/ghost/materialize"), 409)
    assert shown["loaded"] is False
    assert shown["partitions_status"]["counts"]["missing"] == 1
    assert "is recorded but not loaded" in refused["detail"]


def test_a_server_without_the_folder_still_answers(tmp_path: Path) -> None:
    with asset_server(Settings.for_home(tmp_path / "home"), tmp_path, loaded=False) as alone:
        with alone.client("vera") as client:
            page = client.get("/api/v1/assets").json()
            cleaned = client.get("/api/v1/assets/orders_cleaned").json()
        with alone.client("otto") as client:
            refused = problem(client.post("/api/v1/assets/orders_raw/materialize"), 409)
    assert len(page["items"]) == 4
    assert not any(item["loaded"] for item in page["items"])
    # without the partition mappings, nothing is known to be stale
    assert cleaned["partitions_status"]["counts"]["stale"] == 0
    assert cleaned["partitions_status"]["counts"]["materialized"] == 3
    assert "started without a pipelines folder" in refused["detail"]


def test_an_asset_removed_from_the_code_is_no_longer_listed_but_still_shown(
    tmp_path: Path,
) -> None:
    with asset_server(Settings.for_home(tmp_path / "home"), tmp_path, loaded=False) as alone:
        store, now = alone.live.store, alone.clock.now()
        # the loader found regions' file without it
        with store.asset_connection() as connection:
            kept = [r for r in list_assets(connection) if r.asset_key != "regions"]
        assert store.upsert_assets(kept, removed=lambda _: True, now=now) == ["regions"]
        with alone.client("vera") as client:
            page = client.get("/api/v1/assets").json()
            shown = client.get("/api/v1/assets/regions").json()
            html = client.get("/assets/regions").text
            metrics = client.get("/metrics").text
    assert [item["key"] for item in page["items"]] == [
        "finance/summary",
        "orders_cleaned",
        "orders_raw",
    ]
    assert shown["removed_at"] == now.isoformat()
    assert "Removed from the code on" in html
    # its freshness is no longer a gauge
    assert 'asset="orders_raw"' in metrics
    assert 'asset="regions"' not in metrics


@pytest.mark.postgres
def test_the_asset_queries_on_each_database(settings: Settings, tmp_path: Path) -> None:
    with asset_server(settings, tmp_path) as server, server.client("otto") as client:
        found = client.get("/api/v1/assets", params={"q": "Orders", "limit": 1}).json()
        rest = client.get(
            "/api/v1/assets", params={"q": "Orders", "cursor": found["next_cursor"]}
        ).json()
        cleaned = client.get("/api/v1/assets/orders_cleaned").json()
        partitions = client.get(
            "/api/v1/assets/orders_cleaned/partitions", params={"status": "materialized"}
        ).json()
        history = client.get("/api/v1/assets/orders_cleaned/materializations").json()
        made = client.post(
            "/api/v1/assets/orders_cleaned/materialize",
            json={"partitions": "2025-12-01..2026-01-02", "upstream": True},
        )
    assert [item["key"] for item in found["items"] + rest["items"]] == [
        "orders_cleaned",
        "orders_raw",
    ]
    assert rest["items"][0]["freshness"]["data_until"] == "2026-01-05T00:00:00+00:00"
    assert rest["items"][0]["partitions_summary"]["materialized"] == len(DAYS)
    assert cleaned["partitions_status"]["counts"]["stale"] == 1
    assert cleaned["check_summary"]["passed"] == 2
    assert [p["partition"] for p in partitions["items"]] == ["2026-01-01", "2026-01-02"]
    assert len(history["items"]) == len(DAYS)
    assert made.status_code == 201, made.text
    actions = [step["action"] for step in made.json()["plan"]]
    assert actions == ["run"] * 31 + ["redo"] * 2
    assert len(made.json()["backfill"]["partitions"]) == 33


EXAMPLES = 6  # per operation: the whole run stays within seconds


def test_generated_requests_get_no_server_error_and_documented_statuses(api: AssetApi) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['ada']}"}
    operations = operations_of(api.live.url, headers, prefix="/api/v1/assets")
    assert len(operations) == 5
    check_generated_requests(operations, headers, examples=EXAMPLES, timeout=30)
