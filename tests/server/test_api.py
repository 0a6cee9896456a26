"""The REST API's behaviour, against a real server process (see conftest)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

from headwater.store.records import HeartbeatRecord
from headwater.store.sql.store import SqlStore
from tests.forked_commands import CommandServer
from tests.server.conftest import Server, server_env

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def test_health_reports_the_database_and_the_schedulers_heartbeat(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/v1/health").json()["scheduler"]["alive"] is False
        store = SqlStore.from_settings(server.settings())
        now = datetime.now(UTC)
        store.beat(
            HeartbeatRecord(
                owner="host:1:abc", hostname="host", pid=1, started_at=now, last_heartbeat=now
            )
        )
        store.close()
        body = client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["scheduler"] == {"last_heartbeat": now.isoformat(), "alive": True}


def test_pipelines_list_and_detail(server: Server) -> None:
    with server.client("viewer") as client:
        page = client.get("/api/v1/pipelines").json()
        detail = client.get("/api/v1/pipelines/demo").json()
        problem(client.get("/api/v1/pipelines/nope"), 404)
    (item,) = page["items"]
    assert page["next_cursor"] is None
    assert item["pipeline_id"] == "demo"
    assert item["tags"] == ["demo"]
    assert not item["paused"]
    assert [run["state"] for run in item["last_runs"]] == ["failed", "success"]
    assert item["freshness"]["newest_interval_end"] == "2026-01-05T23:00:00+00:00"
    assert item["next_run"]["run_after"] > datetime.now(UTC).isoformat()[:10]
    assert detail["timezone"] == "Europe/Paris"
    assert detail["schedule"] == "@daily"
    assert detail["params"]["days"] == 1
    assert detail["params"]["full"] is False


def test_graph_is_laid_out_with_an_etag(server: Server) -> None:
    with server.client("viewer") as client:
        response = client.get("/api/v1/pipelines/demo/graph")
        again = client.get(
            "/api/v1/pipelines/demo/graph", headers={"If-None-Match": response.headers["etag"]}
        )
    graph = response.json()
    tasks = {task["task_id"]: task for task in graph["tasks"]}
    assert graph["edges"] == [["extract", "load"]]
    assert tasks["load"]["pool"] == "warehouse"
    assert tasks["load"]["trigger_rule"] == "all_success"
    assert tasks["extract"]["position"]["x"] < tasks["load"]["position"]["x"]
    assert again.status_code == 304


def test_pause_and_unpause(server: Server) -> None:
    with server.client("operator") as client:
        assert client.patch("/api/v1/pipelines/demo", json={"paused": True}).json()["paused"]
        assert client.get("/api/v1/pipelines/demo").json()["paused"] is True
        assert not client.patch("/api/v1/pipelines/demo", json={"paused": False}).json()["paused"]
        problem(client.patch("/api/v1/pipelines/demo", json={"paused": "maybe"}), 422)


def test_trigger_queues_a_run_refuses_a_second_and_checks_params(server: Server) -> None:
    with server.client("operator") as client:
        created = client.post(
            "/api/v1/pipelines/demo/runs",
            json={"logical_date": "2026-03-01", "params": {"days": "3"}},
        )
        assert created.status_code == 201, created.text
        run = created.json()
        assert run["state"] == "queued"
        assert run["params"]["days"] == 3
        assert run["triggered_by"] == "api:operator"
        assert run["logical_date"] == "2026-02-28T23:00:00+00:00"  # midnight in Paris
        again = problem(
            client.post("/api/v1/pipelines/demo/runs", json={"logical_date": "2026-03-01"}), 409
        )
        assert again["run_id"] == run["run_id"]
        unknown = problem(
            client.post("/api/v1/pipelines/demo/runs", json={"params": {"x": 1}}), 422
        )
        assert "has no param 'x'" in unknown["detail"]
        typed = problem(
            client.post("/api/v1/pipelines/demo/runs", json={"params": {"days": "many"}}), 422
        )
        assert "whole number" in typed["detail"]
        problem(client.post("/api/v1/pipelines/demo/runs", json={"logical_date": "soon"}), 422)
        cancelled = client.post(f"/api/v1/runs/{run['run_id']}/cancel").json()
        assert cancelled["cancel_requested_at"]
        assert "operator" in cancelled["note"]


def test_runs_are_paged_and_filtered(server: Server) -> None:
    with server.client("viewer") as client:
        first = client.get("/api/v1/runs", params={"pipeline": "demo", "limit": 1}).json()
        second = client.get(
            "/api/v1/runs", params={"pipeline": "demo", "limit": 1, "cursor": first["next_cursor"]}
        ).json()
        failed = client.get("/api/v1/runs", params={"state": "failed"}).json()["items"]
        dated = client.get(
            "/api/v1/runs",
            params={"since": "2026-01-05T00:00:00Z", "until": "2026-01-06T00:00:00Z"},
        ).json()["items"]
        problem(client.get("/api/v1/runs", params={"cursor": "garbage"}), 422)
        problem(client.get("/api/v1/runs", params={"limit": 5000}), 422)
    assert first["items"][0]["run_id"] != second["items"][0]["run_id"]
    assert server.runs["failed"] in [run["run_id"] for run in failed]
    assert [run["run_id"] for run in dated] == [server.runs["success"]]


def test_a_run_is_the_document_of_runs_show_json(
    server: Server, command_server: CommandServer
) -> None:
    run_id = server.runs["failed"]
    with server.client("viewer") as client:
        document = client.get(f"/api/v1/runs/{run_id}").json()
    shown = command_server.run(
        ["runs", "show", run_id, "--json"], env=server_env(server.home), cwd=server.home.parent
    )
    assert shown.returncode == 0, shown.stderr
    assert document == json.loads(shown.stdout)
    assert document["tasks"]["load"]["state"] == "failed"


def test_clear_dry_run_changes_nothing(server: Server) -> None:
    run_id = server.runs["success"]
    with server.client("operator") as client:
        body = client.post(
            f"/api/v1/runs/{run_id}/clear",
            json={"tasks": ["extract"], "downstream": True, "dry_run": True},
        ).json()
        assert body["reset"] == ["extract", "load"]
        assert body["state"] == "success"
        problem(client.post(f"/api/v1/runs/{run_id}/clear", json={"tasks": ["nope"]}), 404)
        problem(client.post(f"/api/v1/runs/{run_id}/clear", json={"tasks": []}), 422)
        problem(client.post(f"/api/v1/runs/{run_id}/cancel"), 409)  # it ended


def test_logs_by_offset_and_as_a_stream(server: Server) -> None:
    run_id = server.runs["success"]
    path = f"/api/v1/runs/{run_id}/tasks/extract/logs"
    with server.client("viewer") as client:
        whole = client.get(path, params={"try": 1}).json()
        rest = client.get(path, params={"offset": 10}).json()
        after = client.get(path, params={"offset": whole["next_offset"]}).json()
        problem(client.get(path, params={"try": 9}), 404)
        with client.stream("GET", path + "/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = list(response.iter_lines())
    assert "extracting for 2026-01-05" in whole["text"]
    assert whole["complete"]
    assert rest["text"] == whole["text"][10:]
    assert after["text"] == ""
    assert after["next_offset"] == whole["next_offset"]
    data = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    assert "".join(d.get("text", "") for d in data) == whole["text"]
    assert "event: end" in lines


def test_backfill_dry_run_then_recorded(server: Server) -> None:
    request = {"pipeline": "demo", "start": "2026-01-01", "end": "2026-01-03", "dry_run": True}
    with server.client("operator") as client:
        plan = client.post("/api/v1/backfills", json=request)
        assert plan.status_code == 200
        assert [step["action"] for step in plan.json()] == ["run", "run", "run"]
        recorded = client.post("/api/v1/backfills", json={**request, "dry_run": False})
        assert recorded.status_code == 201, recorded.text
        listed = client.get("/api/v1/backfills").json()["items"]
        problem(client.post("/api/v1/backfills", json={**request, "end": "2025-01-01"}), 422)
        problem(client.post("/api/v1/backfills", json={**request, "dry_run": False}), 422)
    assert listed[0]["backfill_id"] == recorded.json()["backfill_id"]
    assert listed[0]["state"] == "running"
    backfill_id = recorded.json()["backfill_id"]
    with server.client("viewer") as client:
        problem(client.post(f"/api/v1/backfills/{backfill_id}/cancel"), 403)
    with server.client("operator") as client:
        cancelled = client.post(f"/api/v1/backfills/{backfill_id}/cancel", json={"reason": "x"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "cancelled"
        problem(client.post(f"/api/v1/backfills/{backfill_id}/cancel"), 409)
        problem(client.post("/api/v1/backfills/nope/cancel"), 404)


def test_pools_are_listed_and_changed_by_admins(server: Server) -> None:
    with server.client("admin") as client:
        changed = client.put("/api/v1/pools/warehouse", json={"slots": 5}).json()
        pools = client.get("/api/v1/pools").json()["items"]
        problem(client.put("/api/v1/pools/warehouse", json={"slots": -1}), 422)
    assert changed["slots"] == 5
    assert changed["description"] == "the warehouse"
    assert [pool["name"] for pool in pools] == ["warehouse"]


def test_events_stream_run_changes(server: Server) -> None:
    received: list[str] = []
    subscribed = threading.Event()

    def listen() -> None:
        with server.client("viewer") as client, client.stream("GET", "/api/v1/events") as response:
            for line in response.iter_lines():
                subscribed.set()
                received.append(line)
                if line.startswith("data:") and '"state":"queued"' in line:
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert subscribed.wait(10)
    with server.client("operator") as client:
        # the hub compares with its first read: wait for it before changing anything
        run = None
        while listener.is_alive() and run is None:
            listener.join(1.5)
            run = client.post("/api/v1/pipelines/demo/runs", json={"logical_date": "2026-04-01"})
    listener.join(10)
    assert not listener.is_alive()
    assert any("event: run" in line for line in received)
