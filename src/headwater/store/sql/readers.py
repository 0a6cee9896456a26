"""Stores opened by tries that read other runs (``pipeline_sensor``): one per URL per process.

They hold no connection between uses (``NullPool``): a sensor pokes every few seconds at
most, and a worker process may keep its store for its whole life without pinning a
database connection or a SQLite file.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from headwater.store.sql.store import SqlStore

_stores: dict[str, SqlStore] = {}
_lock = threading.Lock()


def store_at(database_url: str) -> SqlStore:
    """The store at ``database_url`` for reading, opened on first use in this process.

    Its schema is not migrated: the engine driving the run already did.
    """
    with _lock:
        store = _stores.get(database_url)
        if store is None:
            engine = sa.create_engine(database_url, poolclass=NullPool)
            store = _stores[database_url] = SqlStore(engine, migrate=False)
        return store
