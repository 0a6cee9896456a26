"""Fixtures of the alert tests: local receivers and a store driven by a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.testing import FakeClock
from tests.alerts.receivers import HttpReceiver, http_receiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from http_receiver()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-05T06:00:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    """A Runtime on both store backends, driven by a FakeClock."""
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()
