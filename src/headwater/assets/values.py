"""What can be read off a value an asset returned: its rows, columns, schema and nulls.

Data frames (pandas, polars, pyarrow) are read by ``headwater.assets.tables`` with their
own vectorised operations, without importing their libraries; plain Python values
(records, columns, lists) are read here, in Python.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from headwater.assets.tables import Duplicates, Table, as_frame_table, is_null

# The table that None and empty lists are read as: no rows, and no columns to miss.
_EMPTY = "empty value"


def value_metadata(value: Any) -> dict[str, Any]:
    """What can be read off ``value`` cheaply, for a materialization's metadata.

    Returns:
        The keys that apply: ``row_count``, ``column_count``, ``schema`` (column name to
        dtype text) and ``schema_fingerprint`` (see ``schema_fingerprint``). Lists and
        tuples of scalars give ``row_count`` only, None gives a ``row_count`` of 0, and
        values of other types give ``{}``. Frames are read without per-row work.
    """
    table = _as_table(value)
    if table is None:
        count = row_count(value)
        return {} if count is None else {"row_count": count}
    schema = table.schema()
    return {
        "row_count": table.row_count(),
        "column_count": len(schema),
        "schema": schema,
        "schema_fingerprint": schema_fingerprint(schema),
    }


def row_count(value: Any) -> int | None:
    """The number of rows of ``value``, or None when it is not something with rows."""
    if value is None:
        return 0
    if isinstance(value, list | tuple):
        return len(value)
    table = _as_table(value)
    return None if table is None else table.row_count()


def schema_fingerprint(schema: Mapping[str, str]) -> str:
    """A short hash of ``schema`` (column name to dtype text), the same for equal schemas.

    Column order does not count: a value with the same columns in another order has the
    same fingerprint.
    """
    canonical = json.dumps(sorted(schema.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def column_values(value: Any, column: str) -> Any:
    """The values of ``column`` in ``value``.

    Returns:
        The frame library's own column for frames (a pandas or polars Series, a pyarrow
        ChunkedArray), which has a length and can be iterated, else a list.

    Raises:
        ValueError: ``value`` has no column ``column`` (the message lists those it has),
            or it is not a value with columns.
    """
    table = _require_table(value)
    _require_columns(table, [column])
    return table.column(column)


def count_nulls(value: Any, columns: Sequence[str]) -> dict[str, int]:
    """How many rows of ``value`` are null (None, NaN, NaT, NA) in each of ``columns``.

    Raises:
        ValueError: as ``column_values``.
    """
    table = _require_table(value)
    _require_columns(table, columns)
    return {name: table.null_count(name) for name in columns}


def find_duplicates(value: Any, columns: Sequence[str]) -> Duplicates:
    """The rows of ``value`` whose combination of ``columns`` repeats an earlier row's.

    Nulls count as values: two rows whose key is null in the same columns are duplicates.

    Raises:
        ValueError: as ``column_values``.
    """
    table = _require_table(value)
    _require_columns(table, columns)
    return table.duplicates(columns)


def newest_value(value: Any, column: str, timezone: tzinfo) -> date | datetime | None:
    """The newest value of ``column`` in ``value``; None when every value is null.

    Reads dates, datetimes (naive ones are taken to be in ``timezone``), pandas and numpy
    timestamps, and ISO 8601 text ("2026-11-24", "2026-11-24T06:00:00+01:00").

    Returns:
        A date if the column holds dates, else an aware datetime in UTC.

    Raises:
        ValueError: as ``column_values``; or the column holds other values (numbers,
            times of day, text that is not ISO 8601), or mixes dates with datetimes.
    """
    table = _require_table(value)
    _require_columns(table, [column])
    points = [_as_point(item, column, timezone) for item in table.newest_candidates(column)]
    datetimes = [point for point in points if isinstance(point, datetime)]
    if datetimes and len(datetimes) < len(points):
        a_date = next(point for point in points if not isinstance(point, datetime))
        raise ValueError(
            f"column {column!r} mixes dates ({a_date.isoformat()}) with datetimes "
            f"({datetimes[0].isoformat()}); give it one kind of value to find the newest"
        )
    return max(points, default=None)


def _require_table(value: Any) -> Table:
    table = _as_table(value)
    if table is None and (value is None or (isinstance(value, list | tuple) and not value)):
        # no rows: every column asked for is there, and empty
        return _PythonColumns(_EMPTY, {}, 0)
    if table is None:
        if value is None or isinstance(value, list | tuple):
            what = "None" if value is None else f"a {type(value).__name__} of scalars"
        else:
            what = f"of type {type(value).__name__}"
        raise ValueError(
            f"the value has no named columns (it is {what}); columns are read off pandas and "
            "polars DataFrames, pyarrow Tables, lists of dicts and dicts of equal-length lists"
        )
    return table


def _require_columns(table: Table, columns: Sequence[str]) -> None:
    if table.kind == _EMPTY:
        return
    have = table.schema()
    missing = [name for name in columns if name not in have]
    if missing:
        listed = ", ".join(repr(name) for name in have) or "none"
        raise ValueError(
            f"the {table.kind} has no column {', '.join(repr(m) for m in missing)}; "
            f"its columns are: {listed}"
        )


def _as_table(value: Any) -> Table | None:
    """``value`` read as a table of named columns, or None if it is not one."""
    if isinstance(value, list | tuple):
        if value and all(isinstance(row, Mapping) for row in value):
            return _PythonColumns.from_records(value)
        return None
    if isinstance(value, Mapping):
        return _PythonColumns.from_columns(value)
    return as_frame_table(value)


class _PythonColumns:
    """Plain Python columns: from records (list of dicts) or a dict of equal-length lists."""

    def __init__(self, kind: str, columns: Mapping[str, Sequence[Any]], rows: int) -> None:
        self.kind = kind
        self.columns = columns
        self.rows = rows

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> _PythonColumns:
        names = dict.fromkeys(str(key) for row in records for key in row)
        # A key missing from a row is a null in that row.
        columns = {name: [row.get(name) for row in records] for name in names}
        return cls("list of records", columns, len(records))

    @classmethod
    def from_columns(cls, value: Mapping[Any, Any]) -> _PythonColumns | None:
        if not value or not all(_is_column(column) for column in value.values()):
            return None
        lengths = {len(column) for column in value.values()}
        if len(lengths) != 1:
            return None
        columns = {str(name): column for name, column in value.items()}
        return cls("dict of columns", columns, lengths.pop())

    def row_count(self) -> int:
        return self.rows

    def schema(self) -> dict[str, str]:
        return {name: _python_dtype(column) for name, column in self.columns.items()}

    def column(self, name: str) -> Any:
        return list(self.columns.get(name, ()))

    def null_count(self, name: str) -> int:
        return sum(1 for item in self.columns.get(name, ()) if is_null(item))

    def duplicates(self, names: Sequence[str]) -> Duplicates:
        keys = zip(*(self.columns.get(name, ()) for name in names), strict=True)
        counts = Counter(tuple(_hashable(item) for item in key) for key in keys)
        repeated = [(key, count) for key, count in counts.items() if count > 1]
        if not repeated:
            return Duplicates(extra_rows=0)
        example, example_count = repeated[0]
        extra = sum(count - 1 for _, count in repeated)
        return Duplicates(extra_rows=extra, example=example, example_count=example_count)

    def newest_candidates(self, name: str) -> list[Any]:
        return [item for item in self.columns.get(name, ()) if not is_null(item)]


def _is_column(column: Any) -> bool:
    if isinstance(column, list | tuple):
        return True
    # a one-dimensional numpy array, without importing numpy
    return type(column).__module__ == "numpy" and getattr(column, "ndim", None) == 1


def _python_dtype(column: Sequence[Any]) -> str:
    """The dtype text of a plain column: the Python type names seen, "int | None"."""
    dtype = getattr(column, "dtype", None)
    if dtype is not None:  # a numpy array knows its dtype
        return str(dtype)
    names = {type(item).__name__ for item in column}
    nullable = "NoneType" in names
    names.discard("NoneType")
    if not names:
        return "None" if nullable else "unknown"  # all null, or no rows
    text = " | ".join(sorted(names))
    return f"{text} | None" if nullable else text


def _hashable(item: Any) -> Any:
    """A key item that can be counted: nulls alike as None, unhashable values by repr."""
    if is_null(item):
        return None
    try:
        hash(item)
    except TypeError:
        return repr(item)
    return item


def _as_point(item: Any, column: str, timezone: tzinfo) -> date | datetime:
    """``item`` as a date, or an aware datetime in UTC; naive ones are in ``timezone``."""
    if type(item).__name__ == "datetime64":  # numpy's, without importing numpy
        unit = "D" if str(item.dtype) == "datetime64[D]" else "us"
        item = item.astype(f"datetime64[{unit}]").item()
    elif isinstance(item, str):
        item = _parse_iso(item, column)
    if isinstance(item, datetime):
        aware = item.replace(tzinfo=timezone) if item.tzinfo is None else item
        return aware.astimezone(UTC)
    if isinstance(item, date):
        return item
    raise ValueError(
        f"column {column!r} holds {type(item).__name__} values such as {item!r}; the newest "
        "value is read off dates, datetimes and ISO 8601 text"
    )


def _parse_iso(text: str, column: str) -> date | datetime:
    try:
        if len(text.strip()) <= len("2026-11-24"):
            return date.fromisoformat(text.strip())
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"column {column!r} holds {text!r}, which is not an ISO 8601 date or datetime "
            "(such as 2026-11-24 or 2026-11-24T06:00:00+01:00)"
        )
