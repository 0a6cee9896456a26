"""Database engines for table IO managers: one per URL per process, opened lazily, and the
locks that keep concurrent writers of one partition from keeping two copies.

Concurrency, by database:

- PostgreSQL (and other servers): a write takes ``pg_advisory_xact_lock`` on a hash of
  schema, table and partition before deleting the partition, so writers of the same
  partition run one after the other and the last one's rows are kept, once. Writers of
  other partitions do not wait for each other.
- DuckDB: a file is open in one process at a time (DuckDB's own lock). Engines open the
  file only for the length of a transaction, and a process that finds the file locked
  retries for up to ``DUCKDB_LOCK_WAIT`` seconds. Within a process, transactions on one
  file take turns (DuckDB would refuse the second writer of the same rows).
- SQLite: transactions begin with ``BEGIN IMMEDIATE``, so a second writer waits for the
  first (up to SQLite's busy timeout) instead of failing when it upgrades its lock.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool, StaticPool

from headwater.assets.io.base import IOManagerError
from headwater.clock import SystemClock

logger = logging.getLogger(__name__)

DUCKDB_LOCK_WAIT = 60.0
"""Seconds a process waits for another process to close a DuckDB file."""

_engines: dict[str, sa.Engine] = {}
_file_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """The engine for ``url`` in this process, created on first use."""
    with _registry_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def dispose_engine(url: str) -> None:
    """Close this process's connections to ``url`` (it reopens on next use)."""
    with _registry_lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        # a pooled connection would hold the file's lock for good and shut out every
        # other process; an in-memory database lives as long as its one connection
        in_memory = parsed.database in (None, "", ":memory:")
        return sa.create_engine(url, poolclass=StaticPool if in_memory else NullPool)
    if backend == "sqlite":
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _let_sqlalchemy_begin)
        sa.event.listen(engine, "begin", _begin_immediate)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _let_sqlalchemy_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite would begin on its own, deferred


def _begin_immediate(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction, committed on success and rolled back on error."""
    if engine.dialect.name != "duckdb":
        with engine.begin() as connection:
            yield connection
        return
    with exclusive_connection(engine) as connection, connection.begin():
        yield connection


@contextmanager
def exclusive_connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A DuckDB connection that no other transaction of this process runs beside.

    While it is open, the file is locked against other processes too.
    """
    with _file_lock(str(engine.url)), _connect_duckdb(engine) as connection:
        yield connection


def _file_lock(url: str) -> threading.Lock:
    with _registry_lock:
        return _file_locks.setdefault(url, threading.Lock())


def _connect_duckdb(engine: sa.Engine) -> sa.Connection:
    clock = SystemClock()
    deadline = clock.monotonic() + DUCKDB_LOCK_WAIT
    delay = 0.01
    while True:
        try:
            return engine.connect()
        except sa.exc.OperationalError as exc:
            if "Could not set lock" not in str(exc):
                raise
            if clock.monotonic() > deadline:
                raise IOManagerError(
                    f"DuckDB file {engine.url.database} is still open in another process "
                    f"after {DUCKDB_LOCK_WAIT:.0f} s (DuckDB allows one process per file); "
                    "close that process, or store these assets in PostgreSQL"
                ) from exc
            logger.info("DuckDB file %s is open in another process; waiting", engine.url.database)
            clock.sleep(delay)
            delay = min(delay * 2, 0.5)


def advisory_lock(connection: sa.Connection, *names: str | None) -> None:
    """Hold a PostgreSQL lock named by ``names`` until the transaction ends.

    Other databases serialise writers by other means (see the module docstring).
    """
    if connection.dialect.name != "postgresql":
        return
    text = "\x1f".join(name or "" for name in names)
    key = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def stored_columns(
    connection: sa.Connection, schema: str | None, table: str
) -> dict[str, sa.types.TypeEngine[Any]] | None:
    """The columns of a table and their types, in order; None if there is no such table."""
    if connection.dialect.name == "sqlite":
        inspector = sa.inspect(connection)
        if not inspector.has_table(table, schema):
            return None
        return {column["name"]: column["type"] for column in inspector.get_columns(table, schema)}
    # information_schema, not SQLAlchemy's reflection: it reads the same on PostgreSQL
    # and DuckDB, whose PostgreSQL-like catalog lacks tables that reflection queries
    query = sa.text(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = coalesce(:schema, current_schema()) AND table_name = :table"
        " ORDER BY ordinal_position"
    )
    rows = connection.execute(query, {"schema": schema, "table": table}).all()
    return {name: sql_type_named(data_type) for name, data_type in rows} or None


def sql_type_named(name: str) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type for a type name of information_schema (PostgreSQL, DuckDB)."""
    name = name.lower()
    if re.fullmatch(r"u?(tiny|small|big|huge)?int(eger)?\d*", name):
        return sa.BigInteger()
    for prefixes, sql_type in _TYPE_PREFIXES:
        if name.startswith(prefixes):
            return sql_type
    return sa.types.NullType()  # values pass through as the driver gives them


# order matters: "timestamp with time zone" before "timestamp" before "time"
_TYPE_PREFIXES: list[tuple[tuple[str, ...], sa.types.TypeEngine[Any]]] = [
    (("timestamp with time zone", "timestamptz"), sa.DateTime(timezone=True)),
    (("timestamp",), sa.DateTime()),
    (("time",), sa.Time()),
    (("date",), sa.Date()),
    (("interval",), sa.Interval()),
    (("bool",), sa.Boolean()),
    (("double", "real", "float"), sa.Double()),
    (("numeric", "decimal"), sa.Numeric()),
    (("bytea", "blob", "binary", "varbinary"), sa.LargeBinary()),
    (("char", "text", "varchar", "string", "bpchar"), sa.Text()),
]


def _forget_engines_after_fork() -> None:
    # a forked child must not close its parent's connections, nor wait on a lock that a
    # thread of the parent held at the time of the fork
    global _registry_lock
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _file_locks.clear()
    _registry_lock = threading.Lock()


def _dispose_engines() -> None:
    for engine in list(_engines.values()):
        engine.dispose()


os.register_at_fork(after_in_child=_forget_engines_after_fork)
atexit.register(_dispose_engines)
