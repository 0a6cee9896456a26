"""Values of every supported kind built from the same columns, to run each test on all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

Build = Callable[[dict[str, list[Any]]], Any]


def records(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The rows of ``columns`` as a list of dicts."""
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


BUILDERS: dict[str, Build] = {
    "pandas": pd.DataFrame,
    "polars": pl.DataFrame,
    "pyarrow": pa.table,
    "records": records,
    "columns": dict,
}


@pytest.fixture(params=sorted(BUILDERS))
def build(request: pytest.FixtureRequest) -> Build:
    """Builds a value of one kind (pandas, polars, pyarrow, records, columns) from columns."""
    return BUILDERS[request.param]
