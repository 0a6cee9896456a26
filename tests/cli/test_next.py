"""``headwater next``: the next data intervals, found by file or by pipeline id."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Headwater

NIGHTLY = """\
from headwater import pipeline, task


@task
def extract() -> int:
    return 1


@pipeline(schedule="30 2 * * *", timezone="America/New_York", start="2026-01-01")
def nightly() -> None:
    extract()


@pipeline
def by_hand() -> None:
    extract()
"""


def write_pipelines(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def test_json_lists_the_next_intervals_across_spring_forward(
    headwater: Headwater, tmp_path: Path
) -> None:
    folder = write_pipelines(tmp_path / "elsewhere", nightly=NIGHTLY)

    # a naive --after is in the pipeline's zone
    result = headwater(
        "next",
        f"{folder / 'nightly.py'}:nightly",
        "-n",
        "3",
        "--after",
        "2026-03-06T12:00",
        "--json",
    )

    assert result.code == 0, result.stderr
    assert result.json() == [
        {
            "logical_date": "2026-03-07T07:30:00+00:00",
            "data_interval_start": "2026-03-07T07:30:00+00:00",
            "data_interval_end": "2026-03-08T07:00:00+00:00",
            "run_after": "2026-03-08T07:00:00+00:00",
        },
        {
            "logical_date": "2026-03-08T07:00:00+00:00",
            "data_interval_start": "2026-03-08T07:00:00+00:00",
            "data_interval_end": "2026-03-09T06:30:00+00:00",
            "run_after": "2026-03-09T06:30:00+00:00",
        },
        {
            "logical_date": "2026-03-09T06:30:00+00:00",
            "data_interval_start": "2026-03-09T06:30:00+00:00",
            "data_interval_end": "2026-03-10T06:30:00+00:00",
            "run_after": "2026-03-10T06:30:00+00:00",
        },
    ]


def test_the_table_shows_local_time_and_utc(headwater: Headwater, tmp_path: Path) -> None:
    write_pipelines(tmp_path / "pipelines", nightly=NIGHTLY)

    # found by id in ./pipelines; an aware --after that is exactly a fire time is included
    result = headwater("next", "nightly", "-n", "2", "--after", "2026-03-07T07:30:00+00:00")

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "pipeline nightly, schedule '30 2 * * *' in America/New_York: the next 2 data interval(s)"
    )
    assert lines[1].split() == [
        "start", "(America/New_York)", "end", "(America/New_York)", "start", "(UTC)", "end", "(UTC)"
    ]  # fmt: skip
    assert lines[2].split() == [
        "2026-03-07", "02:30-05:00", "2026-03-08", "03:00-04:00",
        "2026-03-07", "07:30", "2026-03-08", "07:00",
    ]  # fmt: skip
    assert lines[3].split()[:4] == ["2026-03-08", "03:00-04:00", "2026-03-09", "02:30-04:00"]
    assert lines[4].startswith("Each run covers [start, end)")


def test_a_pipeline_id_is_found_under_the_pipelines_folder(
    headwater: Headwater, tmp_path: Path
) -> None:
    folder = write_pipelines(
        tmp_path / "dags", nightly=NIGHTLY, broken="raise RuntimeError('not today')\n"
    )
    args = ("next", "nightly", "-n", "1", "--after", "2026-01-01", "--json")

    by_option = headwater(*args, "--pipelines", str(folder))
    by_environment = headwater(*args, env={"HEADWATER_PIPELINES": str(folder)})

    assert by_option.code == 0, by_option.stderr
    assert by_option.json()[0]["logical_date"] == "2026-01-01T07:30:00+00:00"
    assert by_environment.code == 0, by_environment.stderr
    assert by_environment.json() == by_option.json()


def test_an_unknown_pipeline_id_exits_2_naming_the_broken_files(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(
        tmp_path / "pipelines", nightly=NIGHTLY, broken="raise RuntimeError('not today')\n"
    )

    result = headwater("next", "weekly")

    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "headwater: error: no pipeline 'weekly' in pipelines (pipelines there: by_hand, "
        "nightly); 1 file(s) failed to import and may define it: pipelines/broken.py "
        "(see 'headwater validate pipelines')\n"
    )


def test_a_pipeline_id_defined_twice_or_a_missing_folder_exits_2(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(tmp_path / "pipelines", one=NIGHTLY, two=NIGHTLY)

    twice = headwater("next", "nightly")
    missing = headwater("next", "nightly", "--pipelines", "nowhere")

    assert twice.code == 2
    assert "pipeline id 'nightly' is defined in several files" in twice.stderr
    assert missing.code == 2
    assert missing.stderr.startswith(
        "headwater: error: no pipeline file or pipeline id 'nightly': the pipelines folder "
        "nowhere does not exist"
    )


def test_bad_input_exits_2_with_one_line(headwater: Headwater, tmp_path: Path) -> None:
    write_pipelines(tmp_path / "pipelines", nightly=NIGHTLY)

    bad_after = headwater("next", "nightly", "--after", "yesterday")
    no_count = headwater("next", "nightly", "-n", "0")
    missing_file = headwater("next", "missing.py")

    assert bad_after.code == 2
    assert bad_after.stderr.startswith("headwater: error: --after: invalid date 'yesterday'")
    assert len(bad_after.stderr.splitlines()) == 1
    assert no_count.code == 2
    assert "0 is not in the range x>=1" in no_count.stderr
    assert missing_file.code == 2
    assert "missing.py: no such pipeline file" in missing_file.stderr


def test_a_pipeline_without_a_schedule_has_no_intervals(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(tmp_path / "pipelines", nightly=NIGHTLY)

    as_json = headwater("next", "by_hand", "--json")
    as_text = headwater("next", "by_hand")

    assert as_json.code == 0
    assert as_json.json() == []
    assert as_text.code == 0
    assert as_text.stdout == (
        "pipeline by_hand has no schedule: it runs only when started by hand or by an event\n"
    )


CHATHAM = """\
from headwater import pipeline, task


@task
def extract() -> int:
    return 1


@pipeline(schedule="45 */3 * * *", timezone="Pacific/Chatham")
def every_three_hours() -> None:
    extract()


@pipeline(schedule="@daily")
def daily_utc() -> None:
    extract()
"""


def test_a_schedule_across_a_45_minute_daylight_saving_change_answers(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(tmp_path / "pipelines", chatham=CHATHAM)

    # clocks in Chatham fall back from 03:45 to 02:45 at 2026-04-04T14:00Z
    result = headwater(
        "next", "every_three_hours", "-n", "2", "--after", "2026-04-04T12:00:00+00:00", "--json",
        timeout=30,
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert [i["data_interval_start"] for i in result.json()] == [
        "2026-04-04T15:00:00+00:00",  # 03:45 CHAST, the only 03:45 that day
        "2026-04-04T18:00:00+00:00",
    ]


def test_a_naive_after_in_a_spring_forward_gap_is_the_next_existing_time(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(tmp_path / "pipelines", nightly=NIGHTLY)

    # 02:30 does not exist on 2026-03-08 in New York: --after means 03:00 EDT, which is
    # the fire time of that day's run
    result = headwater("next", "nightly", "-n", "1", "--after", "2026-03-08T02:30", "--json")

    assert result.code == 0, result.stderr
    assert result.json()[0]["logical_date"] == "2026-03-08T07:00:00+00:00"


def test_after_the_last_representable_interval_there_is_none(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(tmp_path / "pipelines", chatham=CHATHAM)

    as_text = headwater("next", "daily_utc", "--after", "9999-12-31")
    as_json = headwater("next", "every_three_hours", "--after", "9999-12-31", "-n", "10", "--json")

    # the interval starting 9999-12-31 would end in year 10000
    assert as_text.code == 0, as_text.stderr
    assert as_text.stdout == (
        "pipeline daily_utc, schedule @daily (0 0 * * *) in UTC: no data interval starts at "
        "or after 9999-12-31 00:00+00:00\n"
    )
    assert as_json.code == 0, as_json.stderr
    # from 00:45 to 21:45 on 9999-12-31 in Chatham (+13:45); the next would be in 10000
    intervals = as_json.json()
    assert len(intervals) == 7
    assert intervals[0]["data_interval_start"] == "9999-12-30T11:00:00+00:00"
    assert intervals[-1]["data_interval_start"] == "9999-12-31T05:00:00+00:00"
    assert intervals[-1]["data_interval_end"] == "9999-12-31T08:00:00+00:00"


def test_an_after_outside_the_range_of_utc_times_exits_2(
    headwater: Headwater, tmp_path: Path
) -> None:
    write_pipelines(tmp_path / "pipelines", chatham=CHATHAM)

    # midnight on 0001-01-01 in Chatham is 11:15 UTC the day before year 1
    result = headwater("next", "every_three_hours", "--after", "0001-01-01")

    assert result.code == 2
    assert result.stderr == (
        "headwater: error: --after: date '0001-01-01' is out of range: in Pacific/Chatham it "
        "falls before 0001-01-01T00:00 UTC, and headwater keeps times in UTC; use a date "
        "within years 1 to 9999 in UTC\n"
    )


def test_year_one_is_shown_with_four_digit_years(headwater: Headwater, tmp_path: Path) -> None:
    write_pipelines(tmp_path / "pipelines", chatham=CHATHAM)

    result = headwater("next", "daily_utc", "-n", "1", "--after", "0001-01-01")

    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[2].split() == [
        "0001-01-01", "00:00+00:00", "0001-01-02", "00:00+00:00",
        "0001-01-01", "00:00", "0001-01-02", "00:00",
    ]  # fmt: skip
