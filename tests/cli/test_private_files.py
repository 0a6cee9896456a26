"""What headwater writes under HEADWATER_HOME is its owner's only, whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.cli.conftest import command_env
from tests.forked_commands import CommandServer

from headwater.config import Settings
from headwater.store.sql.store import SqlStore

PIPELINE = """
from headwater import pipeline, task


@task
def make() -> tuple[int, int]:
    return (1, 2)  # a tuple is pickled to the result store


@pipeline
def pickled() -> None:
    make()
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_home_database_results_and_key_are_private(
    tmp_path: Path, umask: int, command_server: CommandServer
) -> None:
    source = tmp_path / "pickled.py"
    source.write_text(PIPELINE)
    home = tmp_path / "home"

    with command_server.popen(
        ["run", str(source)],
        cwd=tmp_path,
        env=command_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=umask,
    ) as process:
        _, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr
    [run_folder] = (home / "results").iterdir()
    folders = [home, home / "results", run_folder]
    files = [home / "headwater.db", home / "secret_key", run_folder / "make.pickle"]
    assert {str(p): oct(mode(p)) for p in folders} == {str(p): "0o700" for p in folders}
    assert {str(p): oct(mode(p)) for p in files} == {str(p): "0o600" for p in files}


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_sqlite_gives_its_wal_and_shm_files_the_databases_private_mode(
    tmp_path: Path, umask: int
) -> None:
    home = tmp_path / "home"
    store = SqlStore.from_settings(Settings.for_home(home))
    try:
        with store.engine.connect() as connection:
            connection.execute(sa.text("SELECT count(*) FROM runs"))
            # while a connection is open, the WAL and shared-memory files exist
            database = home / "headwater.db"
            wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
            assert (mode(home), mode(database), mode(wal), mode(shm)) == (
                0o700,
                0o600,
                0o600,
                0o600,
            )
    finally:
        store.close()
