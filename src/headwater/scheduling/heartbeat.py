"""Heartbeats: a scheduler process says, every few seconds, that its loop is alive.

``headwater server`` reads them (``GET /api/v1/health``, the ``scheduler_down`` alert).
The row is written by a thread of its own, so that a slow database never delays the
scheduler's loop; but what it writes is the time the loop last went round (``alive``),
not the time of the write: a loop stuck in a step stops beating even though this
thread goes on. Rows of schedulers stopped, or silent, for a day are pruned.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from headwater.clock import Clock
from headwater.store.base import StateStore
from headwater.store.records import HeartbeatRecord

logger = logging.getLogger("headwater.scheduler")

HEARTBEAT_INTERVAL = 5.0  # seconds between writes: the scheduler's tick is 1 s
PRUNE_AFTER = timedelta(days=1)  # rows of schedulers stopped or silent this long go
PRUNE_INTERVAL = 3600.0  # seconds between prunes


class Heartbeat:
    """Writes ``owner``'s heartbeat row on a thread of its own until ``stop``."""

    def __init__(
        self,
        store: StateStore,
        owner: str,
        clock: Clock,
        *,
        interval: float = HEARTBEAT_INTERVAL,
    ) -> None:
        self.store = store
        self.clock = clock
        self.interval = interval
        now = clock.now()
        self.record = HeartbeatRecord(
            owner=owner,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            last_heartbeat=now,
        )
        self._alive = now
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0

    def alive(self) -> None:
        """The loop went round (called by the scheduler loop: cheap, no I/O)."""
        now = self.clock.now()
        with self._lock:
            self._alive = now

    def start(self) -> None:
        self._write()  # at once: a server sees the scheduler before its first interval
        self._thread = threading.Thread(target=self._loop, name="headwater-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A clean stop: the row says when, so nobody takes it for a dead scheduler."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            now = self.clock.now()
            self.store.beat(self._record(now, stopped_at=now))
        except Exception:
            logger.exception("could not record the scheduler's stop")

    def _record(self, last: datetime, stopped_at: datetime | None = None) -> HeartbeatRecord:
        return HeartbeatRecord(
            owner=self.record.owner,
            hostname=self.record.hostname,
            pid=self.record.pid,
            started_at=self.record.started_at,
            last_heartbeat=last,
            stopped_at=stopped_at,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._write()

    def _write(self) -> None:
        with self._lock:
            alive = self._alive
        try:
            self.store.beat(self._record(alive))
            if self.clock.monotonic() >= self._next_prune:
                self._next_prune = self.clock.monotonic() + PRUNE_INTERVAL
                self.store.prune_heartbeats(self.clock.now(), PRUNE_AFTER)
        except Exception:  # the database is away: the next beat tries again
            logger.exception("could not write the scheduler's heartbeat")
