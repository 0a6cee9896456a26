"""What kind of value an asset returned, conversions between frame libraries, and how the
values of several partitions combine into one.

pandas, polars and pyarrow are optional: a value can only be one of their frames if the
library is imported already, so looking at ``sys.modules`` never imports them.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from headwater.assets.io.base import IOManagerError

FrameKind = Literal["pandas", "polars", "arrow"]
LoadKind = Literal["pandas", "polars", "arrow", "records"]
FRAME_KINDS: tuple[FrameKind, ...] = ("pandas", "polars", "arrow")
LOAD_KINDS: tuple[LoadKind, ...] = ("pandas", "polars", "arrow", "records")
INSTALL_HINT = "install it (pip install 'headwater[assets]' brings pandas and pyarrow)"


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None: its import is blocked
    return importlib.util.find_spec(module) is not None


def frame_kind(value: object) -> FrameKind | None:
    """The library of a data frame or table; None for any other value."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return "pandas"
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(value, polars.DataFrame):
        return "polars"
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and isinstance(value, pyarrow.Table):
        return "arrow"
    return None


def is_records(value: object) -> bool:
    """Whether ``value`` is a list of mappings (rows as dicts)."""
    return isinstance(value, list) and all(isinstance(row, Mapping) for row in value)


def is_json_value(value: object) -> bool:
    """Whether ``value`` loads back from JSON as an equal value of the same types.

    Tuples, non-string dict keys and non-finite floats would come back changed, so
    values holding them are not JSON values.
    """
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json_value(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_json_value(item) for key, item in value.items())
    return False


def expected_kind(expects: object) -> LoadKind | None:
    """The kind an annotation asks for: a frame library, "records" for a list; else None."""
    if expects is None:
        return None
    origin = typing.get_origin(expects) or expects
    if origin is list:
        return "records"
    module = getattr(origin, "__module__", "") or ""
    name = getattr(origin, "__qualname__", "")
    if module.split(".")[0] == "pandas" and name == "DataFrame":
        return "pandas"
    if module.split(".")[0] == "polars" and name == "DataFrame":
        return "polars"
    if module.split(".")[0] == "pyarrow" and name == "Table":
        return "arrow"
    return None


def require(module: str, purpose: str) -> None:
    """Raise a clear error when an optional library needed for ``purpose`` is missing."""
    if not is_installed(module):
        raise IOManagerError(f"{purpose} needs {module}, which is not installed; {INSTALL_HINT}")


def to_arrow(value: Any, kind: FrameKind, *, keep_unnamed_index: bool = True) -> Any:
    """A pyarrow Table holding the frame ``value`` (pyarrow must be installed).

    A pandas index is kept for pandas to restore; with ``keep_unnamed_index`` False (for
    a table), a named index becomes columns and an unnamed one (0..n-1, or what is left
    of it after filtering rows) is dropped.
    """
    import pyarrow as pa

    if kind == "pandas":
        named = any(name is not None for name in value.index.names)
        return pa.Table.from_pandas(value, preserve_index=None if keep_unnamed_index else named)
    if kind == "polars":
        return value.to_arrow()
    return value


def from_arrow(table: Any, kind: LoadKind) -> Any:
    """The pyarrow ``table`` as a frame of ``kind`` (or as records)."""
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        import polars

        return polars.from_arrow(table)
    if kind == "records":
        return table.to_pylist()
    return table


def combine(values: Mapping[str, Any]) -> Any:
    """One value for several partitions, in the order of ``values``.

    Frames of one library are concatenated, lists too; anything else (or a mix) comes
    as the dict ``{partition_key: value}``. A single partition's value comes as it is.
    """
    items = list(values.values())
    if len(items) == 1:
        return items[0]
    kinds = {frame_kind(item) for item in items}
    if items and len(kinds) == 1 and None not in kinds:
        return concat_frames(items, kinds.pop())  # type: ignore[arg-type] # not None: checked
    if items and all(isinstance(item, list) for item in items):
        return [row for item in items for row in item]
    return dict(values)


def concat_frames(frames: Sequence[Any], kind: FrameKind) -> Any:
    """Frames of one library stacked one after the other."""
    if len(frames) == 1:
        return frames[0]
    if kind == "pandas":
        import pandas

        # a default index (0..n-1) is renumbered; a meaningful one (dates) is kept
        renumber = all(isinstance(frame.index, pandas.RangeIndex) for frame in frames)
        return pandas.concat(frames, ignore_index=renumber)
    if kind == "polars":
        import polars

        return polars.concat(frames, how="vertical_relaxed")
    import pyarrow as pa

    return pa.concat_tables(frames, promote_options="default")
