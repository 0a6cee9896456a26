"""SqlTableIOManager: an asset as a database table, one partition per set of rows stamped
with its partition key, written in one transaction."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, replace
from typing import Any

import sqlalchemy as sa

from headwater.assets.io.base import (
    InputContext,
    IOManager,
    IOManagerError,
    NothingStoredError,
    OutputContext,
    key_string,
)
from headwater.assets.io.sql_copies import copy_database, relocated_schema
from headwater.assets.io.sql_engines import (
    advisory_lock,
    dispose_engine,
    engine_for,
    stored_columns,
    transaction,
)
from headwater.assets.io.sql_rows import Rows, SqlType, loaded, rows_digest, rows_of
from headwater.assets.io.values import LOAD_KINDS, LoadKind, expected_kind, is_installed, require
from headwater.errors import DefinitionError

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""A name used in SQL unquoted on every database: letters, digits, "_", at most 63 long."""
KEYS_PER_QUERY = 1000
FILE_DATABASES = ("duckdb", "sqlite")


def checked_identifier(name: str, what: str, fix: str) -> str:
    """``name`` if it is a safe SQL identifier, else a DefinitionError saying ``fix``."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise DefinitionError(
            f"{what} {name!r} is not a safe SQL identifier (letters, digits and "
            f"underscores, not starting with a digit, at most 63 characters); {fix}"
        )
    return name


@dataclass(frozen=True, slots=True)
class SqlTableIOManager(IOManager):
    """Stores each asset in a table; a partition is the rows whose ``partition_column``
    holds its key.

    Args:
        url: a SQLAlchemy URL: ``postgresql+psycopg://...``, ``duckdb:///path.duckdb``
            (extra ``headwater[duckdb]``) or ``sqlite:///path.db``.
        schema: the schema of the tables; None for the connection's default.
        table: the table; by default the asset key parts joined by "__"
            (``sales/orders_raw`` goes to ``sales__orders_raw``).
        partition_column: the column holding partition keys. A value without it gets
            it; a value with it must hold the key being written in every row.
        load_as: what loads return: "pandas", "polars", "arrow" (a pyarrow Table),
            "records" (a list of dicts), or "auto": pandas when installed, else records.
            A downstream parameter annotated with one of these types gets that type.
        read_through: schemas that loads fall back to; set by ``relocated``.

    A write deletes the partition's rows and inserts the new ones in one transaction, so
    re-running keeps one copy and a failed write keeps the old rows. Unpartitioned
    assets replace the whole table. The first write creates the table from the value's
    columns (an unnamed pandas index is left out, a named one becomes columns); the IO
    manager never alters a table: a value whose columns differ from the table's is
    refused. Loads return the partition column too, and a partition never written loads
    as no rows. SQLite keeps neither time zones nor exact decimals: prefer DuckDB.

    Two writers of the same partition at once: the last to commit wins and one copy is
    kept (see ``sql_engines`` for how each database serialises them). The manager holds
    only settings: engines live in a per-process cache, opened on first use, so it
    pickles and compares by value.
    """

    url: str
    _: KW_ONLY
    schema: str | None = None
    table: str | None = None
    partition_column: str = "partition_key"
    load_as: str = "auto"
    read_through: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        try:
            sa.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise DefinitionError(f"SqlTableIOManager: {self.url!r} is not a database URL ({exc})")
        fix = "pass a plain name to SqlTableIOManager"
        for what, name in (("schema", self.schema), ("table", self.table)):
            if name is not None:
                checked_identifier(name, f"SqlTableIOManager: {what}", fix)
        checked_identifier(self.partition_column, "SqlTableIOManager: partition_column", fix)
        if self.load_as != "auto" and self.load_as not in LOAD_KINDS:
            raise DefinitionError(
                f"SqlTableIOManager: load_as {self.load_as!r} is not one of 'auto', "
                f"{', '.join(map(repr, LOAD_KINDS))}"
            )

    def handle_output(self, context: OutputContext, value: Any) -> dict[str, Any]:
        asset = key_string(context.asset_key)
        table_name = self._table_name(context.asset_key)
        column = self._partition_column(context.partition_column)
        rows = _stamped(asset, rows_of(asset, value), column, context.partition_key)
        what = (
            "its value" if context.partition_key is None else f"partition {context.partition_key!r}"
        )
        try:
            with transaction(engine_for(self.url)) as connection:
                # writers of one partition take turns, so the last one's rows stay, once
                advisory_lock(
                    connection, "partition", self.schema, table_name, context.partition_key
                )
                table = self._table_for_write(
                    connection, asset, table_name, rows, context.partition_key, column
                )
                deleted = _delete(connection, table, column, context.partition_key)
                _insert(connection, table, rows)
        except sa.exc.DBAPIError as exc:
            raise IOManagerError(
                f"asset {asset!r}: writing {what} to table {self._shown(table_name)} failed, "
                f"so the table keeps its previous rows: {exc.orig}"
            ) from exc
        return {
            "table": self._shown(table_name),
            "rows_written": len(rows),
            "rows_deleted": deleted,
        }

    def load_input(self, context: InputContext) -> Any:
        asset = key_string(context.asset_key)
        table_name = self._table_name(context.asset_key)
        column = self._partition_column(context.partition_column)
        kind = self._load_kind(context.expects)
        keys = context.partition_keys
        with transaction(engine_for(self.url)) as connection:
            found = self._read(connection, asset, table_name, column, keys)
        if found is None:
            raise NothingStoredError(
                f"asset {asset!r}: table {self._shown(table_name)} does not exist in "
                f"{self.describe()}; materialize the asset first"
            )
        columns, rows = found
        return loaded(columns, rows, kind)

    def fingerprint(
        self, asset_key: tuple[str, ...], partition_key: str | None, default_base_url: str
    ) -> str | None:
        """A digest of the partition's rows (their order does not count); None if none.

        Partitions are found in the manager's ``partition_column``.
        """
        table_name = self._table_name(asset_key)
        with transaction(engine_for(self.url)) as connection:
            columns = stored_columns(connection, self.schema, table_name)
            if columns is None or (
                partition_key is not None and self.partition_column not in columns
            ):
                return None
            table = _table(table_name, self.schema, columns)
            statement = sa.select(table)
            if partition_key is not None:
                statement = statement.where(table.c[self.partition_column] == partition_key)
            rows = connection.execute(statement).all()
        return rows_digest(list(columns), rows)

    def relocated(self, base_url: str) -> SqlTableIOManager:
        """Writes elsewhere: a copy of a DuckDB or SQLite file, or another schema.

        A DuckDB or SQLite database is copied (now) to a file of the same name under
        ``base_url``, a local folder. On a server database (PostgreSQL) the tables go to
        a schema named after ``base_url`` (``hw_<base>_<digest>``), created on first
        write and dropped by ``discard``; loads of partitions it lacks read this
        manager's schema instead, so nothing needs copying.
        """
        parsed = sa.make_url(self.url)
        if parsed.get_backend_name() in FILE_DATABASES:
            return replace(self, url=copy_database(self.url, base_url))
        schema = relocated_schema(self.schema, base_url)
        return replace(self, schema=schema, read_through=(self.schema, *self.read_through))

    def discard(self) -> None:
        """Drop the schema of a relocated manager on a server database.

        A relocated DuckDB or SQLite copy lives under the base URL; it is only closed
        here, for the caller to delete the folder.
        """
        if sa.make_url(self.url).get_backend_name() in FILE_DATABASES:
            dispose_engine(self.url)
            return
        if not self.read_through or self.schema is None:
            raise IOManagerError(
                f"{self.describe()}: discard() drops the schema of a relocated manager, "
                "and this one is not relocated"
            )
        with transaction(engine_for(self.url)) as connection:
            connection.execute(sa.schema.DropSchema(self.schema, cascade=True, if_exists=True))

    def describe(self) -> str:
        url = sa.make_url(self.url).render_as_string(hide_password=True)
        where = f"schema {self.schema} of " if self.schema else ""
        what = f"table {self.table}" if self.table else "tables"
        return f"{what} in {where}{url}"

    def _table_name(self, asset_key: tuple[str, ...]) -> str:
        if self.table is not None:
            return self.table
        name = "__".join(asset_key)
        return checked_identifier(
            name,
            f"asset {key_string(asset_key)!r}: table name",
            "pass table='...' to its SqlTableIOManager",
        )

    def _partition_column(self, override: str | None) -> str:
        if override is None:
            return self.partition_column
        return checked_identifier(override, "partition column", "name a plain column")

    def _shown(self, table_name: str) -> str:
        return f"{self.schema}.{table_name}" if self.schema else table_name

    def _load_kind(self, expects: type | None) -> LoadKind:
        kind = expected_kind(expects) or self.load_as
        if kind == "auto":
            return "pandas" if is_installed("pandas") else "records"
        module = {"pandas": "pandas", "polars": "polars", "arrow": "pyarrow"}.get(kind)
        if module is not None:
            require(module, f"loading a table as {kind}")
        return kind  # type: ignore[return-value] # checked in __post_init__

    def _table_for_write(
        self,
        connection: sa.Connection,
        asset: str,
        table_name: str,
        rows: Rows,
        partition_key: str | None,
        column: str,
    ) -> sa.Table:
        columns = stored_columns(connection, self.schema, table_name)
        if columns is None:
            advisory_lock(connection, "create", self.schema, table_name)
            columns = stored_columns(connection, self.schema, table_name)  # made meanwhile?
        if columns is None:
            return self._create_table(connection, table_name, rows, partition_key, column)
        added = [name for name in rows.columns if name not in columns]
        missing = [name for name in columns if name not in rows.columns]
        if added or missing:
            raise IOManagerError(
                f"asset {asset!r}: its value's columns differ from table "
                f"{self._shown(table_name)}'s: new columns {added}, missing columns "
                f"{missing}; the IO manager does not alter tables: alter or drop the "
                "table, or store the asset in another table (table='...')"
            )
        return _table(table_name, self.schema, columns)

    def _create_table(
        self,
        connection: sa.Connection,
        table_name: str,
        rows: Rows,
        partition_key: str | None,
        column: str,
    ) -> sa.Table:
        if self.read_through and self.schema is not None:  # a relocated manager's own schema
            advisory_lock(connection, "schema", self.schema)
            connection.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
        table = _table(table_name, self.schema, rows.columns)
        if partition_key is not None:
            table.c[column].nullable = False
            digest = hashlib.sha256(f"{self.schema}.{table_name}.{column}".encode()).hexdigest()
            sa.Index(f"hw_partition_{digest[:16]}", table.c[column])
        table.create(connection)
        return table

    def _read(
        self,
        connection: sa.Connection,
        asset: str,
        table_name: str,
        column: str,
        keys: Sequence[str] | None,
    ) -> tuple[dict[str, SqlType], list[Sequence[Any]]] | None:
        """The columns and rows of ``keys`` (all rows when None), None if no table.

        A relocated manager reads each partition from its own schema if it has rows
        there, else from the schemas it was relocated from.
        """
        columns: dict[str, SqlType] | None = None
        remaining = list(keys) if keys is not None else None
        by_key: dict[str | None, list[Sequence[Any]]] = {}
        for schema in (self.schema, *self.read_through):
            stored = stored_columns(connection, schema, table_name)
            if stored is None:
                continue
            if remaining is not None and column not in stored:
                raise IOManagerError(
                    f"asset {asset!r}: table {self._shown(table_name)} has no column "
                    f"{column!r} to tell partitions apart: it was written unpartitioned "
                    "or with another partition_column; load it the way it was written"
                )
            columns = columns or stored
            table = _table(table_name, schema, columns)
            if remaining is None:
                return columns, list(connection.execute(sa.select(table)).all())
            for key, rows in _rows_by_key(connection, table, column, remaining).items():
                by_key[key] = rows
            remaining = [key for key in remaining if key not in by_key]
            if not remaining:
                break
        if columns is None:
            return None
        return columns, [row for key in keys or () for row in by_key.get(key, ())]


def _stamped(asset: str, rows: Rows, column: str, partition_key: str | None) -> Rows:
    """``rows`` with ``column`` holding the partition key, checked if it was there."""
    for name in rows.columns:
        if not name or len(name.encode()) > 63 or "\x00" in name:
            raise IOManagerError(
                f"asset {asset!r}: column name {name!r} cannot be stored in a table "
                "(it must be 1 to 63 bytes long, without NUL); rename the column"
            )
    if partition_key is None:
        return rows
    if column not in rows.columns:
        return rows.with_column(column, partition_key)
    others = [value for value in rows.distinct(column) if value != partition_key]
    if others:
        raise IOManagerError(
            f"asset {asset!r}: writing partition {partition_key!r}, but some rows are "
            f"stamped with another partition in column {column!r}: {others[:5]!r}; a "
            "partition's rows must all hold its key (or leave the column out and the IO "
            "manager adds it)"
        )
    return rows


def _table(name: str, schema: str | None, columns: dict[str, SqlType]) -> sa.Table:
    # every name quoted: DuckDB reserves words (such as "at") that other databases do not
    return sa.Table(
        _quoted(name),
        sa.MetaData(),
        *(sa.Column(_quoted(column), sql_type) for column, sql_type in columns.items()),
        schema=None if schema is None else _quoted(schema),
    )


def _quoted(name: str) -> sa.sql.quoted_name:
    return sa.sql.quoted_name(name, quote=True)


def _delete(
    connection: sa.Connection, table: sa.Table, column: str, partition_key: str | None
) -> int:
    statement = sa.delete(table)
    if partition_key is not None:
        statement = statement.where(table.c[column] == partition_key)
    return int(connection.execute(statement).rowcount)


def _insert(connection: sa.Connection, table: sa.Table, rows: Rows) -> None:
    if not len(rows):
        return
    if connection.dialect.name == "duckdb" and rows.arrow is not None:
        # DuckDB reads the arrow table in place: far faster than inserting row by row
        driver_connection = connection.connection.dbapi_connection
        assert driver_connection is not None  # the connection is open
        view = f"headwater_rows_{uuid.uuid4().hex}"
        driver_connection.register(view, rows.arrow)
        names = list(rows.columns)
        selected: list[sa.ColumnClause[Any]] = [sa.column(_quoted(name)) for name in names]
        source = sa.select(*selected).select_from(sa.table(view))
        # on failure the aborted transaction refuses even to unregister; the view goes
        # with the connection, which is closed
        connection.execute(sa.insert(table).from_select(names, source))
        driver_connection.unregister(view)
        return
    for batch in rows.batches():
        connection.execute(sa.insert(table), batch)


def _rows_by_key(
    connection: sa.Connection, table: sa.Table, column: str, keys: Sequence[str]
) -> dict[str | None, list[Sequence[Any]]]:
    by_key: dict[str | None, list[Sequence[Any]]] = {}
    position = list(table.c.keys()).index(column)
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        statement = sa.select(table).where(table.c[column].in_(chunk))
        for row in connection.execute(statement):
            by_key.setdefault(row[position], []).append(row)
    return by_key
