"""The pipeline shown in the README runs as the README says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from headwater.loader import load_pipeline
from tests.cli.conftest import command_env

README = Path(__file__).parent.parent / "README.md"
TRANSFORM = 'return path.replace("raw/", "clean/")'
RETRIES = '{"retries": 2}'


def readme_pipeline_source() -> str:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert code is not None
    return code.group(1)


def test_the_readme_pipeline_runs(tmp_path: Path) -> None:
    source = tmp_path / "readme_pipeline.py"
    source.write_text(readme_pipeline_source())
    daily_etl = load_pipeline(str(source))
    run = daily_etl.test(date="2026-01-05")
    assert run.state == "success"
    assert run.result("transform") == "clean/2026-01-05.json"
    assert run.tasks["alert_team"].state == "skipped"
    assert run.tasks["notify"].state == "success"


def test_the_readme_pipeline_fails_when_transform_fails(tmp_path: Path) -> None:
    # Given: the README's pipeline, its transform raising; notify (all_done) is its only leaf
    text = readme_pipeline_source()
    assert TRANSFORM in text
    source = tmp_path / "readme_pipeline.py"
    text = text.replace(TRANSFORM, 'raise RuntimeError("transform broke")')
    assert RETRIES in text
    source.write_text(text.replace(RETRIES, '{"retries": 2, "retry_delay": 0}'))

    # When: it runs from the command line
    completed = subprocess.run(
        [sys.executable, "-m", "headwater", "run", str(source), "--date", "2026-01-05"],
        cwd=tmp_path,
        env=command_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then: the run failed, exit 1, naming the failed task, although notify succeeded
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "FAILED" in completed.stdout
    assert "transform (failed)" in completed.stdout
