"""Quality checks: the built-ins on every kind of value, results, and what checks return."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from headwater.assets.checks import (
    Check,
    CheckContext,
    CheckResult,
    coerce_result,
    fresh_column,
    no_nulls,
    not_empty,
    row_count_between,
    row_count_change,
    schema_unchanged,
    unique,
)
from headwater.assets.values import value_metadata
from headwater.errors import DefinitionError
from tests.assets.conftest import Build

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
# The daily partition 2026-11-24 of Europe/Paris: [2026-11-23 23:00Z, 2026-11-24 23:00Z).
PARIS_DAY = (datetime(2026, 11, 23, 23, tzinfo=UTC), datetime(2026, 11, 24, 23, tzinfo=UTC))
UTC_DAY = (datetime(2026, 11, 24, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC))


def context(value: Any = None, **fields: Any) -> CheckContext:
    """The context of partition 2026-11-24 (UTC) of sales/orders, checked at NOW."""
    defaults: dict[str, Any] = {
        "asset_key": "sales/orders",
        "partition_key": "2026-11-24",
        "window": UTC_DAY,
        "timezone": ZoneInfo("UTC"),
        "logical_date": UTC_DAY[0],
        "now": NOW,
        "metadata": value_metadata(value),
    }
    return CheckContext(**(defaults | fields))


def run(check: Check, value: Any, **fields: Any) -> CheckResult:
    return check.evaluate(value, context(value, **fields))


# not_empty, row_count_between, row_count_change


def test_not_empty(build: Build) -> None:
    passed = run(not_empty(), build({"a": [1, 2]}))
    failed = run(not_empty(), build({"a": []}))

    assert (passed.passed, passed.description) == (
        True,
        "sales/orders partition 2026-11-24 has 2 rows",
    )
    assert (failed.passed, failed.description) == (
        False,
        "sales/orders partition 2026-11-24 has no rows",
    )
    assert failed.metadata == {"row_count": 0}


def test_not_empty_of_none_and_of_unpartitioned_assets() -> None:
    result = run(not_empty(), None, partition_key=None, window=None)

    assert (result.passed, result.description) == (False, "sales/orders has no rows")


def test_row_count_between(build: Build) -> None:
    value = build({"a": [1, 2, 3]})

    assert run(row_count_between(1, 3), value).passed
    assert run(row_count_between(None, 5), value).description.endswith("3 rows, at most 5")
    below = run(row_count_between(10, None), value)
    above = run(row_count_between(0, 2), value)

    assert not below.passed
    assert below.description.endswith("has 3 rows, fewer than the minimum 10")
    assert not above.passed
    assert above.description.endswith("has 3 rows, more than the maximum 2")


def test_the_row_count_an_asset_recorded_is_the_one_checked() -> None:
    # Given an asset returning a path, which recorded how many rows it wrote
    result = run(not_empty(), "s3://bucket/orders.parquet", metadata={"row_count": 12})

    assert result.passed
    assert "has 12 rows" in result.description


def test_row_count_change_without_a_previous_materialization_passes_saying_so(
    build: Build,
) -> None:
    result = run(row_count_change(20), build({"a": [1, 2]}), previous=None)

    assert result.passed
    assert result.description == (
        "sales/orders partition 2026-11-24 has 2 rows; there is no previous row count to "
        "compare with"
    )


def test_row_count_change_against_the_previous_materialization(build: Build) -> None:
    value = build({"a": list(range(10))})

    within = run(row_count_change(20), value, previous={"row_count": 9})
    beyond = run(row_count_change(20), value, previous={"row_count": 20})

    assert within.passed
    assert within.description.endswith(
        "11.1% more than the previous materialization's 9, within 20%"
    )
    assert not beyond.passed
    assert beyond.description == (
        "sales/orders partition 2026-11-24 has 10 rows, 50.0% fewer than the previous "
        "materialization's 20; the limit is 20%"
    )
    assert beyond.metadata == {"row_count": 10, "previous_row_count": 20, "change_pct": -50.0}


def test_row_count_change_from_no_rows() -> None:
    grew = run(row_count_change(50), [1, 2], previous={"row_count": 0})
    still_empty = run(row_count_change(50), [], previous={"row_count": 0})

    assert not grew.passed
    assert "where the previous materialization had none" in grew.description
    assert grew.metadata["change_pct"] is None
    assert still_empty.passed


# no_nulls and unique


def test_no_nulls(build: Build) -> None:
    clean = build({"order_id": [1, 2, 3], "note": ["a", None, "c"]})
    dirty = build({"order_id": [1, None, 3], "note": [None, None, "c"]})

    assert run(no_nulls("order_id"), clean).passed
    failed = run(no_nulls(["order_id", "note"]), dirty)

    assert not failed.passed
    assert failed.description == (
        "sales/orders partition 2026-11-24: order_id is null in 1 of 3 rows; "
        "note is null in 2 of 3 rows"
    )
    assert failed.metadata == {"null_counts": {"order_id": 1, "note": 2}}


def test_no_nulls_on_a_missing_column_fails_naming_the_columns(build: Build) -> None:
    result = run(no_nulls("order_id"), build({"id": [1]}))

    assert not result.passed
    assert "has no column 'order_id'; its columns are: 'id'" in result.description


def test_unique(build: Build) -> None:
    value = build({"order_id": [1, 1, 2, 2, 2], "line": [1, 2, 1, 1, 1]})

    assert run(unique(["order_id", "line"]), build({"order_id": [1, 2], "line": [1, 1]})).passed
    one_column = run(unique("order_id"), value)
    two_columns = run(unique(["order_id", "line"]), value)

    assert one_column.description == (
        "sales/orders partition 2026-11-24: 3 rows repeat an earlier order_id, "
        "e.g. order_id=1 appears in 2 rows"
    )
    assert two_columns.description == (
        "sales/orders partition 2026-11-24: 2 rows repeat an earlier (order_id, line), "
        "e.g. order_id=2, line=1 appears in 3 rows"
    )
    assert two_columns.metadata == {
        "duplicate_rows": 2,
        "example": {"order_id": 2, "line": 1},
        "example_count": 3,
    }


def test_unique_and_no_nulls_pass_on_an_empty_value(build: Build) -> None:
    empty: list[Any] = [build({"order_id": []}), None, []]
    for value in empty:
        assert run(unique("order_id"), value).passed
        assert run(no_nulls("order_id"), value).passed


# fresh_column: the newest value against the partition's window


@pytest.mark.parametrize(
    ("newest", "passed"),
    [(date(2026, 11, 23), False), (date(2026, 11, 24), True), (date(2026, 11, 25), False)],
)
def test_fresh_column_dates_in_a_daily_window(build: Build, newest: date, passed: bool) -> None:
    value = build({"event_date": [date(2026, 11, 20), newest, None]})

    result = run(fresh_column("event_date"), value, window=PARIS_DAY, timezone=PARIS)

    assert result.passed is passed


def test_fresh_column_says_which_day_the_partition_covers() -> None:
    value = [{"event_date": date(2026, 11, 23)}]

    utc = run(fresh_column("event_date"), value)
    paris = run(fresh_column("event_date"), value, window=PARIS_DAY, timezone=PARIS)

    assert utc.description == (
        "newest event_date is 2026-11-23, but partition 2026-11-24 covers 2026-11-24 (UTC)"
    )
    assert paris.description.endswith("partition 2026-11-24 covers 2026-11-24 (Europe/Paris)")
    assert utc.metadata == {
        "newest": "2026-11-23",
        "window_start": "2026-11-24T00:00:00+00:00",
        "window_end": "2026-11-25T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("newest", "passed"),
    [
        (datetime(2026, 11, 24, 23, 30), True),  # 22:30 UTC: in Paris's day, not in UTC's
        (datetime(2026, 11, 24, 0, 0), True),
        (datetime(2026, 11, 23, 23, 59), False),
        (datetime(2026, 11, 25, 0, 0), False),
    ],
)
def test_fresh_column_naive_datetimes_are_in_the_partitions_time_zone(
    build: Build, newest: datetime, passed: bool
) -> None:
    value = build({"at": [datetime(2026, 11, 20), newest]})

    result = run(fresh_column("at"), value, window=PARIS_DAY, timezone=PARIS)

    assert result.passed is passed


def test_fresh_column_aware_datetimes_and_the_window_end_is_excluded(build: Build) -> None:
    inside = build({"at": [datetime(2026, 11, 24, 23, 59, tzinfo=UTC)]})
    at_end = build({"at": [datetime(2026, 11, 25, tzinfo=UTC)]})

    assert run(fresh_column("at"), inside).passed
    failed = run(fresh_column("at"), at_end)

    assert failed.description == (
        "newest at is 2026-11-25 00:00:00+00:00, but partition 2026-11-24 covers 2026-11-24 (UTC)"
    )


def test_fresh_column_iso_text(build: Build) -> None:
    value = build({"day": ["2026-11-23", "2026-11-24"], "at": ["2026-11-24T23:30:00", None]})

    assert run(fresh_column("day"), value, window=PARIS_DAY, timezone=PARIS).passed
    assert run(fresh_column("at"), value, window=PARIS_DAY, timezone=PARIS).passed
    # read in UTC, 2026-11-24T23:30 is after the end of Paris's 24th, 23:00 UTC
    assert not run(fresh_column("at"), value, window=PARIS_DAY).passed


def test_fresh_column_on_the_day_summer_time_ends() -> None:
    # 2026-10-25 in Paris has 25 hours: [2026-10-24 22:00Z, 2026-10-25 23:00Z)
    window = (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
    late = {"at": [datetime(2026, 10, 25, 23, 30)]}  # 22:30Z

    result = run(
        fresh_column("at"), late, window=window, timezone=PARIS, partition_key="2026-10-25"
    )

    assert result.passed
    assert result.description == (
        "newest at 2026-10-25 23:30:00+01:00 falls in partition 2026-10-25 "
        "(2026-10-25 (Europe/Paris))"
    )


def test_fresh_column_describes_hourly_windows() -> None:
    window = (datetime(2026, 11, 24, 5, tzinfo=UTC), datetime(2026, 11, 24, 6, tzinfo=UTC))
    value = {"at": [datetime(2026, 11, 24, 4, 59, tzinfo=UTC)]}

    result = run(fresh_column("at"), value, window=window, partition_key="2026-11-24-05:00")

    assert result.description.endswith(
        "but partition 2026-11-24-05:00 covers 2026-11-24 05:00 to 2026-11-24 06:00 (UTC)"
    )
    assert run(fresh_column("at"), {"at": [date(2026, 11, 24)]}, window=window).passed


# fresh_column: with max_age


def test_fresh_column_max_age_counts_from_the_end_of_the_window(build: Build) -> None:
    check = fresh_column("event_date", max_age=timedelta(hours=26))
    yesterday = build({"event_date": [date(2026, 11, 23)]})  # a day old at the window's end
    older = build({"event_date": [date(2026, 11, 22)]})

    assert run(check, yesterday, window=PARIS_DAY, timezone=PARIS).passed
    failed = run(check, older, window=PARIS_DAY, timezone=PARIS)

    assert failed.description == (
        "newest event_date is 2026-11-22, 2 days before the end of partition 2026-11-24 "
        "(2026-11-25 00:00:00+01:00); the limit is 1 day 2 hours"
    )


def test_fresh_column_max_age_without_partitions_counts_from_now(build: Build) -> None:
    check = fresh_column("at", max_age=timedelta(hours=26))
    recent = build({"at": [NOW - timedelta(hours=1)]})
    stale = build({"at": [NOW - timedelta(hours=30), None]})

    assert run(check, recent, partition_key=None, window=None).passed
    failed = run(check, stale, partition_key=None, window=None)

    assert failed.description == (
        "newest at is 2026-11-24 00:00:00+00:00, 1 day 6 hours before now "
        "(2026-11-25 06:00:00+00:00); the limit is 1 day 2 hours"
    )
    assert failed.metadata["max_age"] == 26 * 3600


def test_fresh_column_needs_a_time_window_or_a_max_age() -> None:
    result = run(fresh_column("at"), {"at": [NOW]}, partition_key="eu", window=None)

    assert not result.passed
    assert result.description == (
        "sales/orders is not time-partitioned, so fresh_column(at) needs a max_age to judge at "
        "by, e.g. fresh_column('at', max_age=timedelta(hours=26))"
    )


def test_fresh_column_fails_on_an_empty_or_all_null_column(build: Build) -> None:
    empty = run(fresh_column("at"), build({"at": []}))
    nulls = run(fresh_column("at"), build({"at": [None, None], "b": [1, 2]}))

    assert empty.description == "sales/orders partition 2026-11-24 has no rows, so no newest at"
    assert nulls.description == "sales/orders partition 2026-11-24: at is null in every row"
    assert not empty.passed
    assert not nulls.passed


def test_fresh_column_on_numbers_says_what_it_reads(build: Build) -> None:
    result = run(fresh_column("at"), build({"at": [1, 2]}))

    assert not result.passed
    assert "holds int values such as" in result.description


# schema_unchanged


def test_schema_unchanged_without_a_previous_schema_passes_saying_so(build: Build) -> None:
    value = build({"a": [1], "b": ["x"]})

    for previous in (None, {"row_count": 3}):
        result = run(schema_unchanged(), value, previous=previous)
        assert result.passed
        assert result.description.endswith(
            "has 2 columns; there is no previous schema to compare with"
        )


def test_schema_unchanged_against_the_previous_schema(build: Build) -> None:
    monday = build({"a": [1], "b": ["x"], "c": [1]})
    same = build({"a": [2, 3], "b": ["y", "z"], "c": [4, 5]})
    changed = build({"a": [1.5], "b": ["x"], "d": ["new"]})

    assert run(schema_unchanged(), same, previous=value_metadata(monday)).passed
    result = run(schema_unchanged(), changed, previous=value_metadata(monday))

    assert not result.passed
    assert result.metadata["added"] == ["d"]
    assert result.metadata["removed"] == ["c"]
    assert list(result.metadata["retyped"]) == ["a"]
    assert result.description.startswith(
        "sales/orders partition 2026-11-24 changed schema: added d ("
    )
    assert "; removed c; retyped a from " in result.description


def test_schema_unchanged_when_the_previous_columns_were_not_recorded() -> None:
    result = run(schema_unchanged(), {"a": [1]}, previous={"schema_fingerprint": "0" * 16})

    assert result.description == (
        "sales/orders partition 2026-11-24 changed schema: the previous materialization did "
        "not record its columns"
    )


# checks never raise


HOSTILE = [42, "text", object(), iter([1]), {"a": [1, 2], "b": [1]}, [1, 2], pd.DataFrame()]
BUILT_INS = [
    not_empty(),
    row_count_between(1, 2),
    row_count_change(10),
    no_nulls("a"),
    unique("a"),
    fresh_column("a"),
    fresh_column("a", max_age=timedelta(days=1)),
    schema_unchanged(),
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: type(value).__name__)
@pytest.mark.parametrize("check", BUILT_INS, ids=lambda check: check.name)
def test_a_built_in_check_never_raises(check: Check, value: Any) -> None:
    result = run(check, value, previous={"row_count": 1, "schema_fingerprint": "x"})

    assert isinstance(result, CheckResult)
    assert result.check_name == check.name
    json.loads(result.to_json())


def test_a_check_that_raises_fails_saying_what_went_wrong() -> None:
    def divides(value: Any, context: CheckContext) -> bool:
        return bool(1 / 0)

    result = Check(name="divides", function=divides, blocking=False).evaluate([], context())

    assert (result.passed, result.blocking) == (False, False)
    assert result.description == "check divides raised ZeroDivisionError: division by zero"
    assert result.metadata["error"] == "ZeroDivisionError"
    assert "1 / 0" in result.metadata["traceback"]


def test_a_column_check_on_a_value_without_columns_says_what_it_reads() -> None:
    result = run(no_nulls("a"), 42)

    assert result.description == (
        "sales/orders partition 2026-11-24: the value has no named columns (it is of type int); "
        "columns are read off pandas and polars DataFrames, pyarrow Tables, lists of dicts and "
        "dicts of equal-length lists"
    )


# names and arguments


def test_default_names_carry_the_arguments() -> None:
    names = [
        not_empty().name,
        row_count_between(1, None).name,
        row_count_change(12.5).name,
        no_nulls(["order_id", "line"]).name,
        unique("order_id").name,
        fresh_column("event_date", max_age=timedelta(hours=2)).name,
        schema_unchanged().name,
        no_nulls("order_id", name="order ids", blocking=False).name,
    ]

    assert names == [
        "not_empty",
        "row_count_between(1, None)",
        "row_count_change(12.5%)",
        "no_nulls(order_id, line)",
        "unique(order_id)",
        "fresh_column(event_date)",
        "schema_unchanged",
        "order ids",
    ]
    assert not no_nulls("a", blocking=False).blocking
    assert unique(["a", "b"]).description == "(a, b) is unique"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: row_count_between(None, None), r"checks nothing"),
        (lambda: row_count_between(5, 1), r"the lower bound 5 is above the upper 1"),
        (lambda: row_count_between(-1, None), r"bounds are whole numbers of rows or None"),
        (lambda: row_count_change(-5), r"max_pct is a percentage of at least 0"),
        (lambda: no_nulls([]), r"give a column name or a list of them"),
        (lambda: unique(3), r"unique\(3\): give a column name"),  # type: ignore[arg-type]
        (lambda: fresh_column(""), r"give the name of a column"),
        (lambda: fresh_column("a", max_age=timedelta(0)), r"max_age is a positive timedelta"),
        (lambda: not_empty(name=""), r"a check's name is non-empty text"),
        (lambda: not_empty(blocking="yes"), r"blocking is True or False, got 'yes'"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_definition_errors(make: Any, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        make()


# coerce_result: every form a check function may return


@pytest.mark.parametrize(
    ("returned", "passed", "description"),
    [
        (True, True, "check amounts passed"),
        (False, False, "check amounts returned False"),
        (None, True, "check amounts passed"),
        (np.bool_(False), False, "check amounts returned False"),
        (pa.scalar(True), True, "check amounts passed"),
        ((False, "3 negative amounts"), False, "3 negative amounts"),
        ((np.True_, "all positive"), True, "all positive"),
        ({"passed": True}, True, "check amounts passed"),
        ({"passed": False, "description": "bad", "metadata": {"n": 3}}, False, "bad"),
    ],
    ids=repr,
)
def test_coerce_result_reads_every_form(returned: Any, passed: bool, description: str) -> None:
    result = coerce_result("amounts", True, returned)

    assert (result.check_name, result.passed, result.description) == (
        "amounts",
        passed,
        description,
    )


def test_coerce_result_keeps_a_check_result_under_the_check_s_name() -> None:
    returned = CheckResult(
        check_name="other", passed=False, blocking=True, description="x", metadata={"n": 1}
    )

    result = coerce_result("amounts", False, returned)

    assert result == CheckResult(
        check_name="amounts", passed=False, blocking=False, description="x", metadata={"n": 1}
    )
    assert coerce_result("amounts", True, {"passed": False, "metadata": {"n": 2}}).metadata == {
        "n": 2
    }


def test_a_blocking_check_may_report_a_failure_that_blocks_nothing() -> None:
    # e.g. a dbt test that could not run: not a pass, no reason to refuse the value
    returned = CheckResult(check_name="t", passed=False, blocking=False, description="not run")

    assert not coerce_result("t", True, returned).blocking
    # and a non-blocking check never blocks
    returned = CheckResult(check_name="t", passed=False, blocking=True, description="bad")
    assert not coerce_result("t", False, returned).blocking


@pytest.mark.parametrize(
    ("returned", "what"),
    [
        ("yes", "returned 'yes'"),
        (1, "returned 1"),
        ((True, "ok", {}), "returned a tuple of 3 items"),
        (("yes", "ok"), "gave 'yes' as 'passed' instead of a bool"),
        ((True, 3), "gave 3 as its description"),
        ({"passed": True, "why": "x"}, "returned a dict with unknown keys ['why']"),
        ({"description": "x"}, "gave None as 'passed' instead of a bool"),
        ({"passed": True, "metadata": [1]}, "gave a list as its metadata"),
        (
            pd.Series([True, False]),
            "returned a Series (for a column of booleans, return its .all())",
        ),
        (np.array([True]), "returned a ndarray (for a column of booleans, return its .all())"),
    ],
    ids=repr,
)
def test_coerce_result_explains_what_to_return(returned: Any, what: str) -> None:
    result = coerce_result("amounts", True, returned)

    assert not result.passed
    assert result.description == (
        f"check amounts {what}; return True or False, None (passed), a CheckResult, a "
        "(passed, description) tuple or a dict with 'passed' and optionally 'description' "
        "and 'metadata'"
    )


def test_a_user_check_returning_a_series_fails_and_explains() -> None:
    def positive(value: Any, context: CheckContext) -> Any:
        return value["amount"] > 0

    frame = pd.DataFrame({"amount": [1, -1]})

    result = Check(name="positive", function=positive).evaluate(frame, context(frame))

    assert not result.passed
    assert "return its .all()" in result.description


# CheckResult


def test_a_result_round_trips_through_json_with_its_metadata_made_json_safe() -> None:
    result = CheckResult(
        check_name="fresh",
        passed=np.bool_(True),  # type: ignore[arg-type]  # a numpy bool is read as a bool
        blocking=True,
        description="ok",
        metadata={
            "newest": date(2026, 11, 24),
            "at": datetime(2026, 11, 24, 6, tzinfo=UTC),
            "count": np.int64(3),
            "ratio": np.float64(0.5),
            "missing": math.nan,
            "tags": {"b", "a"},
            "pair": (1, pd.Timestamp("2026-11-24")),
            "age": timedelta(hours=1),
            "other": pl.Int64,
        },
    )

    assert result.metadata == {
        "newest": "2026-11-24",
        "at": "2026-11-24T06:00:00+00:00",
        "count": 3,
        "ratio": 0.5,
        "missing": None,
        "tags": ["a", "b"],
        "pair": [1, "2026-11-24T00:00:00"],
        "age": 3600.0,
        "other": "Int64",
    }
    assert result.passed is True
    assert CheckResult.from_json(result.to_json()) == result


def test_from_json_of_something_else() -> None:
    with pytest.raises(ValueError, match="not a check result's JSON"):
        CheckResult.from_json('{"passed": true}')
