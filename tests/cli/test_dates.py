"""``headwater run --date`` at the ends of the calendar: an answer or one line, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Headwater

PIPELINES = """\
from headwater import pipeline, task


@task
def extract() -> int:
    return 1


@pipeline(schedule="@daily")
def daily_utc() -> None:
    extract()


@pipeline(schedule="45 */3 * * *", timezone="Pacific/Chatham")
def chatham() -> None:
    extract()
"""


def write(tmp_path: Path) -> str:
    path = tmp_path / "dates.py"
    path.write_text(PIPELINES)
    return str(path)


def test_a_date_whose_interval_would_end_after_year_9999_exits_2(
    headwater: Headwater, tmp_path: Path
) -> None:
    file = write(tmp_path)

    utc = headwater("run", f"{file}:daily_utc", "--date", "9999-12-31")
    chatham = headwater("run", f"{file}:chatham", "--date", "9999-12-31T23:00")

    assert utc.code == 2
    assert utc.stdout == ""
    assert utc.stderr == (
        "headwater: error: logical date 9999-12-31T00:00:00+00:00 is too late: its data "
        "interval would end after 9999-12-31, the last date headwater can keep; use an "
        "earlier date\n"
    )
    assert chatham.code == 2
    assert chatham.stderr == (
        "headwater: error: logical date 9999-12-31T09:15:00+00:00 is too late: its data "
        "interval would end after 9999-12-31, the last date headwater can keep; use an "
        "earlier date\n"
    )


def test_year_one_runs_in_utc_and_is_refused_where_it_falls_before_year_one_in_utc(
    headwater: Headwater, tmp_path: Path
) -> None:
    file = write(tmp_path)

    utc = headwater("run", f"{file}:daily_utc", "--date", "0001-01-01", "--json")
    chatham = headwater("run", f"{file}:chatham", "--date", "0001-01-01")

    assert utc.code == 0, utc.stderr
    assert utc.json()["logical_date"] == "0001-01-01T00:00:00+00:00"
    assert chatham.code == 2
    assert chatham.stderr == (
        "headwater: error: date '0001-01-01' is out of range: in Pacific/Chatham it falls "
        "before 0001-01-01T00:00 UTC, and headwater keeps times in UTC; use a date within "
        "years 1 to 9999 in UTC\n"
    )


def test_year_one_is_shown_with_four_digits(headwater: Headwater, tmp_path: Path) -> None:
    file = write(tmp_path)

    result = headwater("run", f"{file}:daily_utc", "--date", "0001-01-01")

    assert result.code == 0, result.stderr
    assert "for 0001-01-01 00:00 UTC: SUCCESS" in result.stdout
    listed = headwater("runs", "list", env={"COLUMNS": "200"})
    assert "0001-01-01 00:00" in listed.stdout
