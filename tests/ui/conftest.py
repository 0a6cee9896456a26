"""Fixtures of the web UI tests: a real server over a store seeded by real runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.config import Settings
from tests.ui.live import LiveServer, serve

PIPELINES = Path(__file__).parent / "pipelines"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def live(home: Path) -> Iterator[LiveServer]:
    with serve(Settings.for_home(home), PIPELINES) as server:
        yield server
