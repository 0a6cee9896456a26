"""Runs made or reset through the API are driven by a real scheduler process."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.forked_commands import CommandServer
from tests.server.conftest import Server, server_env, stop_server
from tests.waiting import wait_until


@pytest.fixture
def scheduler(server: Server, command_server: CommandServer) -> Iterator[subprocess.Popen[bytes]]:
    log = server.home.parent / "scheduler.log"
    with log.open("w") as output:
        process = command_server.popen(
            [
                "scheduler",
                "--pipelines",
                str(server.pipelines),
                "--tick",
                "0.1",
            ],
            env=server_env(server.home),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    yield process
    stop_server(process)


def test_a_retried_and_a_triggered_run_are_driven_by_the_scheduler(
    server: Server, scheduler: subprocess.Popen[bytes]
) -> None:
    failed = server.runs["failed"]
    with server.client("operator") as client:
        retried = client.post(f"/api/v1/runs/{failed}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["reset"] == ["load"]
        assert retried.json()["state"] == "queued"
        triggered = client.post("/api/v1/pipelines/demo/runs", json={"logical_date": "2026-02-02"})
        run_id = triggered.json()["run_id"]

        def state(run: str) -> str:
            return str(client.get(f"/api/v1/runs/{run}").json()["state"])

        wait_until(lambda: state(failed) == "success" and state(run_id) == "success", 60)
        document = client.get(f"/api/v1/runs/{failed}").json()
        again = client.post(f"/api/v1/runs/{failed}/retry")
    assert [t["state"] for t in document["tasks"]["load"]["history"]] == ["failed", "success"]
    assert again.status_code == 409  # nothing failed any more
