"""Running the real ``headwater`` command in a process, against a store in tmp_path.

``headwater`` forks each command from the command server (see ``tests/forked_commands.py``);
``headwater_process`` starts ``python -m headwater`` from scratch, as a user's shell does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.forked_commands import CommandServer

from headwater.config import Settings
from headwater.store.sql.store import SqlStore

RESOURCES = Path(__file__).parent.parent / "resources" / "cli"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Headwater = Callable[..., Result]


def command_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env["HEADWATER_HOME"] = str(home)
    return env


@pytest.fixture
def headwater(tmp_path: Path, command_server: CommandServer) -> Headwater:
    """Run ``headwater ARGS`` in tmp_path with HEADWATER_HOME there (plus ``env``)."""

    def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
        completed = command_server.run(
            list(args),
            cwd=tmp_path,
            env={**command_env(tmp_path / "home"), **(env or {})},
            timeout=timeout,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def headwater_process(tmp_path: Path) -> Headwater:
    """``headwater`` as a new ``python -m headwater`` process, imports and all."""

    def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
        completed = subprocess.run(
            [sys.executable, "-m", "headwater", *args],
            cwd=tmp_path,
            env={**command_env(tmp_path / "home"), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def resources() -> Path:
    return RESOURCES


@pytest.fixture
def store_of(tmp_path: Path) -> Iterator[Callable[[], SqlStore]]:
    """Opens the store of the commands' HEADWATER_HOME (each call a fresh view of it)."""
    opened: list[SqlStore] = []

    def open_store() -> SqlStore:
        store = SqlStore.from_settings(Settings.for_home(tmp_path / "home"))
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()
