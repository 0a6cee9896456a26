"""Every endpoint of /api/v1 against each role: 401 anonymous, 403 below the role."""

from __future__ import annotations

import pytest

from tests.server.conftest import Server

ROLES = (None, "viewer", "operator", "admin")
RANK = {None: -1, "viewer": 0, "operator": 1, "admin": 2}

# (method, path, body, role needed). Writes name things that do not exist, so an allowed
# role gets past the check (404 or 422) without changing the shared store.
ENDPOINTS: list[tuple[str, str, dict[str, object] | None, str]] = [
    ("GET", "/api/v1/pipelines", None, "viewer"),
    ("GET", "/api/v1/pipelines/demo", None, "viewer"),
    ("GET", "/api/v1/pipelines/demo/graph", None, "viewer"),
    ("PATCH", "/api/v1/pipelines/nope", {"paused": True}, "operator"),
    ("POST", "/api/v1/pipelines/nope/runs", {}, "operator"),
    ("GET", "/api/v1/runs", None, "viewer"),
    ("GET", "/api/v1/runs/nope", None, "viewer"),
    ("POST", "/api/v1/runs/nope/retry", None, "operator"),
    ("POST", "/api/v1/runs/nope/clear", {"tasks": ["load"]}, "operator"),
    ("POST", "/api/v1/runs/nope/cancel", None, "operator"),
    ("GET", "/api/v1/runs/nope/tasks/load/logs", None, "viewer"),
    ("GET", "/api/v1/runs/nope/tasks/load/logs/stream", None, "viewer"),
    ("POST", "/api/v1/backfills", {"pipeline": "nope", "start": "x", "end": "y"}, "operator"),
    ("GET", "/api/v1/backfills", None, "viewer"),
    ("POST", "/api/v1/backfills/nope/cancel", None, "operator"),
    ("GET", "/api/v1/pools", None, "viewer"),
    ("PUT", "/api/v1/pools/bad%20name", {"slots": 1}, "admin"),
    ("GET", "/api/v1/assets", None, "viewer"),
    ("GET", "/api/v1/assets/sales/nope", None, "viewer"),
    ("GET", "/api/v1/assets/sales/nope/partitions", None, "viewer"),
    ("GET", "/api/v1/assets/sales/nope/materializations", None, "viewer"),
    ("POST", "/api/v1/assets/sales/nope/materialize", {}, "operator"),
]


def test_every_route_is_in_the_matrix(server: Server) -> None:
    with server.client("viewer") as client:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
    listed = {(method, path) for method, path, _, _ in ENDPOINTS}
    for path, operations in paths.items():
        for method in operations:
            if path in ("/api/v1/health", "/api/v1/events"):
                continue  # open to all; and a stream (checked below)
            concrete = (
                path.replace("{pipeline_id}", "demo" if method == "get" else "nope")
                .replace("{run_id}", "nope")
                .replace("{backfill_id}", "nope")
                .replace("{task_id}", "load")
                .replace("{name}", "bad%20name")
                .replace("{key}", "sales/nope")
            )
            assert (method.upper(), concrete) in listed, (method, path)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_it_may(server: Server, role: str | None) -> None:
    with server.client(role) as client:
        for method, path, body, needed in ENDPOINTS:
            response = client.request(method, path, json=body)
            if role is None:
                expected: int | None = 401
            elif RANK[role] < RANK[needed]:
                expected = 403
            else:
                expected = None
            if expected is None:
                assert response.status_code not in (401, 403), (method, path, response.text)
            else:
                assert response.status_code == expected, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["status"] == expected


def test_events_need_a_viewer_and_health_needs_nobody(server: Server) -> None:
    with server.client(None) as client:
        assert client.get("/api/v1/events").status_code == 401
        assert client.get("/api/v1/health").status_code == 200
    with server.client("viewer") as client:
        response = client.get("/api/v1/events", headers={"Authorization": "Bearer hw_x_y"})
        assert response.status_code == 401
        assert "invalid" in response.json()["detail"]


def test_the_api_description_is_for_signed_in_users(server: Server) -> None:
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        with server.client(None) as anonymous:
            assert anonymous.get(path).status_code == 401
        with server.client("viewer") as viewer:
            assert viewer.get(path).status_code == 200
