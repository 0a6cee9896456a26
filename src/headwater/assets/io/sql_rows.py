"""Rows for table IO managers: an asset's value as typed columns and rows to insert, rows
read back as the frame a downstream asset wants, and an order-independent digest of rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from headwater.assets.io.base import IOManagerError
from headwater.assets.io.values import (
    LoadKind,
    frame_kind,
    from_arrow,
    is_installed,
    is_records,
    require,
    to_arrow,
)

SqlType = sa.types.TypeEngine[Any]
BATCH_ROWS = 5000
"""Rows sent to the database in one ``executemany``."""


@dataclass(frozen=True, slots=True)
class Rows:
    """A value to write: its columns with their SQL types, and the rows themselves.

    Frames are held as one pyarrow Table (``arrow``); lists of dicts as ``records``,
    each holding every column.
    """

    columns: dict[str, SqlType]
    arrow: Any | None = None
    records: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self.arrow.num_rows if self.arrow is not None else len(self.records or ())

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        """The rows as dicts, ``BATCH_ROWS`` at a time."""
        if self.arrow is not None:
            for batch in self.arrow.to_batches(max_chunksize=BATCH_ROWS):
                yield batch.to_pylist()
            return
        records = self.records or []
        for start in range(0, len(records), BATCH_ROWS):
            yield records[start : start + BATCH_ROWS]

    def distinct(self, column: str) -> list[Any]:
        """The distinct values of ``column``."""
        if self.arrow is not None:
            import pyarrow.compute as pc

            return list(pc.unique(self.arrow[column]).to_pylist())
        values = {repr(row[column]): row[column] for row in self.records or ()}
        return list(values.values())

    def with_column(self, column: str, value: str) -> Rows:
        """These rows with a first column ``column`` holding ``value`` in every row."""
        columns: dict[str, SqlType] = {column: sa.Text(), **self.columns}
        if self.arrow is not None:
            import pyarrow as pa

            stamp = pa.array([value] * self.arrow.num_rows, pa.string())
            return Rows(columns, arrow=self.arrow.add_column(0, column, stamp))
        return Rows(columns, records=[{column: value, **row} for row in self.records or ()])


def rows_of(asset: str, value: Any) -> Rows:
    """The rows of a pandas or polars DataFrame, a pyarrow Table or a list of dicts.

    Raises:
        IOManagerError: the value is of another type, or a column cannot be stored.
    """
    kind = frame_kind(value)
    if kind is not None:
        require("pyarrow", f"asset {asset!r}: writing a {kind} frame to a table")
        try:
            table = to_arrow(value, kind, keep_unnamed_index=False)
        except (TypeError, ValueError) as exc:  # pyarrow's ArrowTypeError, ArrowInvalid
            raise IOManagerError(
                f"asset {asset!r}: cannot convert its {kind} frame to table rows: {exc}"
            ) from exc
        columns = {field.name: _sql_type_of_arrow(asset, field) for field in table.schema}
        return Rows(columns, arrow=table)
    if is_records(value):
        return _records_rows(asset, value)
    raise IOManagerError(
        f"asset {asset!r}: a table IO manager stores pandas or polars DataFrames, pyarrow "
        f"Tables and lists of dicts, not {type(value).__qualname__}; return one of those, "
        "or store the asset with FileIOManager"
    )


def _records_rows(asset: str, records: list[dict[Any, Any]]) -> Rows:
    """Columns in the order first seen; a column's type is that of its first non-null value."""
    columns: dict[str, SqlType | None] = {}
    for row in records:
        for name, item in row.items():
            if not isinstance(name, str):
                raise IOManagerError(f"asset {asset!r}: column names must be strings, got {name!r}")
            if columns.get(name) is None:
                columns[name] = None if item is None else _sql_type_of_python(asset, name, item)
    typed = {
        name: sa.Text() if sql_type is None else sql_type for name, sql_type in columns.items()
    }
    full_rows = [{name: row.get(name) for name in columns} for row in records]
    return Rows(typed, records=full_rows)


def _sql_type_of_arrow(asset: str, field: Any) -> SqlType:
    import pyarrow.types as pt

    arrow_type = field.type.value_type if pt.is_dictionary(field.type) else field.type
    checks: list[tuple[Any, SqlType]] = [
        (pt.is_boolean, sa.Boolean()),
        (pt.is_integer, sa.BigInteger()),
        (pt.is_floating, sa.Double()),
        (pt.is_date, sa.Date()),
        (pt.is_time, sa.Time()),
        (pt.is_duration, sa.Interval()),
        (pt.is_null, sa.Text()),  # only nulls so far: text is the widest guess
    ]
    if pt.is_timestamp(arrow_type):
        return sa.DateTime(timezone=arrow_type.tz is not None)
    if pt.is_decimal(arrow_type):
        return sa.Numeric(arrow_type.precision, arrow_type.scale)
    if str(arrow_type) in ("string", "large_string", "string_view"):
        return sa.Text()
    if str(arrow_type) in ("binary", "large_binary", "binary_view") or pt.is_fixed_size_binary(
        arrow_type
    ):
        return sa.LargeBinary()
    for check, sql_type in checks:
        if check(arrow_type):
            return sql_type
    raise IOManagerError(
        f"asset {asset!r}: column {field.name!r} has type {field.type} that a table IO "
        "manager does not store; convert it (to JSON text, say), or store the asset with "
        "FileIOManager"
    )


def _sql_type_of_python(asset: str, column: str, value: Any) -> SqlType:
    # bool before int, datetime before date: each is a subclass of the other
    checks: list[tuple[type | tuple[type, ...], SqlType]] = [
        (bool, sa.Boolean()),
        (int, sa.BigInteger()),
        (float, sa.Double()),
        (str, sa.Text()),
        ((bytes, bytearray), sa.LargeBinary()),
        (dt.time, sa.Time()),
        (dt.timedelta, sa.Interval()),
        (decimal.Decimal, sa.Numeric()),
    ]
    if isinstance(value, dt.datetime):
        return sa.DateTime(timezone=value.tzinfo is not None)
    if isinstance(value, dt.date):
        return sa.Date()
    for python_type, sql_type in checks:
        if isinstance(value, python_type):
            return sql_type
    raise IOManagerError(
        f"asset {asset!r}: column {column!r} holds {type(value).__qualname__} values "
        f"(such as {value!r}) that a table IO manager does not store; convert them to "
        "text, numbers or dates, or store the asset with FileIOManager"
    )


def loaded(columns: dict[str, SqlType], rows: Sequence[Sequence[Any]], kind: LoadKind) -> Any:
    """Rows read from a table, as ``kind``: a pandas, polars or arrow frame, or records."""
    names = list(columns)
    if kind == "records":
        return [dict(zip(names, row, strict=True)) for row in rows]
    if is_installed("pyarrow"):
        import pyarrow as pa

        arrays = {
            name: pa.array([row[index] for row in rows], type=_arrow_type_of_sql(sql_type))
            for index, (name, sql_type) in enumerate(columns.items())
        }
        return from_arrow(pa.table(arrays), kind)
    if kind == "polars":
        import polars

        return polars.DataFrame([list(row) for row in rows], schema=names, orient="row")
    if kind == "pandas":
        import pandas

        return pandas.DataFrame.from_records(list(rows), columns=names)
    require("pyarrow", "loading a table as a pyarrow Table")
    return None  # unreachable: require raised


def _arrow_type_of_sql(sql_type: SqlType) -> Any:
    """The arrow type for a column, None to let arrow infer it from the values."""
    import pyarrow as pa

    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if sql_type.timezone else None)
    rules: list[tuple[type[SqlType], Any]] = [
        (sa.Boolean, pa.bool_()),
        (sa.Integer, pa.int64()),
        (sa.Float, pa.float64()),  # before Numeric, its parent; decimals are inferred
        (sa.String, pa.string()),
        (sa.LargeBinary, pa.binary()),
        (sa.Date, pa.date32()),
        (sa.Time, pa.time64("us")),
        (sa.Interval, pa.duration("us")),
    ]
    for sql_class, arrow_type in rules:
        if isinstance(sql_type, sql_class):
            return arrow_type
    return None


def rows_digest(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str | None:
    """A digest of rows that ignores their order and the order of columns; None if empty."""
    if not rows:
        return None
    digests = sorted(
        hashlib.sha256(
            json.dumps(
                sorted(zip(names, row, strict=True), key=lambda pair: pair[0]), default=_canonical
            ).encode()
        ).digest()
        for row in rows
    )
    return "sha256:" + hashlib.sha256(b"".join(digests)).hexdigest()


def _canonical(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).isoformat()  # the session's time zone does not count
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return repr(value.total_seconds())
    return str(value)
