"""The pipeline shown in the README runs as the README says."""

from __future__ import annotations

import re
from pathlib import Path

from headwater.loader import load_pipeline

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_pipeline_runs(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert code is not None
    source = tmp_path / "readme_pipeline.py"
    source.write_text(code.group(1))
    daily_etl = load_pipeline(str(source))
    run = daily_etl.test(date="2026-01-05")
    assert run.state == "success"
    assert run.result("transform") == "clean/2026-01-05.json"
    assert run.tasks["alert_team"].state == "skipped"
    assert run.tasks["notify"].state == "success"
