"""Quality checks of an asset's value: results, the context a check sees, and the built-ins.

A Check wraps a function of the value and a CheckContext; the built-ins (``not_empty``,
``unique``, ``fresh_column`` ...) are Checks made by the functions at the end of this module,
and a user's ``@asset_check`` function becomes one too. Checks never raise: an error is a
failed result. Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from headwater.assets.freshness import format_duration, judge_age, judge_window
from headwater.assets.tables import plain
from headwater.assets.values import (
    count_nulls,
    find_duplicates,
    newest_value,
    row_count,
    value_metadata,
)
from headwater.errors import DefinitionError

CheckFunction = Callable[[Any, "CheckContext"], Any]
"""What a Check runs: the asset's value and the context in, a check's result out."""

_RESULT_KEYS = frozenset({"passed", "description", "metadata"})
_FORMS = (
    "return True or False, None (passed), a CheckResult, a (passed, description) tuple "
    "or a dict with 'passed' and optionally 'description' and 'metadata'"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """The verdict of one check on one materialization.

    Attributes:
        check_name: the check's name, unique among the asset's checks.
        passed: whether the value passed.
        blocking: whether a failure stops the assets downstream.
        description: one sentence for people: what was found, and against what.
        metadata: numbers and examples behind the verdict; made JSON-safe on creation
            (dates as ISO text, numpy scalars as Python numbers, other objects as text).
    """

    check_name: str
    passed: bool
    blocking: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "blocking", bool(self.blocking))
        object.__setattr__(self, "metadata", jsonable(dict(self.metadata)))

    def to_json(self) -> str:
        """The result as JSON text, read back by ``from_json``."""
        return json.dumps(
            {
                "check_name": self.check_name,
                "passed": self.passed,
                "blocking": self.blocking,
                "description": self.description,
                "metadata": self.metadata,
            },
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CheckResult:
        """The result ``to_json`` wrote.

        Raises:
            ValueError: ``text`` is not JSON of a check result.
        """
        data = json.loads(text)
        try:
            return cls(
                check_name=data["check_name"],
                passed=data["passed"],
                blocking=data["blocking"],
                description=data["description"],
                metadata=data.get("metadata") or {},
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a check result's JSON ({error!r}): {text[:200]!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """What a check knows besides the value: the asset, its partition, the clock.

    Attributes:
        asset_key: the asset's key, parts joined by "/".
        partition_key: the partition checked; None for an unpartitioned asset.
        window: the partition's time window, aware UTC ``[start, end)``, for time
            partitions; else None.
        timezone: the time zone of the partitions (UTC otherwise); naive datetimes in the
            value are read in it, and dates are days in it.
        logical_date: the run's logical date, aware.
        now: the clock's now, aware.
        metadata: the value's metadata (``value_metadata`` plus what the asset added).
        previous: the metadata of the previous successful materialization of this
            partition (unpartitioned: of the asset); None if there is none.
    """

    asset_key: str
    partition_key: str | None = None
    window: tuple[datetime, datetime] | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    logical_date: datetime
    now: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    previous: Mapping[str, Any] | None = None

    @property
    def subject(self) -> str:
        """What was checked, for messages: "sales/orders partition 2026-11-24"."""
        if self.partition_key is None:
            return self.asset_key
        return f"{self.asset_key} partition {self.partition_key}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """A check of an asset's value: a built-in, or a user's ``@asset_check`` function.

    Attributes:
        name: unique among the asset's checks; results are stored under it.
        function: called with the value and a CheckContext; returns any form that
            ``coerce_result`` reads.
        blocking: whether a failure stops the assets downstream.
        description: what the check verifies, for people ("order_id has no nulls").
    """

    name: str
    function: CheckFunction
    blocking: bool = True
    description: str = ""

    def evaluate(self, value: Any, context: CheckContext) -> CheckResult:
        """Run the check on ``value``. Never raises: an error is a failed result."""
        try:
            returned = self.function(value, context)
        except Exception as error:
            return self._failure(error, "raised")
        try:
            return coerce_result(self.name, self.blocking, returned)
        except Exception as error:  # a result whose metadata breaks on reading
            return self._failure(error, "returned a result that could not be read:")

    def _failure(self, error: Exception, what: str) -> CheckResult:
        return CheckResult(
            check_name=self.name,
            passed=False,
            blocking=self.blocking,
            description=f"check {self.name} {what} {type(error).__name__}: {error}",
            metadata={
                "error": type(error).__name__,
                "traceback": "".join(traceback.format_exception(error)),
            },
        )


def coerce_result(name: str, blocking: bool, returned: Any) -> CheckResult:
    """The CheckResult for what a check function returned.

    Reads True/False, None (passed), a CheckResult (named ``name``; blocking only when
    both it and ``blocking`` are: a blocking check may report a failure that must not
    stop anything, such as a test it could not run), a ``(passed, description)`` tuple,
    and a dict with
    ``passed`` and optionally ``description`` and ``metadata``. numpy and pyarrow booleans
    count as bools. Anything else gives a failed result that says what to return.
    """
    returned = _scalar(returned)
    if isinstance(returned, CheckResult):
        return replace(returned, check_name=name, blocking=blocking and returned.blocking)
    passed: Any = None
    description: Any = None
    metadata: Any = {}
    if returned is None or isinstance(returned, bool):
        passed = returned is None or returned
    elif isinstance(returned, tuple) and len(returned) == 2:
        passed, description = returned
    elif isinstance(returned, Mapping) and set(returned) <= _RESULT_KEYS:
        passed = returned.get("passed")
        description = returned.get("description")
        metadata = returned.get("metadata") or {}
    else:
        return _misuse(name, blocking, f"returned {_shown(returned)}")
    passed = _scalar(passed)
    if not isinstance(passed, bool):
        return _misuse(name, blocking, f"gave {_shown(passed)} as 'passed' instead of a bool")
    if description is not None and not isinstance(description, str):
        return _misuse(name, blocking, f"gave {_shown(description)} as its description")
    if not isinstance(metadata, Mapping):
        return _misuse(name, blocking, f"gave {_shown(metadata)} as its metadata")
    if description is None:
        description = f"check {name} " + ("passed" if passed else "returned False")
    return CheckResult(
        check_name=name,
        passed=passed,
        blocking=blocking,
        description=description,
        metadata=metadata,
    )


def jsonable(value: Any) -> Any:
    """``value`` made JSON-safe: Python and numpy scalars as numbers (NaN as None),
    dates as ISO text, mappings and sequences item by item, anything else as its text."""
    value = _scalar(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else str(value)  # "inf", "-inf"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((jsonable(item) for item in value), key=repr)
    return str(value)


def _scalar(value: Any) -> Any:
    """numpy and pyarrow scalars as Python values; anything else as it is."""
    module = type(value).__module__
    if module.startswith("pyarrow") and hasattr(value, "as_py"):
        return value.as_py()
    if module == "numpy" and getattr(value, "ndim", None) == 0:
        return plain(value)
    return value


def _shown(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} items"
    if isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in _RESULT_KEYS)
        return f"a dict with unknown keys {unknown}"
    name = type(value).__name__
    hint = " (for a column of booleans, return its .all())" if hasattr(value, "all") else ""
    return f"a {name}{hint}"


def _misuse(name: str, blocking: bool, what: str) -> CheckResult:
    return CheckResult(
        check_name=name,
        passed=False,
        blocking=blocking,
        description=f"check {name} {what}; {_FORMS}",
    )


# Built-in checks. Each takes ``blocking`` and ``name`` (default: the function's name with
# its arguments, such as "no_nulls(order_id)") and reads what it needs off the value with
# headwater.assets.values; a ValueError from there (no such column) is a failed result.


def not_empty(*, blocking: bool = True, name: str | None = None) -> Check:
    """A check that the value has at least one row."""

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        rows = _row_count(value, context)
        if rows == 0:
            return _verdict(False, f"{context.subject} has no rows", row_count=0)
        return _verdict(True, f"{context.subject} has {_rows(rows)}", row_count=rows)

    return _builtin(_named(name, "not_empty"), check, blocking, "the value has at least one row")


def row_count_between(
    lo: int | None, hi: int | None, *, blocking: bool = True, name: str | None = None
) -> Check:
    """A check that the value has at least ``lo`` and at most ``hi`` rows (None: no bound).

    Raises:
        DefinitionError: a bound is not a whole number of rows, both are None, or lo > hi.
    """
    label = f"row_count_between({lo}, {hi})"
    for bound in (lo, hi):
        if bound is not None and (type(bound) is not int or bound < 0):
            raise DefinitionError(f"{label}: bounds are whole numbers of rows or None")
    if lo is None and hi is None:
        raise DefinitionError(f"{label} checks nothing; give a lower bound, an upper or both")
    if lo is not None and hi is not None and lo > hi:
        raise DefinitionError(f"{label}: the lower bound {lo} is above the upper {hi}")
    wanted = _range_text(lo, hi)

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        rows = _row_count(value, context)
        found = f"{context.subject} has {_rows(rows)}"
        if lo is not None and rows < lo:
            return _verdict(False, f"{found}, fewer than the minimum {lo:,}", row_count=rows)
        if hi is not None and rows > hi:
            return _verdict(False, f"{found}, more than the maximum {hi:,}", row_count=rows)
        return _verdict(True, f"{found}, {wanted}", row_count=rows)

    return _builtin(_named(name, label), check, blocking, f"the row count is {wanted}")


def row_count_change(max_pct: float, *, blocking: bool = True, name: str | None = None) -> Check:
    """A check that the row count differs by at most ``max_pct`` percent (up or down) from
    the previous materialization's; it passes, saying so, when there is none to compare.

    Raises:
        DefinitionError: ``max_pct`` is not a number of at least 0.
    """
    if type(max_pct) not in (int, float) or not 0 <= max_pct < math.inf:
        raise DefinitionError(
            f"row_count_change({max_pct!r}): max_pct is a percentage of at least 0, such as 20"
        )
    limit = f"{max_pct:g}%"

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        rows = _row_count(value, context)
        before = (context.previous or {}).get("row_count")
        if type(before) is not int:
            return _verdict(
                True,
                f"{context.subject} has {_rows(rows)}; there is no previous row count to "
                "compare with",
                row_count=rows,
            )
        change = _change_pct(before, rows)
        passed = abs(change) <= max_pct
        shown = _change_text(context.subject, before, rows, change)
        text = f"{shown}, within {limit}" if passed else f"{shown}; the limit is {limit}"
        return _verdict(
            passed,
            text,
            row_count=rows,
            previous_row_count=before,
            change_pct=change if math.isfinite(change) else None,
        )

    description = f"the row count changes by at most {limit} from the previous one"
    return _builtin(_named(name, f"row_count_change({limit})"), check, blocking, description)


def no_nulls(
    columns: str | Sequence[str], *, blocking: bool = True, name: str | None = None
) -> Check:
    """A check that ``columns`` hold no nulls (None, NaN, NaT, NA) in any row.

    Raises:
        DefinitionError: ``columns`` is not a column name or a non-empty list of them.
    """
    names = _column_names("no_nulls", columns)
    listed = ", ".join(names)

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        nulls = count_nulls(value, names)
        rows = row_count(value) or 0
        found = [f"{column} is null in {n:,} of {_rows(rows)}" for column, n in nulls.items() if n]
        if found:
            return _verdict(False, f"{context.subject}: {'; '.join(found)}", null_counts=nulls)
        text = f"{context.subject}: no nulls in {listed} ({_rows(rows)})"
        return _verdict(True, text, null_counts=nulls)

    verb = "has" if len(names) == 1 else "have"
    description = f"{listed} {verb} no nulls"
    return _builtin(_named(name, f"no_nulls({listed})"), check, blocking, description)


def unique(
    columns: str | Sequence[str], *, blocking: bool = True, name: str | None = None
) -> Check:
    """A check that no two rows have the same values of ``columns`` (taken together).
    Nulls count as values: two rows with a null key are duplicates.

    Raises:
        DefinitionError: ``columns`` is not a column name or a non-empty list of them.
    """
    names = _column_names("unique", columns)
    key = names[0] if len(names) == 1 else f"({', '.join(names)})"

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        duplicates = find_duplicates(value, names)
        if duplicates.example is None:
            rows = row_count(value) or 0
            text = f"{context.subject}: {key} is unique over {_rows(rows)}"
            return _verdict(True, text, duplicate_rows=0)
        extra = duplicates.extra_rows
        example = dict(zip(names, duplicates.example, strict=True))
        shown = ", ".join(f"{column}={_shown_item(item)}" for column, item in example.items())
        return _verdict(
            False,
            f"{context.subject}: {_rows(extra)} {'repeats' if extra == 1 else 'repeat'} an "
            f"earlier {key}, e.g. {shown} appears in {duplicates.example_count:,} rows",
            duplicate_rows=duplicates.extra_rows,
            example=example,
            example_count=duplicates.example_count,
        )

    default = f"unique({', '.join(names)})"
    return _builtin(_named(name, default), check, blocking, f"{key} is unique")


def schema_unchanged(*, blocking: bool = True, name: str | None = None) -> Check:
    """A check that the columns and their dtypes are those of the previous materialization;
    on a change it says which columns were added, removed or retyped. It passes, saying
    so, when there is no previous schema to compare with.
    """

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        current = _schema_metadata(value, context)
        fingerprint = current["schema_fingerprint"]
        previous = context.previous or {}
        before = previous.get("schema_fingerprint")
        counted = f"{len(current.get('schema') or {})} columns"
        if before is None:
            text = f"{context.subject} has {counted}; there is no previous schema to compare with"
            return _verdict(True, text, schema_fingerprint=fingerprint)
        if before == fingerprint:
            text = f"{context.subject} has the previous schema ({counted})"
            return _verdict(True, text, schema_fingerprint=fingerprint)
        changes, details = _schema_changes(previous.get("schema"), current.get("schema"))
        return _verdict(
            False,
            f"{context.subject} changed schema: {changes}",
            schema_fingerprint=fingerprint,
            previous_schema_fingerprint=before,
            **details,
        )

    description = "the columns and their dtypes are those of the previous materialization"
    return _builtin(_named(name, "schema_unchanged"), check, blocking, description)


def fresh_column(
    column: str,
    max_age: timedelta | None = None,
    *,
    blocking: bool = True,
    name: str | None = None,
) -> Check:
    """A check that the newest value of ``column`` is recent: it catches Monday's data
    stamped Tuesday.

    Without ``max_age`` the newest value must fall in the partition's time window (the
    asset must be time-partitioned). With ``max_age`` it must be at most that much older
    than the window's end, or than now for an asset without time partitions. The column
    may hold dates (days in the partitions' time zone; a date counts as its last moment
    against ``max_age``), datetimes (naive ones are in that zone), pandas and numpy
    timestamps, or ISO 8601 text. An empty value fails.

    Raises:
        DefinitionError: ``column`` is not a column name or ``max_age`` is not a positive
            timedelta.
    """
    if not isinstance(column, str) or not column:
        raise DefinitionError(f"fresh_column({column!r}): give the name of a column")
    if max_age is not None and (not isinstance(max_age, timedelta) or max_age <= timedelta(0)):
        raise DefinitionError(
            f"fresh_column({column!r}, max_age={max_age!r}): max_age is a positive timedelta, "
            "such as timedelta(hours=26)"
        )

    def check(value: Any, context: CheckContext) -> dict[str, Any]:
        if context.window is None and max_age is None:
            return _verdict(
                False,
                f"{context.asset_key} is not time-partitioned, so fresh_column({column}) needs "
                f"a max_age to judge {column} by, e.g. "
                f"fresh_column({column!r}, max_age=timedelta(hours=26))",
            )
        if row_count(value) == 0:
            return _verdict(False, f"{context.subject} has no rows, so no newest {column}")
        newest = newest_value(value, column, context.timezone)
        if newest is None:
            return _verdict(False, f"{context.subject}: {column} is null in every row")
        zone = context.timezone
        if max_age is None:
            assert context.window is not None  # checked above
            where = f"partition {context.partition_key}"
            return judge_window(column, newest, window=context.window, zone=zone, where=where)
        if context.window is None:
            reference, against = context.now, "now"
        else:
            reference, against = context.window[1], f"the end of partition {context.partition_key}"
        return judge_age(column, newest, max_age, reference=reference, against=against, zone=zone)

    if max_age is None:
        description = f"the newest {column} falls in the partition's time window"
    else:
        description = f"the newest {column} is at most {format_duration(max_age)} old"
    return _builtin(_named(name, f"fresh_column({column})"), check, blocking, description)


def _builtin(name: str, function: CheckFunction, blocking: bool, description: str) -> Check:
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"{description}: a check's name is non-empty text, got {name!r}")
    if not isinstance(blocking, bool):
        raise DefinitionError(f"check {name}: blocking is True or False, got {blocking!r}")

    def run(value: Any, context: CheckContext) -> Any:
        try:
            return function(value, context)
        except ValueError as error:  # what the value cannot give: a column, a count, a date
            return _verdict(False, f"{context.subject}: {error}")

    return Check(name=name, function=run, blocking=blocking, description=description)


def _named(name: str | None, default: str) -> str:
    return default if name is None else name


def _verdict(passed: bool, description: str, **metadata: Any) -> dict[str, Any]:
    return {"passed": passed, "description": description, "metadata": metadata}


def _row_count(value: Any, context: CheckContext) -> int:
    """The value's row count: the metadata's (the asset may have set it), else counted."""
    count = context.metadata.get("row_count")
    if type(count) is int:
        return count
    count = row_count(value)
    if count is None:
        raise ValueError(
            f"cannot count the rows of a value of type {type(value).__name__}; return a data "
            "frame, a table or a list, or add row_count to the asset's metadata"
        )
    return count


def _schema_metadata(value: Any, context: CheckContext) -> Mapping[str, Any]:
    """The value's schema and fingerprint: the metadata's, else read off the value."""
    if "schema_fingerprint" in context.metadata:
        return context.metadata
    metadata = value_metadata(value)
    if "schema_fingerprint" not in metadata:
        raise ValueError(
            f"cannot read a schema off a value of type {type(value).__name__}; return a data "
            "frame or a table, or add schema and schema_fingerprint to the asset's metadata"
        )
    return metadata


def _schema_changes(before: Any, after: Any) -> tuple[str, dict[str, Any]]:
    """What changed from schema ``before`` to ``after``, in words and as metadata."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return "the previous materialization did not record its columns", {}
    added = [column for column in after if column not in before]
    removed = [column for column in before if column not in after]
    retyped = {
        column: [before[column], dtype]
        for column, dtype in after.items()
        if column in before and before[column] != dtype
    }
    parts = []
    if added:
        parts.append("added " + ", ".join(f"{column} ({after[column]})" for column in added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    if retyped:
        parts.append(
            "retyped "
            + ", ".join(f"{column} from {old} to {new}" for column, (old, new) in retyped.items())
        )
    text = "; ".join(parts) or "the fingerprint changed but the columns and dtypes are the same"
    return text, {"added": added, "removed": removed, "retyped": retyped}


def _column_names(check: str, columns: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(columns, str):
        columns = [columns]
    if (
        not isinstance(columns, Sequence)
        or not columns
        or not all(isinstance(column, str) and column for column in columns)
    ):
        raise DefinitionError(
            f"{check}({columns!r}): give a column name or a list of them, such as "
            f'{check}("order_id") or {check}(["order_id", "line"])'
        )
    return tuple(dict.fromkeys(columns))


def _range_text(lo: int | None, hi: int | None) -> str:
    if lo is None:
        return f"at most {hi:,}"
    if hi is None:
        return f"at least {lo:,}"
    return f"between {lo:,} and {hi:,}"


def _change_pct(before: int, rows: int) -> float:
    if before == 0:
        return 0.0 if rows == 0 else math.inf
    return (rows - before) / before * 100


def _change_text(subject: str, before: int, rows: int, change: float) -> str:
    if rows == before:
        return f"{subject} has {_rows(rows)}, as many as the previous materialization"
    if before == 0:
        return f"{subject} has {_rows(rows)} where the previous materialization had none"
    direction = "more" if rows > before else "fewer"
    return (
        f"{subject} has {_rows(rows)}, {abs(change):.1f}% {direction} than the previous "
        f"materialization's {before:,}"
    )


def _rows(count: int) -> str:
    return f"{count:,} row" if count == 1 else f"{count:,} rows"


def _shown_item(item: Any) -> str:
    if isinstance(item, date):
        return item.isoformat()
    return repr(item)
