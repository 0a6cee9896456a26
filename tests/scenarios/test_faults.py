"""Scenario: real headwater processes SIGKILLed at random moments lose and repeat nothing.

A short run of the fault-injection tool (``bench/faults.py``): a 30-task pipeline run by
``headwater run``, killed five times, then resumed. Every counter it reports (runs lost,
tasks run again after their success, pool overlap, slots leaked, runs left running)
must be 0. The scheduler modes, longer, are run by hand (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TOOL = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


def inject_faults(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    completed = subprocess.run(
        [sys.executable, str(TOOL), "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert completed.stdout, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def explain(result: dict[str, Any]) -> str:
    """The offenders of each counter that is not 0, and the tool's notes."""
    lines = [f"{name}: {found}" for name, found in result["offenders"].items() if found]
    return "\n".join(lines + [f"note: {note}" for note in result["notes"]])


def test_killed_runs_are_resumed_without_loss_or_repeat() -> None:
    # Given a 30-task pipeline run by `headwater run`, SIGKILLed 5 times at random moments
    result = inject_faults("-n", "5", "--seed", "7")
    # Then each run was resumed to success, and no counter is above 0
    assert len(result["kills"]) == 5
    assert all(count == 0 for count in result["counters"].values()), explain(result)
    assert result["totals"]["runs"] >= 6
