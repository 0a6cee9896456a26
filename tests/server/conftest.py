"""A real ``headwater server`` process on a free port, over a seeded store."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.accounts import Role, create_token, create_user
from headwater.config import Settings
from headwater.loader import load_pipeline
from headwater.runtime import Runtime
from tests.forked_commands import CommandServer
from tests.waiting import wait_until

DEMO = """\
from datetime import timedelta
from pathlib import Path
from headwater import Context, pipeline, task

@task
def extract(ctx: Context) -> int:
    ctx.log.info("extracting for %s", ctx.ds)
    return int(ctx.params["days"])

@task(pool="warehouse")
def load(days: int, ctx: Context) -> int:
    if Path(ctx.params["fail_flag"]).exists():
        raise RuntimeError("load failed: the flag file exists")
    return days

@pipeline(
    schedule="@daily",
    start="2026-01-01",
    timezone="Europe/Paris",
    params={"days": 1, "full": False, "fail_flag": "FLAG"},
    tags=["demo"],
)
def demo() -> None:
    load(extract())
"""


@dataclass
class Server:
    url: str
    home: Path
    pipelines: Path
    flag: Path
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    runs: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None) -> httpx.Client:
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=20)

    def settings(self) -> Settings:
        return Settings.for_home(self.home)


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env["HEADWATER_HOME"] = str(home)
    env["HEADWATER_LEASE_SECONDS"] = "2"
    return env


def start_server(
    commands: CommandServer, home: Path, pipelines: Path, cwd: Path, *extra: str
) -> tuple[Any, str, Path]:
    log = cwd / f"server-{time.monotonic_ns()}.log"
    command = ["server", "--port", "0"]
    with log.open("w") as output:  # the child keeps its own copy of the file
        process = commands.popen(
            [*command, "--pipelines", str(pipelines), *extra],
            cwd=cwd,
            env=server_env(home),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    found: list[str] = []

    def started() -> bool:
        assert process.poll() is None, log.read_text()
        match = re.search(r"on (http://\S+) \(API", log.read_text())
        if match:
            found.append(match.group(1))
        return bool(found)

    wait_until(started, timeout=30)
    url = found[0]
    wait_until(lambda: _healthy(url), timeout=30)
    return process, url, log


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, command_server: CommandServer
) -> Iterator[Server]:
    """A server over a store with users of each role and two finished runs of ``demo``."""
    root = tmp_path_factory.mktemp("api")
    home, pipelines, flag = root / "home", root / "pipelines", root / "fail.flag"
    pipelines.mkdir()
    (pipelines / "demo.py").write_text(DEMO.replace("FLAG", str(flag)))
    runtime = Runtime(Settings.for_home(home))
    now = datetime.now(UTC)
    tokens = {}
    for role in Role:
        create_user(runtime.store, role.value, role, None, now)
        tokens[role.value], _ = create_token(runtime.store, role.value, now)
    runtime.store.set_pool("warehouse", 2, "the warehouse", now)
    pipeline = load_pipeline(f"{pipelines / 'demo.py'}:demo")
    ok = runtime.run(pipeline, logical_date=datetime(2026, 1, 5, tzinfo=UTC), triggered_by="test")
    flag.write_text("fail")
    failed = runtime.run(
        pipeline, logical_date=datetime(2026, 1, 6, tzinfo=UTC), triggered_by="test"
    )
    flag.unlink()
    runtime.close()
    assert (ok.state, failed.state) == ("success", "failed")
    process, url, log = start_server(command_server, home, pipelines, root)
    yield Server(
        url=url,
        home=home,
        pipelines=pipelines,
        flag=flag,
        tokens=tokens,
        process=process,
        log=log,
        runs={"success": ok.run_id, "failed": failed.run_id},
    )
    stop_server(process)
