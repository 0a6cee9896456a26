"""Run and backfill ids: the date fields always padded, so ids sort by date."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from headwater.engine.runs import new_run_id
from headwater.scheduling.backfill import new_backfill_id


@pytest.mark.parametrize(
    ("moment", "stamp"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "00010101T000000"),
        (datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "09991231T235959"),
        (datetime(2026, 1, 5, 7, 8, 9, tzinfo=UTC), "20260105T070809"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "99991231T235959"),
    ],
)
def test_ids_carry_the_date_with_every_field_padded(moment: datetime, stamp: str) -> None:
    assert re.fullmatch(rf"manual__{stamp}__[0-9a-f]{{6}}", new_run_id("manual", moment))
    assert re.fullmatch(rf"backfill__{stamp}__[0-9a-f]{{6}}", new_backfill_id(moment))


def test_run_ids_sort_like_their_dates() -> None:
    dates = [datetime(year, 1, 1, tzinfo=UTC) for year in (1, 99, 999, 1000, 2026)]
    ids = [new_run_id("scheduled", moment) for moment in dates]
    assert sorted(ids) == ids
