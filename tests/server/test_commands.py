"""``headwater dev`` and ``headwater server`` as real processes."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import httpx

from tests.forked_commands import CommandServer
from tests.server.conftest import DEMO, server_env
from tests.waiting import wait_until


def test_dev_serves_the_api_beside_its_scheduler_and_prints_a_login_url(
    tmp_path: Path, command_server: CommandServer
) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "demo.py").write_text(DEMO.replace("FLAG", str(tmp_path / "flag")))
    log = tmp_path / "dev.log"
    with log.open("w") as output:
        process = command_server.popen(
            [
                "dev",
                "--port",
                "0",
                "--pipelines",
                str(pipelines),
            ],
            env=server_env(tmp_path / "home"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        found: list[re.Match[str]] = []

        def printed() -> bool:
            assert process.poll() is None, log.read_text()
            match = re.search(
                r"open the UI at (http://127\.0\.0\.1:\d+)/login\?token=(\S+)", log.read_text()
            )
            found.extend([match] if match else [])
            return bool(found)

        wait_until(printed, 30)
        url, token = found[0].group(1), found[0].group(2)
        headers = {"Authorization": f"Bearer {token}"}
        # the scheduler of the same process runs the latest daily interval (its load
        # fails: the pool it asks for does not exist here)
        wait_until(
            lambda: any(
                run["state"] in ("success", "failed")
                for run in httpx.get(f"{url}/api/v1/runs", headers=headers).json()["items"]
            ),
            60,
        )
        assert httpx.put(
            f"{url}/api/v1/pools/warehouse", headers=headers, json={"slots": 1}
        ).is_success
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_a_server_reachable_from_other_machines_needs_users(
    tmp_path: Path, command_server: CommandServer
) -> None:
    for command in ("dev",):  # server shares the check
        result = command_server.run(
            [command, "--host", "0.0.0.0", "--port", "0"],
            env=server_env(tmp_path / "home"),
            cwd=tmp_path,
        )
        assert result.returncode == 2, result.stderr
        assert "headwater users create" in result.stderr
        assert "Traceback" not in result.stderr
