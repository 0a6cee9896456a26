"""Tasks get no credentials of the metadata store: not in their Context, not in their
environment (worker processes and shell commands start without them)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from headwater import Context, pipeline, shell_task, task
from headwater.executors.base import TryRequest
from headwater.testing import run_pipeline_test

SECRET_URL = "postgresql+psycopg://etl:hunter2@db.internal/headwater"


@task
def look_around(ctx: Context) -> dict[str, object]:
    return {
        "context": sorted(field.name for field in dataclasses.fields(ctx)),
        "database_url": os.environ.get("HEADWATER_DATABASE_URL"),
        "secret_key": os.environ.get("HEADWATER_SECRET_KEY"),
    }


@pipeline
def curious() -> None:
    look_around()
    shell_task("shell_env", "echo ${HEADWATER_DATABASE_URL:-none}")


def test_no_try_is_handed_the_store_url() -> None:
    assert "database_url" not in {field.name for field in dataclasses.fields(Context)}
    assert "database_url" not in {field.name for field in dataclasses.fields(TryRequest)}


def test_worker_processes_and_shell_commands_start_without_the_store_credentials(
    migrated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: the engine's environment names the store, with its password, and the key
    monkeypatch.setenv("HEADWATER_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("HEADWATER_SECRET_KEY", "k" * 64)

    run = run_pipeline_test(curious, executor="process", home=migrated_home)

    assert run.succeeded
    seen = run.result("look_around")
    assert seen["database_url"] is None
    assert seen["secret_key"] is None
    assert "database_url" not in seen["context"]
    assert run.result("shell_env") == "none"
