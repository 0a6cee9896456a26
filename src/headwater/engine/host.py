"""EngineHost: drives any number of runs through one executor.

Each step commits, in one transaction, the pending changes of every run (the outcomes of
the tries that just ended, the tasks they skipped, the tries they unblocked), then hands
the new tries to the executor; so a task's final state is durable before any downstream
task starts. Ready instances of all runs wait in one queue ordered by priority weight,
then age; ``Admission`` decides which of them start (parallelism, ``max_active_tasks``,
pool slots).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from headwater.engine.admission import Admission, ReadyEntry
from headwater.engine.driver import DriverContext, Flight, Listener, RunDriver
from headwater.engine.ownership import DEFAULT_LEASE, new_owner_id
from headwater.engine.results import ResultStore
from headwater.engine.run_state import InstanceKey
from headwater.engine.states import TaskState
from headwater.executors.base import Executor, TryKey, TryOutcome, TryRequest
from headwater.scheduling.clock import Clock
from headwater.store.base import StateStore
from headwater.store.records import Batch, RunRecord

logger = logging.getLogger("headwater.engine")


class EngineHost:
    """Owns the executor and the drivers of the runs in progress in this process."""

    def __init__(
        self,
        store: StateStore,
        executor: Executor,
        *,
        clock: Clock,
        result_store: ResultStore,
        logs_dir: Path,
        listener: Listener | None = None,
        owner: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        parallelism: int | None = None,
    ) -> None:
        self.owner = owner or new_owner_id()
        self.lease = lease
        # tries in flight at once: the executor's size, or fewer
        self.parallelism = min(parallelism or executor.max_concurrency, executor.max_concurrency)
        self._next_renewal = 0.0
        self.store = store
        self.executor = executor
        self.clock = clock
        self.shared = DriverContext(
            clock=clock,
            result_store=result_store,
            logs_dir=logs_dir,
            hostname=socket.gethostname(),
            listener=listener,
            database_url=store.url,
        )
        self.drivers: dict[str, RunDriver] = {}
        self.outcomes: queue.SimpleQueue[TryOutcome] = queue.SimpleQueue()
        self.ready: list[ReadyEntry] = []
        self.admission = Admission(store, clock, self.owner, lease)
        self.sequence = itertools.count()
        self.in_flight: dict[TryKey, tuple[RunDriver, Flight]] = {}
        self.deadlines: list[tuple[float, TryKey]] = []
        self.running = False
        self.draining = False  # set by drain(): no new try starts

    # lifecycle

    def start(self) -> None:
        self.executor.start(self.outcomes.put)
        self.running = True

    def shutdown(self) -> None:
        if self.running:
            self.running = False
            self.executor.shutdown()

    def add(self, pipeline: Any, run: RunRecord, *, claimed: bool = False) -> bool:
        """Take a run in; False when it is finished, or another process drives it.

        Unless ``claimed``, the run's lease is taken first (see ``StateStore.claim_run``).
        """
        if not claimed:
            now = self.clock.now()
            owned = self.store.claim_run(run.run_id, self.owner, now, now + self.lease)
            if owned is None:
                return False
            run = owned
        driver = RunDriver(pipeline, run, self.shared, self._enqueue)
        if not driver.load(self.store.get_task_instances(run.run_id)):
            return False
        self.drivers[run.run_id] = driver
        return True

    def drain(self, grace: float) -> None:
        """Start nothing new; wait up to ``grace`` seconds for the running tries to end.

        Their outcomes are committed. Tries still running after that are handed back:
        once this process's leases are released, whoever resumes the run gives them a
        new try.
        """
        self.draining = True
        deadline = self.clock.monotonic() + grace
        while self.in_flight and self.clock.monotonic() < deadline:
            self.step(max(0.0, deadline - self.clock.monotonic()))
        self._commit(list(self.drivers.values()))

    def release_leases(self) -> None:
        """Let the runs driven here go, so that another process may take them at once."""
        if self.drivers:
            self.store.extend_leases(self.owner, list(self.drivers), self.clock.now())
            self.drivers.clear()

    def run_until_done(self) -> None:
        while self.drivers:
            self.step(None)

    def _enqueue(self, driver: RunDriver, key: InstanceKey) -> None:
        heapq.heappush(self.ready, (-driver.priority(key), next(self.sequence), driver, key))

    # one step

    def step(self, timeout: float | None) -> list[str]:
        """Commit and dispatch, finish the runs that are done, wait for the next event.

        Waits at most ``timeout`` seconds (None: until something happens). Returns the
        ids of the runs that finished in this step.
        """
        self._commit_and_dispatch()
        finished = self._finish_done()
        if self.drivers:
            self._renew_leases()
            self._wait(timeout)
        return finished

    def _renew_leases(self) -> None:
        """Every third of a lease, renew the leases of the runs driven here."""
        if self.clock.monotonic() < self._next_renewal:
            return
        self._next_renewal = self.clock.monotonic() + self.lease.total_seconds() / 3
        lost = self.store.extend_leases(
            self.owner, list(self.drivers), self.clock.now() + self.lease
        )
        for run_id in lost:
            # Another process took the run over (this one stalled past its lease):
            # stop driving it; outcomes of its tries still out are dropped.
            logger.warning("run %s is now driven by another process; letting it go", run_id)
            driver = self.drivers.pop(run_id)
            for key in [k for k, (d, _) in self.in_flight.items() if d is driver]:
                del self.in_flight[key]
                self.admission.ended(key)
                self.executor.cancel(key)
            self.ready = [entry for entry in self.ready if entry[2] is not driver]
            heapq.heapify(self.ready)
            self.admission.forget(driver)
        if lost:
            self._commit([])  # the pool slots of the tries dropped go back now

    def _commit_and_dispatch(self) -> None:
        starts: list[tuple[RunDriver, tuple[TryRequest, Callable[..., Any], Flight]]] = []
        if not self.draining:
            starts = self.admission.take(
                self.ready,
                self.parallelism - len(self.in_flight),
                self.drivers.values(),
                lambda: self._commit(list(self.drivers.values())),
            )
        self._commit(list(self.drivers.values()))
        for driver, (request, fn, flight) in starts:
            self.in_flight[request.key] = (driver, flight)
            if request.timeout is not None:
                # counted from the hand-over to the executor, not from before the commit
                flight.deadline = self.clock.monotonic() + request.timeout
                heapq.heappush(self.deadlines, (flight.deadline, request.key))
            self.executor.submit(request, fn)
            driver._notify(flight.instance, TaskState.RUNNING)

    def _commit(self, drivers: list[RunDriver]) -> None:
        batches = []
        callbacks: list[Callable[[], None]] = []
        for driver in drivers:
            if driver.pending:
                batches.append(driver.pending)
                driver.pending = type(driver.pending)()
            callbacks.extend(driver.after_commit)
            driver.after_commit.clear()
        if self.admission.releases:
            batches.append(Batch(changes=list(self.admission.take_releases())))
        if batches:
            self.store.apply_many(batches)
        for callback in callbacks:
            callback()

    def _finish_done(self) -> list[str]:
        done = [driver for driver in self.drivers.values() if driver.done]
        if not done:
            return []
        callbacks = [driver.finish() for driver in done]
        for driver in done:
            del self.drivers[driver.run_id]
        self._commit(done)
        for callback in callbacks:
            callback()
        return [driver.run_id for driver in done]

    # waiting

    def _next_retry_at(self) -> datetime | None:
        dues = [d for d in (driver.next_retry_at() for driver in self.drivers.values()) if d]
        return min(dues) if dues else None

    def _wait(self, timeout: float | None) -> None:
        due = self._next_retry_at()
        # instances wait for pool slots that other processes may free: ask again soon
        # (if a try could start now at all)
        can_start = not self.draining and len(self.in_flight) < self.parallelism
        poll = self.admission.poll_at() if can_start else None
        if not self.in_flight:
            if due is None and poll is None:
                return
            seconds = min(
                (due - self.clock.now()).total_seconds() if due is not None else float("inf"),
                poll - self.clock.monotonic() if poll is not None else float("inf"),
            )
            seconds = seconds if timeout is None else min(seconds, timeout)
            self._keep_leases_through(seconds)
            self.clock.sleep(seconds)
            self._release_due_retries()
            return
        # wake up to renew the leases while long tries run (a poke-mode sensor...)
        candidates = [self._next_renewal - self.clock.monotonic()]
        if timeout is not None:
            candidates.append(timeout)
        if self.deadlines:
            candidates.append(self.deadlines[0][0] - self.clock.monotonic())
        if due is not None:
            candidates.append((due - self.clock.now()).total_seconds())
        if poll is not None:
            candidates.append(poll - self.clock.monotonic())
        wait = max(0.0, min(candidates)) if candidates else None
        outcomes: list[TryOutcome] = []
        try:
            outcomes.append(self.outcomes.get(timeout=wait))
            while True:
                outcomes.append(self.outcomes.get_nowait())
        except queue.Empty:
            pass
        holding = self.admission.holding
        for outcome in outcomes:
            entry = self.in_flight.pop(outcome.key, None)
            if entry is not None:  # else: a try given up on (timed out); its outcome is moot
                if holding:
                    self.admission.ended(outcome.key)
                entry[0].handle(outcome, entry[1])
        self._expire_timeouts()
        self._release_due_retries()

    def _keep_leases_through(self, seconds: float) -> None:
        """Before a sleep longer than the renewal period, extend the leases past its end.

        Nothing runs here meanwhile (a reschedule-mode sensor waits for its next poke, a
        retry for its delay): the runs stay this process's until it wakes up to go on.
        """
        if seconds > self.lease.total_seconds() / 3:
            until = self.clock.now() + timedelta(seconds=seconds) + self.lease
            self.store.extend_leases(self.owner, list(self.drivers), until)

    def _expire_timeouts(self) -> None:
        now = self.clock.monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, key = heapq.heappop(self.deadlines)
            entry = self.in_flight.pop(key, None)
            if entry is not None:
                self.executor.cancel(key)
                self.admission.ended(key)
                entry[0].timed_out(key, entry[1])

    def _release_due_retries(self) -> None:
        now = self.clock.now()
        for driver in self.drivers.values():
            driver.release_due_retries(now)
