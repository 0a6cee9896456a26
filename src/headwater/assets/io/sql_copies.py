"""Where a relocated table IO manager writes: a copy of a DuckDB or SQLite file, or a
schema of a server database named after the base URL."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from pathlib import Path

import fsspec.core
import sqlalchemy as sa
from fsspec.implementations.local import LocalFileSystem

from headwater.assets.io.base import IOManagerError
from headwater.assets.io.sql_engines import dispose_engine, engine_for, exclusive_connection


def relocated_schema(schema: str | None, base_url: str) -> str:
    """A schema name for tables relocated under ``base_url``: readable and unique."""
    digest = hashlib.sha256(f"{schema}\x1f{base_url}".encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "_", base_url.lower()).strip("_")[-40:].strip("_")
    return f"hw_{slug}_{digest}" if slug else f"hw_{digest}"


def copy_database(url: str, base_url: str) -> str:
    """Copy a DuckDB or SQLite file under the local folder ``base_url``; its new URL."""
    parsed = sa.make_url(url)
    source = parsed.database
    fs, root = fsspec.core.url_to_fs(base_url)
    if source in (None, "", ":memory:") or not isinstance(fs, LocalFileSystem):
        raise IOManagerError(
            f"{parsed.render_as_string(hide_password=True)} cannot be relocated to "
            f"{base_url}: only a database file can be copied, and only to a local folder"
        )
    target = Path(root) / Path(source).name
    if target.resolve() == Path(source).resolve():
        raise IOManagerError(
            f"{parsed.render_as_string(hide_password=True)} cannot be relocated to "
            f"{base_url}: the copy would replace the database itself; choose another folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target_url = parsed.set(database=str(target)).render_as_string(hide_password=False)
    dispose_engine(target_url)  # a connection to an older copy would see the old file
    for stale in (target, Path(f"{target}.wal"), Path(f"{target}-journal")):
        stale.unlink(missing_ok=True)
    if Path(source).exists():
        if parsed.get_backend_name() == "sqlite":
            _copy_sqlite(source, target)
        else:
            with exclusive_connection(engine_for(url)) as connection:
                # no other process has the file open while this connection is: the copy
                # is of a quiet, checkpointed file
                connection.exec_driver_sql("CHECKPOINT")
                shutil.copyfile(source, target)
    return target_url


def _copy_sqlite(source: str, target: Path) -> None:
    with sqlite3.connect(source) as reader, sqlite3.connect(target) as writer:
        reader.backup(writer)  # a consistent copy, even with another writer
    reader.close()
    writer.close()
