"""Shared fixtures: the metadata store on SQLite and, when configured, on PostgreSQL.

PostgreSQL tests run when HEADWATER_TEST_DATABASE_URL is set and are skipped with a
visible reason otherwise; when it is set but the server cannot be reached, they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.config import Settings
from headwater.store.sql.migrate import upgrade
from headwater.store.sql.schema import metadata
from headwater.store.sql.store import SqlStore

POSTGRES_ENV = "HEADWATER_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL database migrated from scratch once per test session."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL store tests need {POSTGRES_ENV} (see README, Tests)")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            tables = ", ".join([*(t.name for t in metadata.sorted_tables), "alembic_version"])
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {tables} CASCADE"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"cannot connect to PostgreSQL at {POSTGRES_ENV}={url}: {exc}")
    upgrade(engine)
    engine.dispose()
    return url


def _truncate(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


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
