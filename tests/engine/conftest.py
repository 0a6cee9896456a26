"""Engine fixtures: a Runtime on a real SQLite store in tmp_path, driven by a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """Time for the engine: it moves only when the engine waits for a retry."""
    return FakeClock("2026-01-05T06:00:00+00:00")


@pytest.fixture
def runtime(migrated_home: Path, clock: FakeClock) -> Iterator[Runtime]:
    """A Runtime whose store, logs and results live in tmp_path."""
    runtime = Runtime(Settings.for_home(migrated_home), clock=clock)
    yield runtime
    runtime.close()
