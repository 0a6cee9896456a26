"""AlertService: the sender and the watchers on a thread of their own.

Started beside the scheduler loop (``headwater scheduler``/``dev``) and by the server
(``headwater.server.alerting.start_alerting``); never on the engine's thread, so a slow
receiver delays no run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta

from headwater.alerts.config import AlertsConfig
from headwater.alerts.sender import AlertSender
from headwater.alerts.watchers import watch_all
from headwater.asset_status import NewestByAsset
from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock
from headwater.store.sql import outbox
from headwater.store.sql.store import SqlStore

logger = logging.getLogger("headwater.alerts")

POLL_INTERVAL = 0.5  # seconds between delivery rounds
WATCH_INTERVAL = 10.0  # seconds between watcher rounds
PRUNE_INTERVAL = 3600.0  # seconds between prunings of old events and deliveries
KEEP = timedelta(days=30)  # how long routed events and ended deliveries are kept


class AlertService:
    """Delivers alerts and runs the watchers until stopped."""

    def __init__(
        self,
        store: SqlStore,
        config: AlertsConfig,
        definitions: Callable[[], Mapping[str, Pipeline]],
        *,
        owner: str,
        clock: Clock,
        poll_interval: float = POLL_INTERVAL,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.store = store
        self.config = config
        self.definitions = definitions
        self.clock = clock
        self.sender = AlertSender(store, config, owner=owner, clock=clock)
        self.poll_interval = poll_interval
        self.watch_interval = watch_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # each asset's newest data, kept between rounds: a round reads what was recorded since
        self._newest = NewestByAsset()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="headwater-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)  # a delivery in flight ends within its timeout

    def _loop(self) -> None:
        if self._stop.wait(self.config.send_delay.total_seconds()):
            return
        next_watch = next_prune = self.clock.monotonic()
        while not self._stop.is_set():
            if self.clock.monotonic() >= next_watch:
                self._guarded("the alert watchers", self._watch)
                next_watch = self.clock.monotonic() + self.watch_interval
            if self.clock.monotonic() >= next_prune:
                self._guarded("pruning old alerts", self.prune)
                next_prune = self.clock.monotonic() + PRUNE_INTERVAL
            self._guarded("the alert sender", self.sender.run_once)
            self._stop.wait(self.poll_interval)

    def prune(self) -> tuple[int, int]:
        """Forget events routed, and deliveries ended, more than ``KEEP`` ago."""
        with self.store.engine.begin() as connection:
            return outbox.prune(connection, self.clock.now() - KEEP)

    def _watch(self) -> None:
        watch_all(
            self.store,
            self.definitions(),
            self.clock.now(),
            scheduler_down_after=self.config.scheduler_down_after,
            newest_by_asset=self._newest,
        )

    @staticmethod
    def _guarded(what: str, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:  # the database is unreachable, say: try again next round
            logger.exception("%s failed; trying again", what)
