"""Per-process counters and histograms, recorded by the engine and the scheduler loop.

Recording costs a dictionary update under a lock: no Prometheus object is touched on the
engine's thread, and nothing here imports ``prometheus_client`` (``exposition.py``
turns these values into metric families when they are scraped). The engine records
what it *committed* (``EngineMetrics.committed``), so a change refused by the store is
never counted.

Every label value is bounded: pipeline, task, pool, channel and state names, never a
run id, a try number or an error.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping, Sized
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from headwater.store.records import Batch, FinishTry, RunRecord, RunUpdate, SetState

Kind = Literal["counter", "histogram", "gauge"]

# Seconds: from a quick task to a pipeline of a day.
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
# Seconds from a data interval's end to its run's start.
DELAY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 21600, 86400)
# Seconds one tick of the scheduler loop takes.
LOOP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

FINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed"})
FINAL_RUN_STATES = frozenset({"success", "failed"})


@dataclass(frozen=True, slots=True)
class Instrument:
    """A per-process metric: its exposed name, kind, meaning and labels."""

    name: str  # counters are exposed with ``_total`` appended
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


PIPELINE_DURATION = Instrument(
    "headwater_pipeline_duration_seconds",
    "histogram",
    "Seconds from a run's start to its end, by final state.",
    ("pipeline", "state"),
    DURATION_BUCKETS,
)
RUNS_FINISHED = Instrument(
    "headwater_runs_finished", "counter", "Runs ended, by final state.", ("pipeline", "state")
)
PIPELINE_TASKS = Instrument(
    "headwater_pipeline_tasks",
    "counter",
    "Task instances that reached a final state (success, failed, skipped, upstream_failed).",
    ("pipeline", "task", "state"),
)
TRY_DURATION = Instrument(
    "headwater_task_try_duration_seconds",
    "histogram",
    "Seconds a try ran, by how it ended.",
    ("pipeline", "state"),
    DURATION_BUCKETS,
)
TASK_RETRIES = Instrument(
    "headwater_task_retries",
    "counter",
    "Tries that failed and left their task up for retry.",
    ("pipeline", "task"),
)
SCHEDULE_DELAY = Instrument(
    "headwater_schedule_delay_seconds",
    "histogram",
    "Seconds from a scheduled run's data interval end to the run's start.",
    ("pipeline",),
    DELAY_BUCKETS,
)
LOOP_DURATION = Instrument(
    "headwater_scheduler_loop_duration_seconds",
    "histogram",
    "Seconds one tick of the scheduler loop took (due runs, claims).",
    (),
    LOOP_BUCKETS,
)
LAST_TICK = Instrument(
    "headwater_scheduler_last_tick_timestamp_seconds",
    "gauge",
    "When this scheduler last finished a tick (Unix time): its heartbeat.",
)
ALERT_DELIVERIES = Instrument(
    "headwater_alert_deliveries",
    "counter",
    "Alert delivery attempts made by this process, by channel and outcome.",
    ("channel", "outcome"),
)
INSTRUMENTS = (
    PIPELINE_DURATION,
    RUNS_FINISHED,
    PIPELINE_TASKS,
    TRY_DURATION,
    TASK_RETRIES,
    SCHEDULE_DELAY,
    LOOP_DURATION,
    LAST_TICK,
    ALERT_DELIVERIES,
)


class HistogramValue:
    """Counts per bucket (not cumulative), their sum and count."""

    __slots__ = ("count", "counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * (size + 1)  # the last one: above every bound
        self.sum = 0.0
        self.count = 0


class WatchedAdmission(Protocol):
    @property
    def pool_waiting(self) -> Mapping[str, Sized]: ...


class WatchedHost(Protocol):
    """What a scrape reads of an ``EngineHost``: its queues, at the moment of the scrape."""

    @property
    def executing(self) -> int: ...

    @property
    def ready(self) -> Sized: ...

    @property
    def admission(self) -> WatchedAdmission: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSnapshot:
    """A host's tries at a scrape: running, ready for a free executor slot, waiting for a pool."""

    running: int
    ready: int
    waiting_for_slots: dict[str, int]


class EngineMetrics:
    """The per-process values of one process: recorded by its engine and scheduler loop.

    Thread-safe: the engine's thread, the scheduler loop and an alert sender record, and
    a scrape reads, each under the same short lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[str, ...], float]] = {}
        self._histograms: dict[str, dict[tuple[str, ...], HistogramValue]] = {}
        for instrument in INSTRUMENTS:
            if instrument.kind == "histogram":
                self._histograms[instrument.name] = {}
            else:
                self._values[instrument.name] = {}
        self._started: dict[str, datetime] = {}  # run id -> start, while it runs here
        self._hosts: list[WatchedHost] = []

    # recording

    def committed(self, run: RunRecord, batch: Batch) -> None:
        """Count what ``batch`` (the committed changes of ``run``) finished."""
        pipeline = run.pipeline_id
        with self._lock:
            for change in batch.changes:
                if isinstance(change, FinishTry):
                    self._observe(TRY_DURATION, (pipeline, change.try_state), change.duration)
                    self._task_state(pipeline, change.task_id, change.instance_state)
                elif isinstance(change, SetState):
                    self._task_state(pipeline, change.task_id, change.state)
            if batch.run_update is not None:
                self._run_update(run, batch.run_update)

    def _task_state(self, pipeline: str, task_id: str, state: str) -> None:
        if state in FINAL_TASK_STATES:
            self._add(PIPELINE_TASKS, (pipeline, task_id, state))
        elif state == "up_for_retry":
            self._add(TASK_RETRIES, (pipeline, task_id))

    def _run_update(self, run: RunRecord, update: RunUpdate) -> None:
        if update.state == "running" and update.started_at is not None:
            self._started[run.run_id] = update.started_at
            if run.started_at is None and run.run_type == "scheduled":  # its first start
                delay = (update.started_at - run.data_interval_end).total_seconds()
                self._observe(SCHEDULE_DELAY, (run.pipeline_id,), max(0.0, delay))
        elif update.state in FINAL_RUN_STATES:
            started = self._started.pop(run.run_id, None) or run.started_at
            labels = (run.pipeline_id, update.state)
            self._add(RUNS_FINISHED, labels)
            if started is not None and update.ended_at is not None:
                seconds = (update.ended_at - started).total_seconds()
                self._observe(PIPELINE_DURATION, labels, max(0.0, seconds))

    def tick(self, seconds: float, ended_at: datetime) -> None:
        """The scheduler loop finished a tick that took ``seconds``, at ``ended_at``."""
        with self._lock:
            self._observe(LOOP_DURATION, (), seconds)
            self._values[LAST_TICK.name][()] = ended_at.timestamp()

    def delivery(self, channel: str, outcome: str) -> None:
        """An alert sender tried a delivery: ``outcome`` is sent, failed (to retry) or dead."""
        with self._lock:
            self._add(ALERT_DELIVERIES, (channel, outcome))

    def watch(self, host: WatchedHost) -> None:
        """Report ``host``'s running, ready and pool-waiting tries at each scrape."""
        with self._lock:
            self._hosts.append(host)

    def _add(self, instrument: Instrument, labels: tuple[str, ...], amount: float = 1) -> None:
        values = self._values[instrument.name]
        values[labels] = values.get(labels, 0) + amount

    def _observe(self, instrument: Instrument, labels: tuple[str, ...], value: float) -> None:
        histograms = self._histograms[instrument.name]
        histogram = histograms.get(labels)
        if histogram is None:
            histogram = histograms[labels] = HistogramValue(len(instrument.buckets))
        histogram.counts[bisect_left(instrument.buckets, value)] += 1
        histogram.sum += value
        histogram.count += 1

    # reading (a scrape)

    def values(self, instrument: Instrument) -> dict[tuple[str, ...], float]:
        """A copy of a counter's or gauge's values, by label values."""
        with self._lock:
            return dict(self._values[instrument.name])

    def histogram(self, instrument: Instrument) -> dict[tuple[str, ...], HistogramValue]:
        """A copy of a histogram's values, by label values."""
        with self._lock:
            copies = {}
            for labels, value in self._histograms[instrument.name].items():
                copy = HistogramValue(len(instrument.buckets))
                copy.counts, copy.sum, copy.count = list(value.counts), value.sum, value.count
                copies[labels] = copy
            return copies

    def hosts(self) -> list[HostSnapshot]:
        """The watched hosts' tries, read now (from the scrape's thread)."""
        with self._lock:
            hosts = list(self._hosts)
        return [_snapshot(host) for host in hosts]


def _snapshot(host: WatchedHost) -> HostSnapshot:
    # Read from another thread than the host's: sizes of lists and a dict it changes,
    # each read at once; a dict resized meanwhile is read again.
    waiting: dict[str, int] = {}
    for _ in range(3):
        try:
            waiting = {pool: len(heap) for pool, heap in list(host.admission.pool_waiting.items())}
            break
        except RuntimeError:
            continue
    return HostSnapshot(running=host.executing, ready=len(host.ready), waiting_for_slots=waiting)
