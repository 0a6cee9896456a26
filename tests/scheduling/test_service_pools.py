"""The scheduler service: pools from the config file and its parallelism."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.config_file import PoolConfig
from headwater.runtime import Runtime
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.service import SchedulerService, ServiceOptions


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=FakeClock("2026-01-05T00:00:00+00:00"))
    yield runtime
    runtime.close()


def test_the_service_sets_the_declared_pools_when_it_starts(
    runtime: Runtime, tmp_path: Path
) -> None:
    runtime.store.set_pool("source", 9, "set by hand", runtime.clock.now())
    runtime.store.set_pool("api", 3, "", runtime.clock.now())
    options = ServiceOptions(
        pools=(
            PoolConfig(name="source", slots=2),
            PoolConfig(name="warehouse", slots=4, description="the DWH"),
        ),
        parallelism=3,
    )
    service = SchedulerService(runtime, PipelineRegistry(tmp_path), options)
    assert (service.host.parallelism, service.host.executor.max_concurrency) == (3, 3)
    stop = threading.Event()
    stop.set()  # start, then stop at once
    service.run(stop)
    pools = {
        p.name: (p.slots, p.description) for p in runtime.store.list_pools(runtime.clock.now())
    }
    assert pools == {
        "api": (3, ""),  # not in the file: left alone
        "source": (2, "set by hand"),  # a bare number keeps the description
        "warehouse": (4, "the DWH"),
    }
