"""EngineHost: drives any number of runs through one executor.

Each step commits, in one transaction, the pending changes of every run (the outcomes of
the tries that just ended, the tasks they skipped, the tries they unblocked), then hands
the new tries to the executor; so a task's final state is durable before any downstream
task starts. Ready instances of all runs wait in one queue ordered by priority weight,
then age; ``Admission`` decides which of them start (parallelism, ``max_active_tasks``,
pool slots).

Only bounded work happens on the thread that calls ``step``: deciding, and committing to
the store. What a user's code makes long happens elsewhere: a task's result is encoded
and written by the thread that reports its outcome (the executor's), callbacks run on a
pool of their own, and the leases are renewed by a ``LeaseKeeper`` thread. Every write of
a run's driver is fenced by the lease generation of its claim: if another process took
the run over, the write is refused and this host stops driving the run; an error that
concerns one run stops that run alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import heapq
import itertools
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from headwater.assets.report import StepReport
from headwater.clock import Clock, FakeClock
from headwater.engine.admission import Admission, ReadyEntry
from headwater.engine.assets import AssetLedger, TaskGuard
from headwater.engine.driver import DriverContext, Listener, RunDriver, chosen_ids
from headwater.engine.lease_keeper import LeaseKeeper
from headwater.engine.ownership import DEFAULT_LEASE, new_owner_id
from headwater.engine.results import ResultStore
from headwater.engine.run_state import Flight, InstanceKey
from headwater.errors import HeadwaterError, LeaseLost
from headwater.executors.base import Executor, TryKey, TryOutcome, TryRequest
from headwater.executors.threads import ThreadExecutor
from headwater.executors.try_log import append_to_log
from headwater.metrics.instruments import EngineMetrics
from headwater.store.base import StateStore
from headwater.store.records import Batch, RunRecord

logger = logging.getLogger("headwater.engine")

CALLBACK_THREADS = 1  # one: callbacks run in the order of the outcomes they follow
CANCEL_POLL = 1.0  # seconds (real time) between looks for cancel requests of its runs


class EngineInterrupted(HeadwaterError):
    """``interrupt()`` was called (Ctrl-C): the host stopped starting tries."""


@dataclass(frozen=True, slots=True)
class Zombie:
    """A try given up on (timed out, or its run let go) whose code has not returned yet.

    It keeps its executor slot and its pool slots until it returns, and its instance's
    next try waits for it.
    """

    run_id: str
    instance: InstanceKey
    holds_slots: bool


class StoreRunLookup:
    """The runs a sensor running in the engine may look at (see ``RunLookup``)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def run_state(self, pipeline_id: str, logical_date: datetime) -> tuple[str, str] | None:
        run = self._store.find_run(pipeline_id, logical_date)
        return None if run is None else (run.run_id, run.state)


class _Wake:
    """Put in the outcome queue to wake the host (an interrupt, a lost lease)."""


_WAKE = _Wake()


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
        metrics: EngineMetrics | None = None,
    ) -> None:
        self.owner = owner or new_owner_id()
        self.lease = lease
        # tries in flight at once: the executor's size, or fewer
        self.parallelism = min(parallelism or executor.max_concurrency, executor.max_concurrency)
        self.store = store
        self.executor = executor
        self.clock = clock
        self.result_store = result_store
        self.shared = DriverContext(
            clock=clock,
            result_store=result_store,
            logs_dir=logs_dir,
            hostname=socket.gethostname(),
            owner=self.owner,
            listener=listener,
            assets=AssetLedger(store, f"{result_store.url}/assets"),
        )
        self.drivers: dict[str, RunDriver] = {}
        self.outcomes: queue.SimpleQueue[TryOutcome | _Wake] = queue.SimpleQueue()
        self.ready: list[ReadyEntry[RunDriver]] = []
        self.admission: Admission[RunDriver] = Admission(store, clock, self.owner, lease)
        self.sequence = itertools.count()
        self.in_flight: dict[TryKey, tuple[RunDriver, Flight]] = {}
        self.zombies: dict[TryKey, Zombie] = {}
        self.deadlines: list[tuple[float, TryKey]] = []
        self.keeper = LeaseKeeper(store, self.owner, lease, clock, self._leases_lost)
        # tasks the engine runs itself (pipeline_sensor: it reads the store, which tries
        # cannot), on threads of this process whatever the executor
        self.local = ThreadExecutor(self.parallelism, clock=clock)
        self.lookup = StoreRunLookup(store)
        self._local_keys: set[TryKey] = set()
        self._guards: dict[TryKey, TaskGuard] = {}  # tries of tasks with outlets or checks
        self._requests: dict[TryKey, TryRequest] = {}  # handed over, not reported yet
        self._requests_lock = threading.Lock()
        self._lost: set[str] = set()
        self._lost_lock = threading.Lock()
        self._interrupted = threading.Event()
        self.abandoned: dict[str, str] = {}  # run id -> why this host stopped driving it
        self.log_abandoned = True  # False when the caller reports it (RunEngine raises)
        self._callbacks: ThreadPoolExecutor | None = None
        self.running = False
        self.draining = False  # set by drain() and interrupt(): no new try starts
        self._next_cancel_check = 0.0  # time.monotonic(): cancels come in real time
        # A test clock's sleep takes no time and records each sleep: it is not cut short
        # to look for cancels (see _wait).
        self._sleep_cap = None if isinstance(clock, FakeClock) else CANCEL_POLL
        # what this host committed, counted for /metrics (see headwater.metrics)
        self.metrics = metrics or EngineMetrics()
        self.metrics.watch(self)

    # lifecycle

    def start(self) -> None:
        self.executor.start(self._report)
        self.local.start(self._report)
        self._callbacks = ThreadPoolExecutor(CALLBACK_THREADS, "headwater-callback")
        self.keeper.start()
        self.running = True

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the executor and the lease keeper; with ``wait``, let callbacks finish."""
        if self.running:
            self.running = False
            self.keeper.stop()
            self.executor.shutdown()
            self.local.shutdown()
            if self._callbacks is not None:
                self._callbacks.shutdown(wait=wait, cancel_futures=not wait)
                self._callbacks = None

    def busy_runs(self) -> set[str]:
        """Runs this process must not claim: those it drives, and those a try still runs for."""
        return set(self.drivers) | {zombie.run_id for zombie in self.zombies.values()}

    @property
    def executing(self) -> int:
        """Tries whose code runs now in this process (in flight, or given up on)."""
        return len(self.in_flight) + len(self.zombies)

    def add(self, pipeline: Any, run: RunRecord, *, claimed: bool = False) -> bool:
        """Take a run in; False when it is finished, or another driver has it.

        Unless ``claimed``, the run's lease is taken first (see ``StateStore.claim_run``).
        A run this host already drives, or whose earlier try still runs here, is refused:
        a run has one driver at a time.
        """
        if run.run_id in self.busy_runs():
            logger.error("run %s is already driven by this process; not taken twice", run.run_id)
            return False
        if not claimed:
            now = self.clock.now()
            owned = self.store.claim_run(run.run_id, self.owner, now, now + self.lease)
            if owned is None:
                return False
            run = owned
        driver = RunDriver(pipeline, run, self.shared, self._enqueue)
        if not driver.load(self.store.get_task_instances(run.run_id)):
            self.store.release_run(run.run_id, self.owner, run.lease_generation)
            return False
        self.drivers[run.run_id] = driver
        self.keeper.hold(run.run_id, run.lease_generation)
        if run.cancel_requested_at is not None:  # asked for while nobody drove it
            self._cancel(driver, run.note or "")
        return True

    def interrupt(self) -> None:
        """Stop starting tries and make ``run_until_done`` raise (callable from any thread)."""
        self._interrupted.set()
        self.outcomes.put(_WAKE)

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def drain(self, grace: float) -> bool:
        """Start nothing new; wait up to ``grace`` seconds for the running tries to end.

        Their outcomes are committed. Returns True when no try of this process runs any
        more; False when some still do (see ``release_leases``).
        """
        self.draining = True
        deadline = self.clock.monotonic() + grace
        while self.executing and self.clock.monotonic() < deadline:
            self.step(max(0.0, deadline - self.clock.monotonic()))
        self._commit(list(self.drivers.values()))
        return not self.executing

    def release_leases(self) -> bool:
        """Let the runs driven here go, so that another process may take them at once.

        Only when no try of this process is executing: otherwise another process would
        start a new try while the old one still runs. Returns whether they were let go.
        """
        if self.executing:
            return False
        if self.drivers:
            run_ids = list(self.drivers)
            for run_id in run_ids:
                self.keeper.let_go(run_id)
            self.store.extend_leases(self.owner, run_ids, self.clock.now())
            self.drivers.clear()
        return True

    def run_until_done(self) -> None:
        """Drive every run to its end. Raises EngineInterrupted after ``interrupt()``."""
        while self.drivers:
            if self.interrupted:
                raise EngineInterrupted("interrupted")
            self.step(None)

    def _enqueue(self, driver: RunDriver, key: InstanceKey) -> None:
        heapq.heappush(self.ready, (-driver.priority(key), next(self.sequence), driver, key))

    # one step

    def step(self, timeout: float | None) -> list[str]:
        """Commit and dispatch, finish the runs that are done, wait for the next event.

        Waits at most ``timeout`` seconds (None: until something happens). Returns the
        ids of the runs that finished in this step.
        """
        try:
            self.keeper.renew_if_due()
        except Exception:  # a database hiccup: the keeper's thread tries again
            logger.exception("could not renew the leases of %s", self.owner)
        self._drop_lost()
        self._check_cancels()
        if self.interrupted:
            self.draining = True
        self._commit_and_dispatch()
        finished = self._finish_done()
        # With no run left, a try given up on is waited for only as long as the caller
        # allows (the scheduler, to give its slots back); run_until_done does not wait.
        if self.drivers or (self.zombies and timeout is not None):
            self._wait(timeout)
            if self.admission.releases and not self.drivers:
                self._commit([])  # a try given up on returned: its slots go back now
        return finished

    def _commit_and_dispatch(self) -> None:
        starts: list[tuple[RunDriver, tuple[TryRequest, Callable[..., Any], Flight]]] = []
        if not self.draining:
            try:
                starts = self.admission.take(
                    self.ready,
                    self.parallelism - self.executing,
                    self.drivers.values(),
                    lambda: self._commit(list(self.drivers.values())),
                )
            except Exception:  # the pool slots could not be asked for: try again later
                logger.exception("could not admit the ready tries; trying again")
        self._commit(list(self.drivers.values()))
        for driver, (request, fn, flight) in starts:
            if driver.run_id not in self.drivers:
                # its start was not recorded (the run was let go): it never starts
                self.admission.ended(request.key)
                continue
            self.in_flight[request.key] = (driver, flight)
            if request.timeout is not None:
                # counted from the hand-over to the executor, not from before the commit
                flight.deadline = self.clock.monotonic() + request.timeout
                heapq.heappush(self.deadlines, (flight.deadline, request.key))
            node = driver.plan.nodes[request.key[1]]
            with self._requests_lock:
                self._requests[request.key] = request
                if node.options.outlets or node.options.checks:
                    self._guards[request.key] = TaskGuard.of(node, driver.pipeline)
            if driver.plan.nodes[request.key[1]].engine_side:
                self._local_keys.add(request.key)
                self.local.submit(request, functools.partial(fn, runs=self.lookup))
            else:
                self.executor.submit(request, fn)
            driver.started(flight)

    def _commit(self, drivers: list[RunDriver]) -> None:
        """Commit the drivers' pending changes; a run whose changes fail is let go alone."""
        entries = [(driver, driver.take_pending()) for driver in drivers]
        entries = [(driver, batch) for driver, batch in entries if batch]
        releases = list(self.admission.take_releases())
        batches = [batch for _, batch in entries]
        if releases:
            batches.append(Batch(changes=list(releases)))
        if not batches:
            self._run_callbacks(drivers)
            return
        try:
            self.store.apply_many(batches)
        except Exception as exc:
            if isinstance(exc, LeaseLost):
                for driver, _ in entries:
                    if driver.run_id in exc.run_ids:
                        self._abandon(driver, exc, lease_lost=True)
                entries = [(d, b) for d, b in entries if d.run_id not in exc.run_ids]
            self._commit_one_by_one(entries, releases, exc)
        else:
            for driver, batch in entries:
                self.metrics.committed(driver.run, batch)
        self._run_callbacks([driver for driver, _ in entries])

    def _commit_one_by_one(
        self, entries: list[tuple[RunDriver, Batch]], releases: list[Any], cause: Exception
    ) -> None:
        """After a failed commit of several runs: each run alone, letting go those that fail."""
        if releases:
            try:
                self.store.apply(Batch(changes=releases))
            except Exception:
                logger.exception("could not record the release of pool slots; they expire")
        for driver, batch in entries:
            if driver.run_id not in self.drivers:
                continue
            if len(entries) == 1 and not isinstance(cause, LeaseLost) and not releases:
                error: Exception = cause  # already tried alone
            else:
                try:
                    self.store.apply(batch)
                except Exception as exc:
                    error = exc
                else:
                    self.metrics.committed(driver.run, batch)
                    continue
            self._abandon(driver, error, lease_lost=isinstance(error, LeaseLost))

    def _run_callbacks(self, drivers: list[RunDriver]) -> None:
        for driver in drivers:
            for callback in driver.take_callbacks():
                self._call_later(callback)

    def _call_later(self, callback: Callable[[], None]) -> None:
        if self._callbacks is None:
            callback()
        else:
            self._callbacks.submit(callback)

    def _finish_done(self) -> list[str]:
        done = [driver for driver in self.drivers.values() if driver.done]
        if not done:
            return []
        callbacks = [driver.finish() for driver in done]
        self._commit(done)
        finished = []
        for driver, callback in zip(done, callbacks, strict=True):
            if driver.run_id not in self.drivers:
                continue  # its end could not be recorded: it was let go
            del self.drivers[driver.run_id]
            self.keeper.let_go(driver.run_id)
            self._call_later(callback)
            finished.append(driver.run_id)
        return finished

    # cancelling a run (StateStore.request_cancel; docs/engine.md)

    def _check_cancels(self) -> None:
        """Look for cancel requests of the runs driven here, at most every CANCEL_POLL."""
        if not self.drivers or time.monotonic() < self._next_cancel_check:
            return
        self._next_cancel_check = time.monotonic() + CANCEL_POLL
        try:
            requests = self.store.cancel_requests(list(self.drivers))
        except Exception:  # a database hiccup: look again next time
            logger.exception("could not look for cancel requests")
            return
        for run_id, note in requests.items():
            driver = self.drivers.get(run_id)
            if driver is not None and driver.cancelled is None:
                self._cancel(driver, note)

    def _cancel(self, driver: RunDriver, note: str) -> None:
        """Stop a run's tries, start nothing more of it; its driver then fails it.

        A try that cannot be stopped at once (a thread) is given up on as after a
        timeout: recorded failed now, it keeps its executor and pool slots until its
        code returns (a zombie).
        """
        logger.warning("run %s: cancelled (%s); stopping its tries", driver.run_id, note)
        for key in [k for k, (d, _) in self.in_flight.items() if d is driver]:
            _, flight = self.in_flight.pop(key)
            self._give_up(key, driver, flight, lease_lost=False)
            if key in self.zombies:
                driver.block((flight.instance.node, flight.instance.map_index))
            driver.cancel_try(flight, note)
        self.ready[:] = [entry for entry in self.ready if entry[2] is not driver]
        heapq.heapify(self.ready)
        self.admission.forget(driver)
        driver.cancel(note)

    # letting a run go

    def _leases_lost(self, run_ids: set[str]) -> None:
        """From the lease keeper's thread: these runs were taken over elsewhere."""
        with self._lost_lock:
            self._lost |= run_ids
        self.outcomes.put(_WAKE)

    def _drop_lost(self) -> None:
        with self._lost_lock:
            lost, self._lost = self._lost, set()
        for run_id in lost:
            driver = self.drivers.get(run_id)
            if driver is not None:
                self._abandon(
                    driver,
                    LeaseLost("its lease was renewed by another process", run_ids=frozenset()),
                    lease_lost=True,
                )

    def _abandon(self, driver: RunDriver, error: BaseException, *, lease_lost: bool) -> None:
        """Stop driving a run: its running tries are cancelled, its waiting ones dropped.

        Another process took the run over (``lease_lost``), or recording its changes
        failed; the process goes on with its other runs. A try whose code cannot be
        stopped at once is a zombie: the run stays held here until it returns.
        """
        run_id = driver.run_id
        self.abandoned[run_id] = f"{type(error).__name__}: {error}"
        if not self.log_abandoned:
            pass
        elif lease_lost:
            logger.warning("run %s: another process drives it now; letting it go", run_id)
        else:
            logger.error(
                "run %s: stopped driving it after an error: %s: %s; it is resumed from "
                "the store later ('headwater resume %s')",
                run_id,
                type(error).__name__,
                error,
                run_id,
            )
        self.drivers.pop(run_id, None)
        for key in [k for k, (d, _) in self.in_flight.items() if d is driver]:
            _, flight = self.in_flight.pop(key)
            self._give_up(key, driver, flight, lease_lost=lease_lost)
        # in place: Admission.take may be popping from this very heap (see _commit)
        self.ready[:] = [entry for entry in self.ready if entry[2] is not driver]
        heapq.heapify(self.ready)
        self.admission.forget(driver)
        if not any(zombie.run_id == run_id for zombie in self.zombies.values()):
            self.keeper.let_go(run_id)
            if not lease_lost:
                with contextlib.suppress(Exception):  # the lease expires all the same
                    self.store.release_run(run_id, self.owner, driver.run.lease_generation)

    def _give_up(self, key: TryKey, driver: RunDriver, flight: Flight, *, lease_lost: bool) -> None:
        """Cancel a try; if its code still runs, it becomes a zombie holding its slots."""
        stopped = self._executor_of(key).cancel(key)
        holds_slots = self.admission.holds(key)
        if stopped:
            self.admission.ended(key)
            return
        self.zombies[key] = Zombie(
            run_id=driver.run_id,
            instance=(flight.instance.node, flight.instance.map_index),
            holds_slots=holds_slots,
        )
        if holds_slots:
            self.keeper.hold_slots(driver.run_id)
        if lease_lost:
            self.keeper.let_go(driver.run_id)  # not ours: the other process renews it

    def _executor_of(self, key: TryKey) -> Executor:
        return self.local if key in self._local_keys else self.executor

    def _zombie_returned(self, key: TryKey, outcome: TryOutcome) -> None:
        zombie = self.zombies.pop(key)
        logger.info(
            "a try of run %s given up on earlier (timed out, or its run let go) has "
            "returned; its outcome is ignored and its slots are free",
            zombie.run_id,
        )
        self.admission.ended(key)
        if zombie.holds_slots:
            self.keeper.drop_slots(zombie.run_id)
        driver = self.drivers.get(zombie.run_id)
        if driver is not None:
            driver.unblock(zombie.instance)
        elif not any(z.run_id == zombie.run_id for z in self.zombies.values()):
            # its run was let go while this try still ran: now the run may go too
            self.keeper.let_go(zombie.run_id)

    # the executor's side

    def _report(self, outcome: TryOutcome) -> None:
        """Called by the executor, on its own thread, as each try ends.

        The result of a try that succeeded is encoded and written to the result store
        here, as part of the try and off the engine's thread: however large it is, it
        delays no other run's step. An error writing it fails the try.
        """
        with self._requests_lock:
            request = self._requests.pop(outcome.key, None)
            guard = self._guards.pop(outcome.key, None)
            self._local_keys.discard(outcome.key)
        if request is not None and outcome.ok and not outcome.not_met:
            if guard is not None:  # a task with outlets or checks: checked here, off the loop
                report = guard.report(outcome.value, request, self.clock.now())
                outcome = dataclasses.replace(outcome, value=report)
            outcome = self._encode(outcome, request)
        self.outcomes.put(outcome)

    def _encode(self, outcome: TryOutcome, request: TryRequest) -> TryOutcome:
        try:
            value = chosen_ids(outcome.value) if request.branch else outcome.value
            if isinstance(value, StepReport):  # an asset's data is its IO manager's
                value = value.stored_value()
            result, result_ref = self.result_store.encode(
                request.run_id, request.task_id, request.map_index, value
            )
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, HeadwaterError):
                message = f"the result of task {request.task_id!r} cannot be stored: {message}"
            append_to_log(request.log_path, message + "\n")  # reported all the same
            return dataclasses.replace(outcome, ok=False, value=None, error=message)
        return dataclasses.replace(outcome, result=result, result_ref=result_ref, encoded=True)

    # waiting

    def _next_retry_at(self) -> datetime | None:
        dues = [d for d in (driver.next_retry_at() for driver in self.drivers.values()) if d]
        return min(dues) if dues else None

    def _wait(self, timeout: float | None) -> None:
        due = self._next_retry_at()
        # instances wait for pool slots that other processes may free: ask again soon
        # (if a try could start now at all)
        can_start = not self.draining and self.executing < self.parallelism
        poll = self.admission.poll_at() if can_start else None
        if not self.executing:
            if due is None and poll is None:
                return
            seconds = min(
                (due - self.clock.now()).total_seconds() if due is not None else float("inf"),
                poll - self.clock.monotonic() if poll is not None else float("inf"),
            )
            seconds = seconds if timeout is None else min(seconds, timeout)
            if self._sleep_cap is not None:
                seconds = min(seconds, self._sleep_cap)  # wake up to look for cancels
            self._keep_leases_through(seconds)
            self._sleep(seconds)
            self._release_due_retries()
            return
        candidates = [self.keeper.period, CANCEL_POLL]
        if timeout is not None:
            candidates.append(timeout)
        if self.deadlines:
            candidates.append(self.deadlines[0][0] - self.clock.monotonic())
        if due is not None:
            candidates.append((due - self.clock.now()).total_seconds())
        if poll is not None:
            candidates.append(poll - self.clock.monotonic())
        self._handle(self._collect(max(0.0, min(candidates))))
        self._expire_timeouts()
        self._release_due_retries()

    def _sleep(self, seconds: float) -> None:
        """Wait, waking up for an interrupt or a lost lease (nothing is in flight)."""
        if seconds <= 0:
            return
        with self._lost_lock:
            if self._lost or self.interrupted:
                return
        self.clock.sleep(seconds)

    def _collect(self, wait: float) -> list[TryOutcome]:
        outcomes: list[TryOutcome] = []
        try:
            first = self.outcomes.get(timeout=wait)
            if not isinstance(first, _Wake):
                outcomes.append(first)
            while True:
                item = self.outcomes.get_nowait()
                if not isinstance(item, _Wake):
                    outcomes.append(item)
        except queue.Empty:
            pass
        return outcomes

    def _handle(self, outcomes: list[TryOutcome]) -> None:
        for outcome in outcomes:
            if outcome.key in self.zombies:
                self._zombie_returned(outcome.key, outcome)
                continue
            entry = self.in_flight.pop(outcome.key, None)
            if entry is None:
                continue  # a try of a run let go, stopped at once: its outcome is moot
            driver, flight = entry
            self.admission.ended(outcome.key)
            if driver.run_id not in self.drivers:
                continue
            try:
                driver.handle(outcome, flight)
            except Exception as exc:  # a bug deciding this run: it alone stops
                self._abandon(driver, exc, lease_lost=False)

    def _keep_leases_through(self, seconds: float) -> None:
        """Before a sleep longer than the renewal period, extend the leases past its end.

        Nothing runs here meanwhile (a reschedule-mode sensor waits for its next poke, a
        retry for its delay): the runs stay this process's until it wakes up to go on.
        """
        if seconds > self.keeper.period:
            try:
                self.keeper.renew(extra=timedelta(seconds=seconds))
            except Exception:
                logger.exception("could not extend the leases of %s", self.owner)

    def _expire_timeouts(self) -> None:
        now = self.clock.monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, key = heapq.heappop(self.deadlines)
            entry = self.in_flight.pop(key, None)
            if entry is None:
                continue
            driver, flight = entry
            self._give_up(key, driver, flight, lease_lost=False)
            if key in self.zombies:
                driver.block((flight.instance.node, flight.instance.map_index))
            try:
                driver.timed_out(key, flight)
            except Exception as exc:
                self._abandon(driver, exc, lease_lost=False)

    def _release_due_retries(self) -> None:
        now = self.clock.now()
        for driver in self.drivers.values():
            driver.release_due_retries(now)
