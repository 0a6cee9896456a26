"""A full disk during a run: a one-line error, and a run that resume finishes once there
is room again."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli.conftest import Headwater
from tests.executors.test_no_crash import leave_little_room, small_disk

__all__ = ["small_disk"]  # the fixture, shared with the executors' tests


def test_a_full_disk_stops_the_run_in_one_line_and_resume_finishes_it(
    small_disk: Path, headwater: Headwater, resources: Path
) -> None:
    # Given: HEADWATER_HOME on a disk with little room left, that the tasks' logs fill
    home = {"HEADWATER_HOME": str(small_disk / "home")}
    leave_little_room(small_disk, small_disk / "home")

    # When: the run fills it
    failed = headwater("run", str(resources / "fill.py"), "--date", "2026-01-05", env=home)

    # Then: one line naming the cause and the way on, no traceback
    assert failed.code == 2, failed.stdout + failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith("headwater: error: run 'manual__20260105T000000__")
    assert "disk is full" in lines[0]
    run_id = lines[0].split("'")[1]
    assert f"headwater resume {run_id}" in lines[0]

    # And once there is room again, resume finishes the run from the store
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = headwater("resume", run_id, "--json", env=home)
    assert resumed.code == 0, resumed.stderr
    assert resumed.json()["state"] == "success"
