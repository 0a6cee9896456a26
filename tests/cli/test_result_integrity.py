"""A result reference written into the metadata database cannot make the engine run code."""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.cli.conftest import Headwater

PIPELINE = """
from headwater import pipeline, task


@task
def make() -> tuple[int, int]:
    return (1, 2)  # a tuple is pickled to the result store


@task
def use(value: tuple[int, int]) -> int:
    return sum(value)


@pipeline
def pickled() -> None:
    use(make())
"""


class CreatesFile:
    """Unpickling this creates a file: the code execution a crafted result would get."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def set_result_ref(database: Path, run_id: str, task_id: str, ref: str) -> None:
    with sqlite3.connect(database) as connection:
        changed = connection.execute(
            "UPDATE task_instances SET result_ref = ? WHERE run_id = ? AND task_id = ?",
            (ref, run_id, task_id),
        ).rowcount
    assert changed == 1


def column(database: Path, run_id: str, task_id: str, name: str) -> str:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            f"SELECT {name} FROM task_instances WHERE run_id = ? AND task_id = ?",
            (run_id, task_id),
        ).fetchone()
    return str(row[0])


@pytest.mark.parametrize(
    ("attack", "error"),
    [
        ("legacy path", "has no integrity tag"),
        ("parent folder", "points outside the result store"),
        ("other scheme", "points outside the result store"),
        ("forged tag", "does not match the tag of its reference"),
        ("replaced payload", "does not match the tag of its reference"),
    ],
)
def test_a_crafted_result_reference_is_refused_without_unpickling(
    headwater: Headwater, tmp_path: Path, attack: str, error: str
) -> None:
    source = tmp_path / "pickled.py"
    source.write_text(PIPELINE)
    run = headwater("run", str(source), "--json")
    assert run.code == 0, run.stderr
    run_id = run.json()["run_id"]
    home = tmp_path / "home"
    database = home / "headwater.db"
    marker = tmp_path / "code-was-run"
    evil = pickle.dumps(CreatesFile(marker))
    crafted = tmp_path / "crafted.pickle"
    crafted.write_bytes(evil)
    inside = home / "results" / run_id / "evil.pickle"
    fake_tag = "0" * 64

    # Given: someone who can write the metadata database (and perhaps the store) points
    # the result of 'make' at a pickle that runs code
    if attack == "legacy path":
        set_result_ref(database, run_id, "make", str(crafted))
    elif attack == "parent folder":
        set_result_ref(database, run_id, "make", f"../../crafted.pickle#hmac-sha256={fake_tag}")
    elif attack == "other scheme":
        set_result_ref(database, run_id, "make", f"file://{crafted}#hmac-sha256={fake_tag}")
    elif attack == "forged tag":
        inside.write_bytes(evil)
        tag = hashlib.sha256(f"{run_id}/evil.pickle\n".encode() + evil).hexdigest()
        set_result_ref(database, run_id, "make", f"{run_id}/evil.pickle#hmac-sha256={tag}")
    else:
        name = column(database, run_id, "make", "result_ref").partition("#")[0]
        (home / "results" / name).write_bytes(evil)

    # When: the downstream task runs again and reads that result
    cleared = headwater("clear", run_id, "use", "--json")

    # Then: nothing is unpickled, and the task that needed the value fails saying why
    assert not marker.exists(), "the crafted pickle was loaded"
    assert cleared.code == 1, cleared.stderr
    assert cleared.json()["tasks"]["use"]["state"] == "failed"
    failure = column(database, run_id, "use", "error")
    assert failure.startswith("ResultIntegrityError: "), failure
    assert error in failure


def test_a_weak_secret_key_is_a_one_line_error(headwater: Headwater, tmp_path: Path) -> None:
    source = tmp_path / "pickled.py"
    source.write_text(PIPELINE)

    result = headwater("run", str(source), env={"HEADWATER_SECRET_KEY": "too-short-secret"})

    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert "HEADWATER_SECRET_KEY must be at least 32 characters" in result.stderr
    assert "too-short-secret" not in result.stderr
