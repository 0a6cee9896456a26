"""Migrations: upgrading a database that holds runs keeps them, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.config import Settings
from headwater.store.sql.engine import create_engine
from headwater.store.sql.migrate import HEAD_REVISION, current_revision, ensure_schema, upgrade

INSERT_RUN = """
INSERT INTO runs (run_id, pipeline_id, logical_date, data_interval_start, data_interval_end,
                  params, state, run_type, triggered_by, created_at)
VALUES ('r1', 'p', '2026-01-05 00:00:00', '2026-01-05 00:00:00', '2026-01-06 00:00:00',
        '{}', 'success', 'manual', 'test', '2026-01-06 00:00:00')
"""
INSERT_INSTANCE = """
INSERT INTO task_instances (run_id, task_id, map_index, state, try_number, max_tries)
VALUES ('r1', 'extract', -1, 'success', 1, 1)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty database (no schema at all)."""
    if request.param == "sqlite":
        engine = create_engine(Settings.for_home(tmp_path))
        yield engine
        engine.dispose()
        return
    url = os.environ.get("HEADWATER_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need HEADWATER_TEST_DATABASE_URL (see README, Tests)")
    name = f"headwater_migrate_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(sa.make_url(url).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrading_a_database_with_runs_keeps_their_task_instances(empty_engine: sa.Engine) -> None:
    # Given a database at the first revision holding a run and its task instance
    upgrade(empty_engine, "0001")
    with empty_engine.begin() as connection:
        connection.execute(sa.text(INSERT_RUN))
        connection.execute(sa.text(INSERT_INSTANCE))
    # When it is upgraded (the runs table is rebuilt on SQLite)
    ensure_schema(empty_engine)
    # Then the task instance is still there, and foreign keys are on again
    with empty_engine.connect() as connection:
        assert current_revision(connection) == HEAD_REVISION
        rows = connection.execute(sa.text("SELECT run_id, task_id FROM task_instances")).all()
        assert [tuple(row) for row in rows] == [("r1", "extract")]
        if empty_engine.url.get_backend_name() == "sqlite":
            assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrading_to_the_revision_already_there_changes_nothing(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(sa.text(INSERT_RUN))
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert current_revision(connection) == HEAD_REVISION
        assert connection.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1


def test_a_sqlite_migration_leaves_foreign_keys_as_it_found_them() -> None:
    engine = sa.create_engine("sqlite://")  # no pragmas: SQLite's default, keys off
    try:
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 0
    finally:
        engine.dispose()


def test_opening_a_fresh_sqlite_file_waits_for_another_process_turning_it_to_wal(
    tmp_path: Path,
) -> None:
    # Two processes opening a new file at once both ask for WAL; the one that finds the
    # other switching it (holding its write lock, journal still a rollback one) gets
    # "database is locked" at once, past any busy timeout. It must wait its turn.
    settings = Settings.for_home(tmp_path)
    path = Path(sa.make_url(settings.database_url).database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, other.execute, ["COMMIT"])
    releaser.start()
    try:
        engine = create_engine(settings)
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        engine.dispose()
    finally:
        releaser.join()
        other.close()
    assert mode == "wal"
