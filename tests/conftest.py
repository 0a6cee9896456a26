"""Shared fixtures: the metadata store on SQLite and, when configured, on PostgreSQL.

PostgreSQL tests run when HEADWATER_TEST_DATABASE_URL is set and are skipped with a
visible reason otherwise; when it is set but the server cannot be reached, they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.config import Settings
from headwater.private_files import make_private_dir
from headwater.store.sql.migrate import upgrade
from headwater.store.sql.schema import metadata
from headwater.store.sql.store import SqlStore
from tests.forked_commands import CommandServer

POSTGRES_ENV = "HEADWATER_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated from scratch.

    It is created next to the one HEADWATER_TEST_DATABASE_URL names, and dropped at the
    end, so that test sessions running at once never see each other's rows.
    """
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL store tests need {POSTGRES_ENV} (see README, Tests)")
    name = f"headwater_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"cannot connect to PostgreSQL at {POSTGRES_ENV}={url}: {exc}")
    session_url = sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(session_url)
    upgrade(engine)
    engine.dispose()
    yield session_url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_emptier(postgres_url: str) -> Iterator[Callable[[], None]]:
    """Empties every table of the session's database, as a new database has them.

    DELETE and a sequence restart: TRUNCATE of every table costs ten times more on
    tables this small.
    """
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        sequences = connection.execute(
            sa.text("SELECT sequence_schema, sequence_name FROM information_schema.sequences")
        ).all()

    def empty() -> None:
        with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
            for schema, name in sequences:
                connection.execute(sa.text(f'ALTER SEQUENCE "{schema}"."{name}" RESTART'))

    yield empty
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The file of a SQLite metadata database migrated to the newest revision.

    Migrating costs about 0.1 s, copying this a few milliseconds: stores whose tests are
    not about migrations start from a copy (migrations have tests of their own).
    """
    home = tmp_path_factory.mktemp("migrated")
    SqlStore.from_settings(Settings.for_home(home)).close()
    assert not (home / "headwater.db-wal").exists()  # all of it is in the one file
    return (home / "headwater.db").read_bytes()


def copy_migrated(home: Path, migrated: bytes) -> Path:
    """``home`` holding a copy of ``migrated_sqlite`` as its store, private like a new one."""
    make_private_dir(home)
    descriptor = os.open(home / "headwater.db", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as database:
        database.write(migrated)
    return home


@pytest.fixture
def migrated_home(tmp_path: Path, migrated_sqlite: bytes) -> Path:
    """tmp_path, holding an empty SQLite store already migrated."""
    return copy_migrated(tmp_path, migrated_sqlite)


@pytest.fixture(scope="session")
def command_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommandServer]:
    """Forks ``headwater`` commands for this test process (see ``tests/forked_commands.py``)."""
    server = CommandServer(tmp_path_factory.mktemp("commands") / "server.log")
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty store on each backend."""
    if request.param == "sqlite":
        return Settings.for_home(
            copy_migrated(tmp_path, request.getfixturevalue("migrated_sqlite"))
        )
    request.getfixturevalue("postgres_emptier")()
    return Settings.for_home(tmp_path, database_url=request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(settings: Settings) -> Iterator[SqlStore]:
    sql_store = SqlStore.from_settings(settings)
    yield sql_store
    sql_store.close()


# The files of the longest tests (seconds each: real schedulers and servers, killed
# processes, a browser) start first, the slowest first, so that the parallel workers
# do not end the suite waiting on one of them.
FIRST = (
    "tests/assets/test_dbt_assets.py",
    "tests/scenarios/test_faults.py",
    "tests/assets/test_dbt_runner.py",
    "tests/cli/test_ownership.py",
    "tests/scenarios/test_catchup_stampede.py",
    "tests/alerts/test_scheduler_alerts.py",
    "tests/executors/test_no_crash.py",
    "tests/cli/test_backfill.py",
    "tests/server/test_schemathesis.py",
    "tests/executors/test_processes.py",
    "tests/cli/test_pools.py",
    "tests/ui/test_browser.py",
    "tests/metrics/test_scheduler_process.py",
    "tests/engine/test_try_durations.py",
    "tests/cli/test_controls.py",
    "tests/cli/test_scheduler.py",
    "tests/cli/test_private_files.py",
    "tests/cli/test_recovery.py",
    "tests/cli/test_database.py",
    "tests/cli/test_disk_full.py",
    "tests/cli/test_users.py",
    "tests/server/",
)


def _start_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_start_rank)  # stable: each file keeps its order
