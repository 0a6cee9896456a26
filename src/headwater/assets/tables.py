"""A value read as a table of named columns: the Table contract and the data frame readers.

pandas, polars and pyarrow frames are read with their libraries' vectorised operations.
None of these libraries is imported here: a value can only be one of their frames if its
library is already loaded, so each is looked up in ``sys.modules``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Group sizes are counted under this name, away from the user's columns.
_COUNT = "__headwater_count__"
# The column name of a series that has none.
UNNAMED = "value"


@dataclass(frozen=True, slots=True, kw_only=True)
class Duplicates:
    """The rows of a value that repeat an earlier row's key (a combination of columns).

    Attributes:
        extra_rows: how many rows repeat an earlier row's key (0 when the key is unique).
        example: the first repeated key, one item per column (nulls as None); None when
            there is none.
        example_count: how many rows have ``example`` as their key.
    """

    extra_rows: int
    example: tuple[Any, ...] | None = None
    example_count: int = 0


class Table(Protocol):
    """A value read as a table. Column names given to its methods are known to exist."""

    kind: str
    """What the value is, as messages show it ("pandas DataFrame", "list of records")."""

    def row_count(self) -> int:
        """The number of rows."""
        ...

    def schema(self) -> dict[str, str]:
        """Column name to dtype text, in the table's column order."""
        ...

    def column(self, name: str) -> Any:
        """The column's values: the library's own column type, or a list."""
        ...

    def null_count(self, name: str) -> int:
        """How many of the column's values are null (None, NaN, NaT, NA)."""
        ...

    def duplicates(self, names: Sequence[str]) -> Duplicates:
        """The rows repeating an earlier row's values of ``names``; nulls count as values."""
        ...

    def newest_candidates(self, name: str) -> list[Any]:
        """The column's maximum alone if its dtype is a date or datetime, else its distinct
        non-null values; [] when every value is null."""
        ...


def as_frame_table(value: Any) -> Table | None:
    """``value`` read as a table if it is a pandas, polars or pyarrow frame, else None."""
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        if isinstance(value, pandas.DataFrame):
            return _PandasTable(value, "pandas DataFrame")
        if isinstance(value, pandas.Series):
            name = UNNAMED if value.name is None else value.name
            return _PandasTable(value.to_frame(name=name), "pandas Series")
    polars = sys.modules.get("polars")
    if polars is not None:
        if isinstance(value, polars.DataFrame):
            return _PolarsTable(value, "polars DataFrame", polars)
        if isinstance(value, polars.Series):
            frame = value.to_frame(name=value.name or UNNAMED)
            return _PolarsTable(frame, "polars Series", polars)
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        if isinstance(value, pyarrow.Table):
            return _ArrowTable(value, "pyarrow Table", pyarrow)
        if isinstance(value, pyarrow.RecordBatch):
            table = pyarrow.Table.from_batches([value])
            return _ArrowTable(table, "pyarrow RecordBatch", pyarrow)
    return None


def is_null(item: Any) -> bool:
    """Whether ``item`` is a null: None, a float NaN, pandas' NaT or NA."""
    if item is None:
        return True
    try:
        return bool(item != item)  # only NaN and NaT differ from themselves
    except (TypeError, ValueError):
        return type(item).__name__ == "NAType"  # pandas.NA refuses to be a bool


def plain(item: Any) -> Any:
    """``item`` as a Python value: numpy and pyarrow scalars unwrapped, nulls as None."""
    if is_null(item):
        return None
    module = type(item).__module__
    if module.startswith("pyarrow") and hasattr(item, "as_py"):
        return item.as_py()
    # numpy's datetime64.item() may give an int of nanoseconds: keep those as they are
    if module == "numpy" and hasattr(item, "item") and type(item).__name__ != "datetime64":
        return item.item()
    return item


class _PandasTable:
    def __init__(self, frame: Any, kind: str) -> None:
        self.frame = frame
        self.kind = kind
        # pandas allows column names of any type; they are shown and looked up as text
        self.names = {str(name): name for name in frame.columns}

    def row_count(self) -> int:
        return len(self.frame)

    def schema(self) -> dict[str, str]:
        return {str(name): str(dtype) for name, dtype in self.frame.dtypes.items()}

    def column(self, name: str) -> Any:
        return self.frame[self.names[name]]

    def null_count(self, name: str) -> int:
        return int(self.column(name).isna().sum())

    def duplicates(self, names: Sequence[str]) -> Duplicates:
        keys = [self.names[name] for name in names]
        groups = self.frame.groupby(keys, dropna=False, sort=False, observed=True)
        sizes = groups.size()
        repeated = sizes[sizes > 1]
        if repeated.empty:
            return Duplicates(extra_rows=0)
        first = repeated.index[0]
        example = first if isinstance(first, tuple) else (first,)
        return Duplicates(
            extra_rows=int(repeated.sum()) - len(repeated),
            example=tuple(plain(item) for item in example),
            example_count=int(repeated.iloc[0]),
        )

    def newest_candidates(self, name: str) -> list[Any]:
        column = self.column(name)
        if column.dtype.kind == "M":  # datetime64, with or without a time zone
            newest = column.max()
            return [] if is_null(newest) else [newest]
        return [plain(item) for item in column.dropna().unique()]


class _PolarsTable:
    def __init__(self, frame: Any, kind: str, polars: Any) -> None:
        self.frame = frame
        self.kind = kind
        self.polars = polars

    def row_count(self) -> int:
        return int(self.frame.height)

    def schema(self) -> dict[str, str]:
        return {name: str(dtype) for name, dtype in self.frame.schema.items()}

    def column(self, name: str) -> Any:
        return self.frame.get_column(name)

    def null_count(self, name: str) -> int:
        column = self.column(name)
        nulls = int(column.null_count())
        if column.dtype.is_float():  # polars keeps NaN apart from null; both are missing
            nulls += int(column.is_nan().sum())
        return nulls

    def duplicates(self, names: Sequence[str]) -> Duplicates:
        count = self.polars.col(_COUNT)
        groups = self.frame.group_by(list(names), maintain_order=True)
        sizes = groups.agg(self.polars.len().alias(_COUNT))
        repeated = sizes.filter(count > 1)
        if repeated.height == 0:
            return Duplicates(extra_rows=0)
        first = repeated.row(0)
        return Duplicates(
            extra_rows=int(repeated.get_column(_COUNT).sum()) - repeated.height,
            example=tuple(plain(item) for item in first[:-1]),
            example_count=int(first[-1]),
        )

    def newest_candidates(self, name: str) -> list[Any]:
        column = self.column(name)
        if column.dtype.is_temporal():
            newest = column.max()
            return [] if newest is None else [newest]
        return list(column.drop_nulls().unique(maintain_order=True).to_list())


class _ArrowTable:
    def __init__(self, table: Any, kind: str, pyarrow: Any) -> None:
        self.table = table
        self.kind = kind
        self.pyarrow = pyarrow
        # a submodule that ``import pyarrow`` may not have loaded; pyarrow itself is loaded
        self.compute = importlib.import_module("pyarrow.compute")

    def row_count(self) -> int:
        return int(self.table.num_rows)

    def schema(self) -> dict[str, str]:
        return {field.name: str(field.type) for field in self.table.schema}

    def column(self, name: str) -> Any:
        return self.table.column(name)

    def null_count(self, name: str) -> int:
        nulls = self.compute.is_null(self.column(name), nan_is_null=True)
        return int(self.compute.sum(nulls).as_py() or 0)

    def duplicates(self, names: Sequence[str]) -> Duplicates:
        # keys renamed by position so that no user column clashes with the count's name
        keys = [f"key_{index}" for index in range(len(names))]
        table = self.table.select(list(names)).rename_columns(keys)
        sizes = table.group_by(keys, use_threads=False).aggregate([([], "count_all")])
        repeated = sizes.filter(self.compute.greater(sizes.column("count_all"), 1))
        if repeated.num_rows == 0:
            return Duplicates(extra_rows=0)
        first = repeated.slice(0, 1).to_pylist()[0]
        total = self.compute.sum(repeated.column("count_all")).as_py()
        return Duplicates(
            extra_rows=int(total) - repeated.num_rows,
            example=tuple(plain(first[key]) for key in keys),
            example_count=int(first["count_all"]),
        )

    def newest_candidates(self, name: str) -> list[Any]:
        column = self.column(name)
        types = self.pyarrow.types
        if types.is_timestamp(column.type) or types.is_date(column.type):
            newest = self.compute.max(column).as_py()
            return [] if newest is None else [newest]
        distinct = self.compute.unique(self.compute.drop_null(column))
        return list(distinct.to_pylist())
