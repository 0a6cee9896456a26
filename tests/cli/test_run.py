"""``headwater run``: exit codes, JSON output and one-line errors."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater


def test_a_successful_run_prints_its_json_and_exits_0(
    headwater: Headwater, resources: Path
) -> None:
    result = headwater("run", str(resources / "ok.py"), "--date", "2026-01-05", "--json")
    assert result.code == 0, result.stderr
    body = result.json()
    assert set(body) == {
        "run_id",
        "pipeline",
        "state",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "run_type",
        "triggered_by",
        "params",
        "created_at",
        "started_at",
        "ended_at",
        "duration",
        "note",
        "cancel_requested_at",
        "tasks",
    }
    assert body["pipeline"] == "ok"
    assert body["state"] == "success"
    assert body["logical_date"] == "2026-01-05T00:00:00+00:00"
    assert set(body["tasks"]) == {
        "extract",
        "double",
        "split",
        "square[0]",
        "square[1]",
        "square[2]",
    }
    extract = body["tasks"]["extract"]
    assert set(extract) == {
        "state",
        "tries",
        "started_at",
        "ended_at",
        "duration",
        "next_try_at",
        "error",
        "history",
    }
    assert extract["state"] == "success"
    assert extract["tries"] == 1
    assert extract["started_at"].endswith("+00:00")


def test_params_override_the_defaults(headwater: Headwater, resources: Path) -> None:
    result = headwater("run", str(resources / "ok.py"), "--param", "n=5", "--json")
    assert result.code == 0, result.stderr
    assert len([k for k in result.json()["tasks"] if k.startswith("square[")]) == 5


def test_a_failed_run_exits_1_and_says_why(headwater: Headwater, resources: Path) -> None:
    result = headwater("run", str(resources / "gated.py"), "--param", "gate=/nonexistent")
    assert result.code == 1
    assert "FAILED" in result.stdout
    assert "load (failed)" in result.stdout
    assert "report (upstream_failed)" in result.stdout


def test_the_process_executor_runs_the_same_pipeline(headwater: Headwater, resources: Path) -> None:
    result = headwater(
        "run", str(resources / "ok.py"), "--executor", "process", "--json", timeout=120
    )
    assert result.code == 0, result.stderr
    assert {task["state"] for task in result.json()["tasks"].values()} == {"success"}


def test_bad_input_is_one_line_on_stderr_with_exit_2(
    headwater: Headwater, resources: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import headwater\n\nraise ValueError('bad config')\n")
    cases = {
        ("run", str(tmp_path / "missing.py")): "no such pipeline file",
        ("run", str(broken)): f"{broken}:3: ValueError: bad config",
        ("run", f"{resources / 'ok.py'}:nope"): "no pipeline 'nope'",
        ("run", str(resources / "two.py")): "defines several pipelines (first, second)",
        ("run", str(resources / "ok.py"), "--param", "novalue"): "malformed --param 'novalue'",
        ("run", str(resources / "ok.py"), "--date", "2026-02-30"): "invalid date '2026-02-30'",
        ("runs", "show", "nope"): "no run 'nope'",
    }
    for args, message in cases.items():
        result = headwater(*args)
        assert result.code == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_debug_shows_the_traceback(headwater: Headwater, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ValueError('bad config')\n")
    result = headwater("--debug", "run", str(broken))
    assert result.code == 2
    assert "Traceback" in result.stderr


def test_a_named_pipeline_is_picked_from_a_file_with_several(
    headwater: Headwater, resources: Path
) -> None:
    result = headwater("run", f"{resources / 'two.py'}:second", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["pipeline"] == "second"


def test_runs_list_and_show_report_recorded_runs(headwater: Headwater, resources: Path) -> None:
    first = headwater("run", str(resources / "ok.py"), "--date", "2026-01-05", "--json").json()
    headwater("run", f"{resources / 'two.py'}:first", "--json")
    listed = headwater("runs", "list", "--json")
    assert listed.code == 0
    assert len(listed.json()) == 2
    only_ok = headwater("runs", "list", "--pipeline", "ok", "--json").json()
    assert [run["run_id"] for run in only_ok] == [first["run_id"]]
    shown = headwater("runs", "show", first["run_id"], "--json")
    assert shown.code == 0
    assert shown.json() == first
    table = headwater("runs", "list")
    assert first["run_id"][:20] in table.stdout


def test_logs_print_a_tries_output(headwater: Headwater, resources: Path) -> None:
    run = headwater("run", str(resources / "ok.py"), "--date", "2026-01-05", "--json").json()
    logs = headwater("logs", run["run_id"], "extract")
    assert logs.code == 0
    assert "extracting 2026-01-05" in logs.stdout
    missing = headwater("logs", run["run_id"], "extract", "--try", "7")
    assert missing.code == 2
    assert "has no try 7" in missing.stderr


FAILS_EARLY = """\
from headwater import pipeline, task

@task
def extract() -> int:
    raise RuntimeError("source down")

@task
def load(n: int) -> int:
    return n

@pipeline
def fails_early() -> None:
    load(extract())
"""


def test_logs_of_an_unknown_task_list_the_runs_tasks_and_which_have_tries(
    headwater: Headwater, tmp_path: Path
) -> None:
    (tmp_path / "fails_early.py").write_text(FAILS_EARLY)
    run = headwater("run", "fails_early.py", "--json")
    assert run.code == 1, run.stderr
    run_id = run.json()["run_id"]
    for task in ("nosuchtask", "load"):
        result = headwater("logs", run_id, task)
        assert result.code == 2
        assert result.stderr.strip() == (
            f"headwater: error: run {run_id!r} has no try of task {task!r}; its tasks: "
            "extract (has tries), load (no try yet)"
        )


def test_db_upgrade_is_idempotent(headwater: Headwater) -> None:
    assert headwater("db", "upgrade").code == 0
    again = headwater("db", "upgrade")
    assert again.code == 0
    assert "revision" in again.stdout


def test_running_a_date_that_has_a_run_is_refused(headwater: Headwater, resources: Path) -> None:
    # Given: a run for 2026-01-05 (it could be a scheduled run in a production database)
    first = headwater("run", str(resources / "ok.py"), "--date", "2026-01-05", "--json")
    run_id = first.json()["run_id"]

    # When: the same date is run again without --rerun
    again = headwater("run", str(resources / "ok.py"), "--date", "2026-01-05", "--param", "n=2")

    # Then: refused, naming the run and the ways to repair or redo it; nothing changed
    assert again.code == 2
    assert again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1
    assert run_id in again.stderr
    for hint in (f"headwater retry {run_id}", f"headwater clear {run_id}", "--rerun"):
        assert hint in again.stderr
    shown = headwater("runs", "show", run_id, "--json").json()
    assert shown["tasks"]["extract"]["tries"] == 1
    assert len([k for k in shown["tasks"] if k.startswith("square[")]) == 3


def test_rerun_resets_and_runs_the_date_again(headwater: Headwater, resources: Path) -> None:
    first = headwater("run", str(resources / "ok.py"), "--date", "2026-01-05", "--json")
    again = headwater(
        "run",
        str(resources / "ok.py"),
        "--date",
        "2026-01-05",
        "--param",
        "n=2",
        "--rerun",
        "--json",
    )
    assert again.code == 0, again.stderr
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["tasks"]["extract"]["tries"] == 2
    assert len([k for k in again.json()["tasks"] if k.startswith("square[")]) == 2
    assert len(headwater("runs", "list", "--json").json()) == 1


def test_a_pipeline_can_be_named_by_its_id_under_the_pipelines_folder(
    headwater: Headwater, resources: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "ok.py").write_text((resources / "ok.py").read_text())
    result = headwater("run", "ok", "--pipelines", str(folder), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["pipeline"] == "ok"
    unknown = headwater("run", "nope", "--pipelines", str(folder))
    assert unknown.code == 2
    assert "nope" in unknown.stderr


def test_a_typo_in_a_param_name_is_refused(headwater: Headwater, resources: Path) -> None:
    # Given: a pipeline whose branch depends on the "bad" param; "bda" is a typo
    result = headwater("run", str(resources / "typed.py"), "--param", "bda=true")

    assert result.code == 2
    assert result.stderr.strip() == (
        "headwater: error: pipeline 'typed' has no param 'bda'; its params are: anything, "
        "bad, days, name, options, ratio, regions"
    )
    assert headwater("runs", "list", "--json").json() == []


def test_params_take_the_type_of_their_defaults(headwater: Headwater, resources: Path) -> None:
    result = headwater(
        "run",
        str(resources / "typed.py"),
        *("--param", "bad=true", "--param", "days=30", "--param", "ratio=1"),
        *("--param", "name=42", "--param", 'regions=["us"]', "--json"),
    )
    assert result.code == 0, result.stderr
    tasks = result.json()["tasks"]
    assert tasks["quarantine"]["state"] == "success"  # bad=true is True, not the text "true"
    assert tasks["publish"]["state"] == "skipped"
    shown = headwater("runs", "show", result.json()["run_id"], "--json").json()
    assert shown["params"] == {
        "bad": True,
        "days": 30,
        "ratio": 1.0,
        "name": "42",
        "regions": ["us"],
        "options": {"mode": "fast"},
        "anything": None,
    }


@pytest.mark.parametrize("value", ["bad=maybe", "days=many", "ratio=nan", "ratio=inf"])
def test_a_param_that_does_not_convert_is_refused(
    headwater: Headwater, resources: Path, value: str
) -> None:
    result = headwater("run", str(resources / "typed.py"), "--param", value)
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"param '{value.partition('=')[0]}' of pipeline 'typed' must be" in result.stderr


def test_runs_show_gives_each_task_its_try_history(headwater: Headwater, resources: Path) -> None:
    run = headwater("run", str(resources / "flaky.py"), "--json")
    assert run.code == 1  # broken failed

    shown = headwater("runs", "show", run.json()["run_id"], "--json")

    assert shown.code == 0, shown.stderr
    flaky = shown.json()["tasks"]["flaky"]
    assert flaky["state"] == "success"
    assert flaky["error"] is None
    history = flaky["history"]
    assert [(t["try"], t["state"]) for t in history] == [
        (1, "failed"),
        (2, "failed"),
        (3, "success"),
    ]
    assert history[0]["error"] == "ConnectionError: try 1: the source timed out"
    assert history[2]["error"] is None
    keys = {"try", "state", "started_at", "ended_at", "duration", "error"}
    assert all(set(t) == keys for t in history)
    # the retry delays can be checked from the history alone
    for before, after in itertools.pairwise(history):
        waited = datetime.fromisoformat(after["started_at"]) - datetime.fromisoformat(
            before["ended_at"]
        )
        assert waited.total_seconds() >= 0.2
    broken = shown.json()["tasks"]["broken"]
    assert broken["error"] == "ValueError: the input is malformed\nsecond line of details"
    assert [t["error"] for t in broken["history"]] == [broken["error"]]


def test_the_run_table_shows_the_first_line_of_each_error(
    headwater: Headwater, resources: Path
) -> None:
    run = headwater("run", str(resources / "flaky.py"), "--json").json()

    shown = headwater("runs", "show", run["run_id"], env={"COLUMNS": "200"})

    assert "ValueError: the input is malformed" in shown.stdout
    assert "second line of details" not in shown.stdout


def test_a_task_skipped_in_a_later_attempt_shows_no_tries(
    headwater: Headwater, resources: Path
) -> None:
    # Given: a run where publish ran; then the date is run again taking the other branch
    first = headwater("run", str(resources / "typed.py"), "--date", "2026-01-05", "--json")
    assert first.json()["tasks"]["publish"]["tries"] == 1
    again = headwater(
        "run",
        str(resources / "typed.py"),
        *("--date", "2026-01-05", "--param", "bad=true", "--rerun", "--json"),
    )

    # Then: publish is skipped now and shows no tries of this attempt; its history keeps them
    publish = again.json()["tasks"]["publish"]
    assert publish["state"] == "skipped"
    assert publish["tries"] == 0
    assert [t["try"] for t in publish["history"]] == [1]


def test_runs_list_refuses_a_limit_below_one(headwater: Headwater) -> None:
    result = headwater("runs", "list", "--limit", "-1")
    assert result.code == 2
    assert "Invalid value for '--limit': -1 is not in the range x>=1" in result.stderr


def test_a_run_in_year_one_gets_a_padded_run_id(headwater: Headwater, resources: Path) -> None:
    result = headwater("run", str(resources / "ok.py"), "--date", "0001-01-01", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["run_id"].startswith("manual__00010101T000000__")


def test_run_help_gives_the_executors_default_sizes(headwater: Headwater) -> None:
    shown = " ".join(headwater("run", "--help").stdout.split())
    assert "32 threads of this process" in shown
    assert "one worker process per CPU" in shown


LONG_TASK_ID = """\
from headwater import pipeline, task

@task(task_id="t" * 256)
def long_one() -> int:
    return 1

@pipeline
def long_ids() -> None:
    long_one()
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_task_id_longer_than_200_characters_is_a_one_line_error(
    headwater: Headwater, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    env = {}
    if backend == "postgres":  # where the task_id column (250) would have refused it
        env["HEADWATER_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    (tmp_path / "long_ids.py").write_text(LONG_TASK_ID)
    result = headwater("run", "long_ids.py", env=env, timeout=30)
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "long_ids.py:3: DefinitionError: task 'tttt" in result.stderr
    assert "is 256 characters long; ids are at most 200 characters" in result.stderr
