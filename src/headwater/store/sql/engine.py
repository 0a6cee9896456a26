"""The SQLAlchemy engine of the metadata database: SQLite's file, pragmas and WAL mode.

A new SQLite database file is made private before SQLite opens it, and every connection
gets WAL, the configured ``synchronous`` mode, foreign keys and a busy timeout; any other
database gets a pool that checks a connection before handing it out.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from headwater.config import Settings
from headwater.private_files import create_private_file, make_private_dir

_SQLITE_BUSY_SECONDS = 30  # how long a connection waits for another's lock


def create_engine(settings: Settings) -> Engine:
    """An Engine for the configured database; SQLite gets WAL and its synchronous mode.

    A new SQLite database file is made private (0600, its folder 0700) before SQLite
    opens it: SQLite would create it readable by everyone, and gives its ``-wal`` and
    ``-shm`` files the database file's mode.
    """
    url = sa.make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    database = url.database
    if database and database != ":memory:":
        make_private_dir(Path(database).parent)
        create_private_file(Path(database))
    engine = sa.create_engine(
        url, connect_args={"timeout": _SQLITE_BUSY_SECONDS, "check_same_thread": False}
    )
    synchronous = settings.sqlite_synchronous

    @sa.event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers (the CLI, the UI) read while a run writes; with synchronous
        # NORMAL a commit survives a killed process (not a power cut) at a tenth of
        # the cost of FULL. See docs/store.md.
        cursor = dbapi_connection.cursor()
        _turn_to_wal(cursor)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    return engine


def _turn_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting while another connection does the same.

    A new file is in SQLite's rollback mode until one connection turns it to WAL. Each
    connection opening it asks for WAL under a read lock and then writes the file's
    header; one that finds another writing it meanwhile gets "database is locked" at
    once, without its busy timeout (SQLite refuses to wait there, as two readers both
    waiting to write would wait for ever). Asking again once the other is done finds the
    file in WAL mode already, which writes nothing.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
