"""Reading values: metadata and schema fingerprints, columns, nulls, duplicates, newest."""

from __future__ import annotations

import ast
import math
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from headwater.assets.values import (
    column_values,
    count_nulls,
    find_duplicates,
    newest_value,
    row_count,
    schema_fingerprint,
    value_metadata,
)
from tests.assets.conftest import Build, records

PARIS = ZoneInfo("Europe/Paris")
ASSETS = Path(__file__).parents[2] / "src" / "headwater" / "assets"


# value_metadata


def test_metadata_of_a_table_of_any_kind(build: Build) -> None:
    value = build({"order_id": [1, 2, 3], "customer": ["a", "b", "c"]})

    metadata = value_metadata(value)

    assert metadata["row_count"] == 3
    assert metadata["column_count"] == 2
    assert list(metadata["schema"]) == ["order_id", "customer"]
    assert all(isinstance(dtype, str) for dtype in metadata["schema"].values())
    assert len(metadata["schema_fingerprint"]) == 16
    int(metadata["schema_fingerprint"], 16)  # hex


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        (pd.DataFrame({"a": [1, 2], "b": [0.5, None]}), {"a": "int64", "b": "float64"}),
        (pl.DataFrame({"a": [1, 2], "b": ["x", None]}), {"a": "Int64", "b": "String"}),
        (pa.table({"a": [1, 2], "b": ["x", None]}), {"a": "int64", "b": "string"}),
        ([{"a": 1, "b": "x"}, {"a": 2}], {"a": "int", "b": "str | None"}),
        ({"a": [1, 2.5], "b": [None, None]}, {"a": "float | int", "b": "None"}),
        ({"a": np.array([1, 2]), "b": ("x", "y")}, {"a": "int64", "b": "str"}),
    ],
    ids=["pandas", "polars", "pyarrow", "records", "columns", "numpy-columns"],
)
def test_schema_names_the_dtype_of_each_column(value: Any, schema: dict[str, str]) -> None:
    assert value_metadata(value)["schema"] == schema


def test_series_and_record_batches_are_tables() -> None:
    assert value_metadata(pd.Series([1, 2, 3], name="n"))["schema"] == {"n": "int64"}
    assert value_metadata(pd.Series([1.0]))["schema"] == {"value": "float64"}
    assert value_metadata(pl.Series("n", [1, 2]))["row_count"] == 2
    assert value_metadata(pl.Series([1, 2]))["schema"] == {"value": "Int64"}
    batch = pa.RecordBatch.from_pydict({"a": [1, 2, 3]})
    assert value_metadata(batch)["row_count"] == 3


@pytest.mark.parametrize(
    ("value", "metadata"),
    [
        ([1, 2, 3], {"row_count": 3}),
        ((1, "x"), {"row_count": 2}),
        ([], {"row_count": 0}),
        (None, {"row_count": 0}),
        (42, {}),
        ("text", {}),
        (object(), {}),
        ({"a": [1, 2], "b": [1]}, {}),  # columns of unequal length
        ({"retries": 3}, {}),  # a dict of scalars
        ({}, {}),
    ],
    ids=["list", "tuple", "empty-list", "None", "int", "str", "object", "unequal", "scalars", "{}"],
)
def test_metadata_of_other_values(value: Any, metadata: dict[str, Any]) -> None:
    assert value_metadata(value) == metadata
    assert row_count(value) == metadata.get("row_count")


def test_metadata_of_a_million_row_frame_is_read_without_visiting_rows() -> None:
    size = 1_000_000
    frame = pd.DataFrame({"id": np.arange(size), "amount": np.zeros(size)})

    metadata = value_metadata(frame)

    assert metadata["row_count"] == size
    assert metadata["schema"] == {"id": "int64", "amount": "float64"}
    assert count_nulls(frame, ["amount"]) == {"amount": 0}
    assert find_duplicates(frame, ["id"]).extra_rows == 0
    assert value_metadata(pl.from_pandas(frame))["row_count"] == size


# schema_fingerprint


def test_fingerprint_does_not_depend_on_row_order() -> None:
    rows = [{"a": 1, "b": "x"}, {"b": "y", "a": 2}, {"a": 3, "b": "z"}]
    shuffled = rows[::-1]
    random.Random(4).shuffle(shuffled)

    assert (
        value_metadata(rows)["schema_fingerprint"] == value_metadata(shuffled)["schema_fingerprint"]
    )


def test_fingerprint_is_equal_for_equal_schemas_and_differs_otherwise() -> None:
    monday = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    tuesday = pd.DataFrame({"b": ["z"], "a": [9]})  # other rows, other column order
    retyped = pd.DataFrame({"a": [1.5], "b": ["x"]})

    assert (
        value_metadata(monday)["schema_fingerprint"]
        == (value_metadata(tuesday)["schema_fingerprint"])
    )
    assert (
        value_metadata(monday)["schema_fingerprint"]
        != (value_metadata(retyped)["schema_fingerprint"])
    )
    assert schema_fingerprint({"a": "int64"}) == schema_fingerprint({"a": "int64"})
    assert schema_fingerprint({"a": "int64"}) != schema_fingerprint({"a": "int32"})


# column_values


def test_column_values_of_each_kind(build: Build) -> None:
    value = build({"order_id": [3, 1, 2], "customer": ["a", "b", "c"]})

    column = column_values(value, "order_id")

    assert len(column) == 3
    assert [int(str(item)) for item in column] == [3, 1, 2]


def test_column_values_of_a_frame_is_the_frame_s_own_column() -> None:
    assert isinstance(column_values(pd.DataFrame({"a": [1]}), "a"), pd.Series)
    assert isinstance(column_values(pd.DataFrame({0: [1]}), "0"), pd.Series)
    assert isinstance(column_values(pl.DataFrame({"a": [1]}), "a"), pl.Series)
    assert column_values([{"a": 1}, {"b": 2}], "a") == [1, None]


def test_a_missing_column_is_named_with_those_there_are(build: Build) -> None:
    value = build({"order_id": [1], "customer": ["a"]})

    with pytest.raises(ValueError, match="has no column 'amount'") as caught:
        column_values(value, "amount")

    assert "its columns are: 'order_id', 'customer'" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, r"no named columns \(it is of type int\)"),
        ([1, 2], r"no named columns \(it is a list of scalars\)"),
        ("text", r"no named columns \(it is of type str\)"),
    ],
)
def test_column_values_of_a_value_without_columns(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        column_values(value, "a")


# count_nulls and find_duplicates


def test_nulls_are_counted_per_column(build: Build) -> None:
    value = build({"a": [1, None, 3, None], "b": ["x", "y", None, "z"]})

    assert count_nulls(value, ["a", "b"]) == {"a": 2, "b": 1}


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame({"a": [1.0, math.nan, None]}),
        pl.DataFrame({"a": [1.0, math.nan, None]}, strict=False),
        pa.table({"a": [1.0, math.nan, None]}),
        [{"a": 1.0}, {"a": math.nan}, {"a": None}],
        pd.DataFrame({"a": [pd.Timestamp("2026-01-01"), pd.NaT, None]}),
        {"a": [1, pd.NA, None]},
    ],
    ids=["pandas", "polars", "pyarrow", "records", "pandas-NaT", "NA"],
)
def test_nan_nat_and_na_count_as_nulls(value: Any) -> None:
    assert count_nulls(value, ["a"]) == {"a": 2}


def test_duplicates_over_a_combination_of_columns(build: Build) -> None:
    value = build(
        {
            "order_id": [1, 1, 2, 1, 2, 3],
            "line": [1, 2, 1, 2, 1, 1],
        }
    )

    duplicates = find_duplicates(value, ["order_id", "line"])

    assert duplicates.extra_rows == 2  # (1, 2) and (2, 1) each come back once
    assert duplicates.example == (1, 2)
    assert duplicates.example_count == 2
    assert find_duplicates(value, ["order_id"]).extra_rows == 3


def test_no_duplicates(build: Build) -> None:
    value = build({"order_id": [1, 2, 3]})

    duplicates = find_duplicates(value, ["order_id"])

    assert (duplicates.extra_rows, duplicates.example) == (0, None)


def test_null_keys_are_duplicates_of_each_other(build: Build) -> None:
    value = build({"order_id": [1, None, None]})

    duplicates = find_duplicates(value, ["order_id"])

    assert (duplicates.extra_rows, duplicates.example, duplicates.example_count) == (1, (None,), 2)


def test_empty_values_have_every_column_empty() -> None:
    empty: list[Any] = [None, [], ()]
    for value in empty:
        assert count_nulls(value, ["a"]) == {"a": 0}
        assert find_duplicates(value, ["a"]).extra_rows == 0
        assert newest_value(value, "a", UTC) is None


# newest_value


def test_newest_date(build: Build) -> None:
    value = build({"day": [date(2026, 11, 23), None, date(2026, 11, 24), date(2026, 11, 2)]})

    assert newest_value(value, "day", PARIS) == date(2026, 11, 24)


def test_newest_naive_datetime_is_read_in_the_time_zone(build: Build) -> None:
    value = build({"at": [datetime(2026, 11, 24, 23, 30), datetime(2026, 11, 24, 1)]})

    assert newest_value(value, "at", PARIS) == datetime(2026, 11, 24, 22, 30, tzinfo=UTC)


def test_newest_aware_datetime_is_in_utc(build: Build) -> None:
    value = build({"at": [datetime(2026, 11, 24, 6, tzinfo=PARIS), None]})

    newest = newest_value(value, "at", UTC)

    assert newest == datetime(2026, 11, 24, 5, tzinfo=UTC)
    assert isinstance(newest, datetime)
    assert newest.utcoffset() is not None


def test_newest_of_iso_text(build: Build) -> None:
    dates = build({"day": ["2026-11-23", "2026-11-24", None]})
    times = build({"at": ["2026-11-24T23:30:00", "2026-11-24T23:00:00+00:00"]})

    assert newest_value(dates, "day", PARIS) == date(2026, 11, 24)
    assert newest_value(times, "at", PARIS) == datetime(2026, 11, 24, 23, tzinfo=UTC)


def test_newest_of_numpy_datetimes() -> None:
    value = {"at": [np.datetime64("2026-11-24T06:00"), np.datetime64("2026-11-23T12:00")]}

    assert newest_value(value, "at", UTC) == datetime(2026, 11, 24, 6, tzinfo=UTC)
    assert newest_value({"day": [np.datetime64("2026-11-24")]}, "day", UTC) == date(2026, 11, 24)


def test_newest_of_an_all_null_column_is_none(build: Build) -> None:
    assert newest_value(build({"day": [None, None]}), "day", UTC) is None


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([1, 2], "holds int values such as"),
        (["yesterday"], "holds 'yesterday', which is not an ISO 8601 date"),
        (["2026-11-24", "2026-11-24T06:00:00"], "mixes dates .* with datetimes"),
    ],
)
def test_newest_of_other_values_says_what_it_reads(items: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        newest_value(records({"day": items}), "day", UTC)


# laziness


@pytest.mark.parametrize("path", sorted(ASSETS.glob("*.py")), ids=lambda path: path.name)
def test_the_frame_libraries_are_never_imported(path: Path) -> None:
    # Given a module of the assets package, when reading its imports,
    # then none is of a frame library: they are optional, and found in sys.modules.
    heavy = {"pandas", "polars", "pyarrow", "numpy"}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported & heavy == set()
