"""Shared fixtures: the metadata store on SQLite and, when configured, on PostgreSQL.

PostgreSQL tests run when HEADWATER_TEST_DATABASE_URL is set and are skipped with a
visible reason otherwise; when it is set but the server cannot be reached, they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.config import Settings
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


def _truncate(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


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
        return Settings.for_home(tmp_path)
    url = request.getfixturevalue("postgres_url")
    _truncate(url)
    return Settings.for_home(tmp_path, database_url=url)


@pytest.fixture
def store(settings: Settings) -> Iterator[SqlStore]:
    sql_store = SqlStore.from_settings(settings)
    yield sql_store
    sql_store.close()


# The longest tests (real schedulers and killed processes) start first, so that parallel
# workers do not end the suite waiting on one of them.
FIRST = (
    "tests/scenarios/",
    "tests/cli/test_ownership.py",
    "tests/cli/test_pools.py",
    "tests/cli/test_backfill.py",
    "tests/cli/test_database.py",
    "tests/cli/test_scheduler.py",
    "tests/cli/test_controls.py",
    "tests/alerts/test_scheduler_alerts.py",
    "tests/ui/test_browser.py",
    "tests/server/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))
