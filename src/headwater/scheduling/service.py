"""The scheduler process: reload pipeline files, tick, drive the claimed runs, repeat.

Only this shell waits; ``Scheduler.tick`` and ``EngineHost.step`` decide. Pipeline files
are imported again on a thread of their own (a file's code may take its time), and the
host renews its leases on another (see ``LeaseKeeper``), so neither waits for the other.

On SIGTERM or SIGINT it stops claiming runs and lets the running tries finish, up to a
grace period, committing their outcomes. Then, if no try of this process runs any more,
it releases its leases, so that a restarted scheduler, or another one, takes the runs
over at once. If some still run, it does not release them: the process must exit (which
ends its thread tries) before anyone may take its runs; a scheduler restarted on this
host takes them over as soon as this one is gone, others when the leases expire.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from headwater.alerts.config import AlertsConfig
from headwater.alerts.service import AlertService
from headwater.assets.catalog import AssetCatalog
from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.config_file import PoolConfig
from headwater.engine.assets import asset_records
from headwater.engine.host import EngineHost
from headwater.engine.ownership import DEFAULT_LEASE
from headwater.engine.runs import record_pipeline
from headwater.executors.factory import create_executor
from headwater.metrics.instruments import EngineMetrics
from headwater.runtime import Runtime
from headwater.scheduling.asset_backfill_advance import BackfillPipelines
from headwater.scheduling.heartbeat import Heartbeat
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.scheduler import Scheduler
from headwater.store.base import StateStore

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
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # from the config file


class RegistryLoader:
    """Re-reads the pipelines folder every ``interval`` seconds on its own thread.

    With a ``store``, each pipeline loaded (or reloaded: its definition changed) is
    recorded there, so that it can be listed and paused before its first run; and so are
    the folder's assets, each time its asset graph changes, so that a server without the
    folder lists them too.
    """

    def __init__(
        self,
        registry: PipelineRegistry,
        interval: float,
        store: StateStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.registry = registry
        self.interval = interval
        self.store = store
        self.clock = clock
        self._recorded: dict[str, int] = {}  # pipeline id -> id() of the object recorded
        self._recorded_catalog: AssetCatalog | None = None  # the assets recorded last
        self._recorded_pipelines: dict[str, Pipeline] | None = None  # removals, as of these
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.registry.refresh()  # the first load before the first tick
        self._record()
        self._thread = threading.Thread(target=self._loop, name="headwater-pipelines", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)  # a file still importing is left to finish alone

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()

    def refresh(self) -> None:
        """Read the folder again and record what changed (what the thread does)."""
        try:
            self.registry.refresh()
        except Exception:
            logger.exception("could not read the pipelines folder %s", self.registry.folder)
        self._record()

    def _record(self) -> None:
        if self.store is None or self.clock is None:
            return
        catalog = self.registry.catalog
        if self._recorded_catalog is not catalog:
            # the assets' definitions, for the watchers (freshness) and processes without
            # the code (the server, the CLI)
            now = self.clock.now()
            try:
                removed = self.store.upsert_assets(
                    asset_records(catalog.graph, now),
                    removed=self.registry.no_longer_defines,
                    now=now,
                )
                self._recorded_catalog = catalog
                if removed:
                    logger.info("assets removed from the code: %s", ", ".join(removed))
            except Exception:
                logger.exception("the assets of %s could not be recorded", self.registry.folder)
        defined = self.registry.pipelines
        for pipeline_id, pipeline in defined.items():
            if self._recorded.get(pipeline_id) == id(pipeline):
                continue
            try:
                record_pipeline(self.store, pipeline, self.clock.now())
            except Exception:
                logger.exception("pipeline %s: could not be recorded", pipeline_id)
                continue
            self._recorded[pipeline_id] = id(pipeline)
        if self._recorded_pipelines is not defined:
            try:
                removed = self.store.remove_pipelines(
                    self.registry.no_longer_defines_pipeline, self.clock.now()
                )
                self._recorded_pipelines = defined
                if removed:
                    logger.info("pipelines removed from the code: %s", ", ".join(removed))
            except Exception:
                logger.exception(
                    "the removed pipelines of %s could not be recorded", self.registry.folder
                )


class SchedulerService:
    """Runs the scheduler loop until ``stop`` is set."""

    def __init__(
        self, runtime: Runtime, registry: PipelineRegistry, options: ServiceOptions
    ) -> None:
        self.runtime = runtime
        self.registry = registry
        self.options = options
        self.clock = runtime.clock
        self.metrics = EngineMetrics()  # this process's counters (see headwater.metrics)
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
            metrics=self.metrics,
        )
        self.scheduler = Scheduler(
            runtime.store,
            BackfillPipelines(registry, runtime.store),  # with those of asset backfills
            clock=runtime.clock,
            owner=runtime.owner,
            lease=options.lease,
            resolve=lambda pipeline_id: registry.resolve(pipeline_id, runtime.store),
        )
        self.loader = RegistryLoader(
            registry, options.reload_interval, runtime.store, runtime.clock
        )
        self.heartbeat = Heartbeat(runtime.store, runtime.owner, runtime.clock)
        # alerts are delivered (and deadlines watched) on a thread of their own
        self.alerting = AlertService(
            runtime.store,
            options.alerts,
            lambda: registry.pipelines,
            owner=runtime.owner,
            clock=runtime.clock,
        )

    def run(self, stop: threading.Event) -> bool:
        """Schedule and drive runs until ``stop`` is set, then drain.

        Returns True when it stopped cleanly (its leases released), False when tries
        were still running after the grace period: the caller must then end the process
        at once, without waiting for those tries (see the module's docstring).
        """
        host, options = self.host, self.options
        next_tick = self.clock.monotonic()
        self._set_pools()
        self.loader.start()
        self.alerting.start()
        host.start()
        self.heartbeat.start()
        clean = False
        try:
            while not stop.is_set():
                self.heartbeat.alive()
                if self.clock.monotonic() >= next_tick:
                    self._timed_tick()
                    next_tick = self.clock.monotonic() + options.tick_interval
                wait = max(0.0, next_tick - self.clock.monotonic())
                if not host.drivers and not host.zombies:
                    stop.wait(wait)
                elif self._step(wait):
                    next_tick = self.clock.monotonic()  # a run ended: room for the next
        finally:
            self.loader.stop()
            self.alerting.stop()
            logger.info("stopping: letting running tries finish (up to %ss)", options.grace)
            clean = self._drain()
            host.shutdown(wait=clean)
            self.heartbeat.stop()
        return clean

    def _step(self, wait: float) -> bool:
        """One step of the host; whether a run ended. An error is logged, not raised.

        The host already stops driving a run whose changes fail; anything else that
        escapes a step is logged here, and the scheduler goes on with its other runs.
        """
        try:
            return bool(self.host.step(wait))
        except Exception:
            logger.exception("an engine step failed; going on")
            self.clock.sleep(min(wait, 1.0))  # no busy loop if it keeps failing
            return False

    def _drain(self) -> bool:
        try:
            if self.host.drain(self.options.grace) and self.host.release_leases():
                return True
        except Exception:
            logger.exception("could not record the end of the running tries")
            return not self.host.executing
        logger.warning(
            "%d tr%s still running after %ss: exiting without releasing their runs; a "
            "scheduler restarted on this host takes them over at once, others when their "
            "leases expire",
            self.host.executing,
            "y" if self.host.executing == 1 else "ies",
            self.options.grace,
        )
        return False

    def _set_pools(self) -> None:
        """Apply the pools of the config file (pools it does not name are left as they are)."""
        for pool in self.options.pools:
            self.runtime.store.set_pool(pool.name, pool.slots, pool.description, self.clock.now())
            logger.info("pool %s: %d slot(s), from the config file", pool.name, pool.slots)

    def _timed_tick(self) -> None:
        started = self.clock.monotonic()
        self._tick()
        self.metrics.tick(self.clock.monotonic() - started, self.clock.now())

    def _tick(self) -> None:
        try:
            result = self.scheduler.tick(
                self.clock.now(), capacity=self.options.max_runs, busy=self.host.busy_runs()
            )
        except Exception:  # the database is unreachable, say: try again next tick
            logger.exception("the scheduler's tick failed; trying again")
            return
        for pipeline, run in result.claimed:
            try:
                self.host.add(pipeline, run, claimed=True)
            except Exception:
                logger.exception("run %s: could not be taken in", run.run_id)
