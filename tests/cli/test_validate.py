"""``headwater validate``: every broken file is reported with its line; one never hides another.

Tasks that read the wall clock are warned about, without changing the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.conftest import Headwater

from headwater.cli.main import main

CYCLE = """\
from headwater import pipeline, task


@task
def a() -> None: ...


@task
def b() -> None: ...


@pipeline
def cyclic() -> None:
    x = a()
    y = b()
    x >> y
    y >> x
"""


def test_a_folder_with_broken_files_reports_each_and_exits_1(
    headwater: Headwater, resources: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "good.py").write_text((resources / "ok.py").read_text())
    (folder / "syntax.py").write_text("def broken(:\n    pass\n")
    (folder / "imports.py").write_text("\n\nimport not_a_module_anywhere\n")
    (folder / "cycle.py").write_text(CYCLE)
    result = headwater("validate", str(folder))
    assert result.code == 1
    out = " ".join(result.stdout.split())  # undo the terminal's line wrapping
    assert f"{folder / 'syntax.py'}:1: SyntaxError" in out
    assert f"{folder / 'imports.py'}:3: ModuleNotFoundError" in out
    assert f"{folder / 'cycle.py'}:" in out
    assert "has a cycle: a -> b -> a" in out or "has a cycle: b -> a -> b" in out
    assert f"ok {folder / 'good.py'}: ok (4 tasks)" in out
    assert "4 file(s) checked, 3 broken" in out


def test_valid_files_exit_0(headwater: Headwater, resources: Path) -> None:
    result = headwater("validate", str(resources / "ok.py"), str(resources / "two.py"))
    assert result.code == 0, result.stdout
    assert "first (1 tasks), second (1 tasks)" in result.stdout


def test_validate_and_help_never_load_the_database_layer(resources: Path) -> None:
    import subprocess
    import sys

    for args in (["validate", str(resources / "ok.py")], ["--help"]):
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "headwater", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "sqlalchemy" not in completed.stderr, args


# Wall-clock warnings: run in this process (``main``), the files written to tmp_path.

SALES = """\
from datetime import datetime

from headwater import Context, pipeline, sensor, shell_task, task


@task
def extract(ctx: Context) -> str:
    day = datetime.now().date()
    return str(day)


@task
def load(day: str) -> None:
    stamp = datetime.now()  # headwater: allow-wall-clock
    print(day, stamp)


@sensor(poke_interval=1)
def landed(ctx: Context) -> bool:
    import time

    return time.time() > 0


@pipeline
def daily_sales() -> None:
    landed() >> load(extract())
    shell_task("stamp", "echo $(date) {{ ds }}")
"""


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as exited:
        main(["validate", *args])
    return exited.value.code, capsys.readouterr().out


@pytest.fixture
def sales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``pipelines/sales.py`` under the current folder (tmp_path)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").mkdir()
    path = tmp_path / "pipelines" / "sales.py"
    path.write_text(SALES)
    return path


def test_a_task_that_reads_the_wall_clock_is_warned_about_and_validate_still_exits_0(
    sales: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validate(capsys, "pipelines")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "ok    pipelines/sales.py: daily_sales (4 tasks)"
    # the silenced line of 'load' and the shell command's $(date) give no warning
    assert lines[1:3] == [
        "warning: pipelines/sales.py:8: pipeline 'daily_sales', task 'extract' reads the wall "
        "clock (datetime.now()); use ctx.logical_date or ctx.data_interval_start/end "
        "(ctx.partition_key for assets) so that re-runs and backfills of past dates process "
        "the right data",
        "warning: pipelines/sales.py:22: pipeline 'daily_sales', task 'landed' reads the wall "
        "clock (time.time()); use ctx.logical_date or ctx.data_interval_start/end "
        "(ctx.partition_key for assets) so that re-runs and backfills of past dates process "
        "the right data",
    ]
    assert "'# headwater: allow-wall-clock' on its line" in lines[3]
    assert lines[4] == "1 file(s) checked, 0 broken, 2 warning(s)"


def test_no_warnings_checks_the_graphs_only(
    sales: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validate(capsys, "--no-warnings", str(sales))
    assert code == 0
    assert "warning:" not in out
    assert out.splitlines()[-1] == "1 file(s) checked, 0 broken"


def test_the_json_output_lists_each_file_and_every_warning(
    sales: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a folder with a clock-reading task, a file without a pipeline and a broken one
    (tmp_path / "pipelines" / "helpers.py").write_text("X = 1\n")
    (tmp_path / "pipelines" / "broken.py").write_text("def broken(:\n")
    # When validated with --json (plus a path that does not exist)
    code, out = validate(capsys, "--json", "pipelines", "missing.py")
    # Then stdout is only JSON; broken files still exit 1, warnings or not
    assert code == 1
    report = json.loads(out)
    assert report["checked"] == 3
    assert report["broken"] == 2
    assert [(f["path"], f["status"]) for f in report["files"]] == [
        ("missing.py", "error"),
        ("pipelines/broken.py", "error"),
        ("pipelines/helpers.py", "skip"),
        ("pipelines/sales.py", "ok"),
    ]
    assert report["files"][0]["error"] == "missing.py: no such file or folder"
    assert "broken.py:1: SyntaxError" in report["files"][1]["error"]
    assert report["files"][3]["pipelines"] == [{"pipeline_id": "daily_sales", "tasks": 4}]
    assert report["files"][3]["error"] is None
    first = report["warnings"][0]
    assert first == {
        "kind": "wall_clock",
        "file": "pipelines/sales.py",
        "line": 8,
        "pipeline_id": "daily_sales",
        "task_id": "extract",
        "asset_key": None,
        "call": "datetime.now()",
        "message": first["message"],
    }
    assert first["message"].startswith("pipelines/sales.py:8: pipeline 'daily_sales', task")
    assert [w["task_id"] for w in report["warnings"]] == ["extract", "landed"]


def test_a_task_shared_from_another_module_is_warned_about_at_its_own_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a task defined in a shared module outside the current folder, used twice
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "stamps.py").write_text(
        "import time\n\nfrom headwater import task\n\n\n@task\ndef stamp() -> float:\n"
        "    return time.time()\n"
    )
    (shared / "uses.py").write_text(
        "from headwater import pipeline\nfrom stamps import stamp\n\n\n@pipeline\n"
        "def uses() -> None:\n    stamp()\n    stamp.override(task_id='again')()\n"
    )
    code, out = validate(capsys, str(shared / "uses.py"))
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    where = f"{shared / 'stamps.py'}:8: pipeline 'uses'"
    assert warnings[0].startswith(f"warning: {where}, task 'again' reads the wall clock (time")
    assert warnings[1].startswith(f"warning: {where}, task 'stamp' reads the wall clock (time")


def test_assets_are_checked_across_files_and_their_clock_reads_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "raw.py").write_text(
        "from datetime import date\n"
        "from headwater import asset\n"
        "@asset\n"
        "def events_raw():\n"
        "    return [{'day': date.today().isoformat()}]\n"
    )
    (folder / "daily.py").write_text(
        "from headwater import asset, asset_pipeline\n"
        "@asset\n"
        "def events_daily(events_raw):\n"
        "    return events_raw\n"
        "@asset\n"
        "def report(events_dayly):\n"
        "    return 1\n"
        "job = asset_pipeline('events', select='+events_daily')\n"
    )
    code, out = validate(capsys, str(folder), "--json")
    assert code == 1
    report = json.loads(out)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert files["raw.py"]["status"] == "ok"
    assert files["raw.py"]["assets"] == 1
    assert files["daily.py"]["status"] == "error"
    assert "'events_dayly' names no asset" in files["daily.py"]["error"]
    (warning,) = report["warnings"]
    assert warning["asset_key"] == "events_raw"
    assert warning["call"] == "date.today()"
