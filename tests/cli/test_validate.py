"""``headwater validate``: every broken file is reported with its line; one never hides another."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Headwater

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
