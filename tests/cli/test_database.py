"""Opening the metadata database from the CLI: bad URLs, broken files, first use at once."""

from __future__ import annotations

import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.cli.conftest import Headwater, command_env
from tests.forked_commands import CommandServer

from headwater.store.sql.migrate import HEAD_REVISION

# commands that open the store in different ways, with arguments that need nothing in it
# (every other command opens it through the same Runtime as the first two)
STORE_COMMANDS = [
    ("runs", "list"),
    ("logs", "nosuchrun", "task"),
    ("db", "upgrade"),
]


def assert_one_line_error(result_code: int, stderr: str, *fragments: str) -> None:
    assert result_code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("headwater: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("args", STORE_COMMANDS)
def test_a_database_url_that_is_not_a_url_is_a_one_line_error(
    headwater: Headwater, args: tuple[str, ...]
) -> None:
    result = headwater(*args, env={"HEADWATER_DATABASE_URL": "notaurl"})
    assert_one_line_error(
        result.code,
        result.stderr,
        "HEADWATER_DATABASE_URL 'notaurl' is not a database URL",
        "sqlite:////",
        "postgresql+psycopg://",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nosuchdb://host/x", "no database driver for 'nosuchdb://host/x'"),
        ("postgresql+nosuchdriver://u@h/d", "no database driver for"),
    ],
)
def test_a_database_url_of_an_unknown_kind_is_a_one_line_error(
    headwater: Headwater, url: str, expected: str
) -> None:
    result = headwater("runs", "list", env={"HEADWATER_DATABASE_URL": url})
    assert_one_line_error(result.code, result.stderr, expected, "HEADWATER_DATABASE_URL")


def test_an_unreachable_server_is_named_without_its_password(headwater: Headwater) -> None:
    url = "postgresql+psycopg://reader:s3cret@127.0.0.1:1/headwater"
    result = headwater("runs", "list", env={"HEADWATER_DATABASE_URL": url})
    assert_one_line_error(
        result.code,
        result.stderr,
        "cannot open the metadata database postgresql+psycopg://reader:***@127.0.0.1:1/headwater",
        "check HEADWATER_DATABASE_URL and that the server is running",
    )
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("args", STORE_COMMANDS)
def test_a_file_that_is_not_a_sqlite_database_is_a_one_line_error(
    headwater: Headwater, tmp_path: Path, args: tuple[str, ...]
) -> None:
    # Given the default database path holds a file that is not a database
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "headwater.db").write_text("name,value\nsecret,42\n" * 100)
    result = headwater(*args)
    assert_one_line_error(
        result.code,
        result.stderr,
        f"cannot open the metadata database sqlite:///{tmp_path}/home/headwater.db",
        "file is not a database",
        "HEADWATER_DATABASE_URL",
    )
    # and the file is left as it was
    assert (tmp_path / "home" / "headwater.db").read_text().startswith("name,value")


def test_a_sqlite_file_named_by_the_url_that_is_not_a_database_is_a_one_line_error(
    headwater: Headwater, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not a database at all, just some notes\n" * 50)
    url = f"sqlite:///{tmp_path}/notes.txt"
    result = headwater("pools", "list", env={"HEADWATER_DATABASE_URL": url})
    assert_one_line_error(result.code, result.stderr, url, "file is not a database")


def corrupt(database: Path, keep: int) -> None:
    """Keep the first ``keep`` bytes of a SQLite file and overwrite the rest with garbage."""
    size = database.stat().st_size
    with database.open("r+b") as file:
        file.seek(keep)
        file.write(bytes(range(256)) * ((size - keep) // 256 + 1))


@pytest.fixture
def populated(headwater: Headwater, resources: Path, tmp_path: Path) -> Path:
    """A default SQLite store with one run, checkpointed into the main file and closed."""
    assert headwater("run", str(resources / "ok.py"), "--date", "2026-01-05").code == 0
    database = tmp_path / "home" / "headwater.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return database


@pytest.mark.parametrize(
    ("keep", "args"),
    [
        (100, ("runs", "list")),  # a valid header, then garbage pages
        (4096, ("runs", "list")),  # the schema page intact, the tables' pages garbage
        (4096, ("run", "RESOURCES/ok.py", "--date", "2026-01-06")),
    ],
)
def test_a_corrupted_sqlite_database_is_a_one_line_error(
    headwater: Headwater, resources: Path, populated: Path, keep: int, args: tuple[str, ...]
) -> None:
    corrupt(populated, keep)
    args = tuple(arg.replace("RESOURCES", str(resources)) for arg in args)
    result = headwater(*args)
    assert_one_line_error(
        result.code,
        result.stderr,
        f"sqlite:///{populated}",
        "damaged or not a headwater database",
        "restore it from a backup",
    )


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[Callable[[], str]]:
    """URLs of empty PostgreSQL namespaces: a new schema each, alone on the search path.

    An empty schema is to the store what an empty database is (tables, types and the
    Alembic version are created in it), and far cheaper to make than a database.
    """
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def create() -> str:
        name = f"fresh_{secrets.token_hex(4)}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        names.append(name)
        url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()


def start_at_once(
    server: CommandServer, cwd: Path, env: dict[str, str], commands: list[list[str]]
) -> list[str]:
    """Start every command before waiting for any; the errors of those that failed."""
    processes = [
        server.popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failures.append(stderr)
    return failures


COMMANDS_AT_ONCE = [["runs", "list"], ["pools", "list"], ["backfills", "list"], ["runs", "list"]]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_commands_started_at_once_on_a_fresh_database_all_succeed(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, command_server: CommandServer
) -> None:
    for attempt in range(2):  # the race is likely, not certain: give it two chances
        env = command_env(tmp_path / f"home-{attempt}")
        if backend == "postgres":
            env["HEADWATER_DATABASE_URL"] = request.getfixturevalue("fresh_postgres")()
        failures = start_at_once(command_server, tmp_path, env, COMMANDS_AT_ONCE)
        assert failures == [], f"attempt {attempt}: " + "\n".join(failures)


def test_the_first_scheduler_start_migrates_quietly(tmp_path: Path) -> None:
    # started from scratch: Alembic's first import is what logs (the command server
    # has imported it already)
    (tmp_path / "pipelines").mkdir()
    log = tmp_path / "scheduler.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", "scheduler", "--pipelines", "pipelines"],
            cwd=tmp_path,
            env=command_env(tmp_path / "home"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "watching" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "alembic" in line], lines
    migrated = [line for line in lines if "migrated" in line]
    assert len(migrated) == 1, lines
    assert migrated[0].endswith(
        f"INFO headwater.store: migrated the metadata database to revision {HEAD_REVISION}"
    )
