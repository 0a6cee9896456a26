"""Schema migrations with Alembic, applied on first use, one process at a time.

The fast path reads the recorded revision with one query and imports Alembic only when
the schema is behind, so opening an up-to-date store costs no Alembic import.

Several processes may open a fresh database at once (a scheduler and a few commands
started together). The one that migrates holds a lock that the others wait on, and each
reads the revision again once it holds the lock: on PostgreSQL a transaction-level
advisory lock taken in the transaction that migrates; on SQLite the database's write
lock (``BEGIN IMMEDIATE``), so the whole migration is one transaction there too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from headwater.errors import StoreError

HEAD_REVISION = "0007"  # kept equal to the newest file in migrations/versions (tested)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key of the migration: any fixed 64-bit number, "headwtr" in ASCII
ADVISORY_LOCK_KEY = 0x68656164777472

logger = logging.getLogger("headwater.store")


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database, or None for an empty database."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest), under the migration lock.

    A process that finds the schema already at ``revision`` once it holds the lock (another
    process migrated meanwhile) changes nothing.
    """
    with _migration_lock(engine) as connection:
        before = current_revision(connection)
        target = HEAD_REVISION if revision == "head" else revision
        if before == target:
            return
        _run_alembic(connection, revision)
        after = current_revision(connection)
    logger.info("migrated the metadata database to revision %s", after)


def ensure_schema(engine: Engine) -> None:
    """Upgrade the schema when it is behind; a no-op query when it is current."""
    with engine.connect() as connection:
        if current_revision(connection) == HEAD_REVISION:
            return
    upgrade(engine)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other migration runs beside; committed at exit."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        with _sqlite_write_transaction(engine) as connection:
            yield connection
        return
    with engine.begin() as connection:
        if backend == "postgresql":
            # held until this transaction ends: the migration commits before it is released
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        yield connection


@contextmanager
def _sqlite_write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction holding SQLite's write lock from its start, DDL included.

    The pysqlite driver opens transactions lazily, before the first INSERT or UPDATE
    only, so table creations would run outside any transaction and two processes could
    both find the database empty. In the driver's autocommit mode nothing is implicit:
    ``BEGIN IMMEDIATE`` takes the write lock (waiting up to the busy timeout for another
    writer) and ``COMMIT`` ends it. Foreign keys are off meanwhile, as SQLite's procedure
    for rebuilding a table asks (Alembic's batch mode rebuilds tables), and checked before
    the commit.
    """
    with engine.connect() as base:
        connection = base.execution_options(isolation_level="AUTOCOMMIT")
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield connection
                violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if violations:
                    raise StoreError(
                        f"migrating the metadata database left rows whose foreign keys point "
                        f"nowhere (table, row, parent): {[tuple(v)[:3] for v in violations[:5]]}; "
                        "nothing was changed"
                    )
            except BaseException:
                # the migration's error matters more than one of the rollback, which on a
                # broken connection fails and commits nothing either
                with suppress(Exception):
                    connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")
        finally:
            connection.exec_driver_sql(f"PRAGMA foreign_keys={1 if foreign_keys else 0}")


def _run_alembic(connection: Connection, revision: str) -> None:
    """Alembic's upgrade on ``connection``, inside its transaction, without its INFO logs."""
    with _quiet("alembic"):  # its first import logs the set-up of each of its plugins
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Drop a library's INFO lines (plugin set-up, each step) while it works for us."""
    library_logger = logging.getLogger(logger_name)
    level = library_logger.level
    library_logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        library_logger.setLevel(level)
