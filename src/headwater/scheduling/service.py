"""The scheduler process: reload pipeline files, tick, drive the claimed runs, repeat.

Only this shell waits; ``Scheduler.tick`` and ``EngineHost.step`` decide. On SIGTERM or
SIGINT it stops claiming runs, lets the running tries finish (up to a grace period),
commits their outcomes and releases its leases, so that a restarted scheduler, or
another one, takes the runs over at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from headwater.config_file import PoolConfig
from headwater.engine.host import EngineHost
from headwater.engine.ownership import DEFAULT_LEASE
from headwater.executors.factory import create_executor
from headwater.runtime import Runtime
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.scheduler import Scheduler

logger = logging.getLogger("headwater.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceOptions:
    """How the scheduler process paces itself."""

    executor: str = "thread"
    tick_interval: float = 1.0  # seconds between ticks when nothing finishes
    reload_interval: float = 2.0  # seconds between scans of the pipelines folder
    max_runs: int = 64  # runs driven at once by this process
    lease: timedelta = DEFAULT_LEASE
    grace: float = 30.0  # seconds running tries get to finish on shutdown
    parallelism: int | None = None  # tries at once in this process (default: executor's)
    pools: tuple[PoolConfig, ...] = ()  # declared in the config file, set at start


class SchedulerService:
    """Runs the scheduler loop until ``stop`` is set."""

    def __init__(
        self, runtime: Runtime, registry: PipelineRegistry, options: ServiceOptions
    ) -> None:
        self.runtime = runtime
        self.registry = registry
        self.options = options
        self.clock = runtime.clock
        self.host = EngineHost(
            runtime.store,
            create_executor(
                options.executor, max_concurrency=options.parallelism, clock=runtime.clock
            ),
            clock=runtime.clock,
            result_store=runtime.result_store,
            logs_dir=runtime.settings.logs_dir,
            owner=runtime.owner,
            lease=options.lease,
            parallelism=options.parallelism,
        )
        self.scheduler = Scheduler(
            runtime.store,
            lambda: registry.pipelines,
            clock=runtime.clock,
            owner=runtime.owner,
            lease=options.lease,
        )

    def run(self, stop: threading.Event) -> None:
        host, options = self.host, self.options
        next_reload = next_tick = self.clock.monotonic()
        self._set_pools()
        host.start()
        try:
            while not stop.is_set():
                now = self.clock.monotonic()
                if now >= next_reload:
                    self.registry.refresh()
                    next_reload = now + options.reload_interval
                if now >= next_tick:
                    self._tick()
                    next_tick = now + options.tick_interval
                wait = max(0.0, min(next_tick, next_reload) - self.clock.monotonic())
                if not host.drivers:
                    stop.wait(wait)
                elif host.step(wait):
                    next_tick = self.clock.monotonic()  # a run ended: room for the next
        finally:
            logger.info("stopping: letting running tries finish (up to %ss)", options.grace)
            host.drain(options.grace)
            host.release_leases()
            host.shutdown()

    def _set_pools(self) -> None:
        """Apply the pools of the config file (pools it does not name are left as they are)."""
        for pool in self.options.pools:
            self.runtime.store.set_pool(pool.name, pool.slots, pool.description, self.clock.now())
            logger.info("pool %s: %d slot(s), from the config file", pool.name, pool.slots)

    def _tick(self) -> None:
        result = self.scheduler.tick(
            self.clock.now(), capacity=self.options.max_runs, driving=len(self.host.drivers)
        )
        for pipeline, run in result.claimed:
            self.host.add(pipeline, run, claimed=True)
