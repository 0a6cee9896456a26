"""LeaseKeeper: renews a process's leases on a thread of its own.

The thread that decides a run's steps also waits for the database and for outcomes;
however long one of those takes, the leases of the runs this process drives (and the
pool slots of their tries) are renewed here, every third of a lease. A renewal that finds
a run taken over by another process reports it, and the host stops driving that run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from headwater.clock import Clock
from headwater.errors import StoreError
from headwater.store.base import StateStore

logger = logging.getLogger("headwater.engine")

LostSink = Callable[[set[str]], None]


class LeaseKeeper:
    """Holds the leases of the runs given to ``hold`` until ``let_go``, renewing them."""

    def __init__(
        self,
        store: StateStore,
        owner: str,
        lease: timedelta,
        clock: Clock,
        on_lost: LostSink,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.clock = clock
        self.on_lost = on_lost
        self._lock = threading.Lock()
        self._runs: dict[str, int] = {}  # run id -> lease generation
        self._slot_runs: dict[str, int] = {}  # run id -> tries still holding pool slots
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewing = threading.Lock()
        self._next_renewal = 0.0  # on the clock's monotonic time

    @property
    def period(self) -> float:
        return self.lease.total_seconds() / 3

    def hold(self, run_id: str, generation: int) -> None:
        with self._lock:
            self._runs[run_id] = generation

    def let_go(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def hold_slots(self, run_id: str) -> None:
        """A try of ``run_id`` still runs (and holds its pool slots) after its driver left."""
        with self._lock:
            self._slot_runs[run_id] = self._slot_runs.get(run_id, 0) + 1

    def drop_slots(self, run_id: str) -> None:
        with self._lock:
            count = self._slot_runs.get(run_id, 0) - 1
            if count > 0:
                self._slot_runs[run_id] = count
            else:
                self._slot_runs.pop(run_id, None)

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._runs)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="headwater-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def renew_if_due(self) -> set[str]:
        """Renew the leases if a third of a lease passed since the last renewal.

        Called by the keeper's own thread, and by the host at each step: whichever comes
        first renews (the host's call keeps a fake clock's time in step).
        """
        if self.clock.monotonic() < self._next_renewal:
            return set()
        return self.renew()

    def renew(self, extra: timedelta = timedelta(0)) -> set[str]:
        """Renew every lease held now (to ``extra`` past a lease from now); returns the lost."""
        with self._renewing:
            self._next_renewal = self.clock.monotonic() + self.period
            return self._renew(extra)

    def _renew(self, extra: timedelta) -> set[str]:
        with self._lock:
            runs = dict(self._runs)
            slot_runs = list(self._slot_runs)
        if not runs and not slot_runs:
            return set()
        until = self.clock.now() + self.lease + extra
        lost = self.store.extend_leases(
            self.owner, sorted(runs), until, generations=runs, slot_runs=slot_runs
        )
        if lost:
            with self._lock:
                for run_id in lost:
                    if self._runs.get(run_id) == runs[run_id]:
                        del self._runs[run_id]
            self.on_lost(lost)
        return lost

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.renew_if_due()
            except StoreError as exc:  # a database hiccup (full, locked): try again later
                logger.error("could not renew the leases of %s: %s", self.owner, exc)
            except Exception:
                logger.exception("could not renew the leases of %s", self.owner)
