"""RunDriver: one run's state while the EngineHost drives it.

The driver decides, the host acts: the driver evaluates trigger rules, builds the store
changes of each step and the requests of the tries to start; the host commits those
changes, hands the tries to the executor and brings back their outcomes. When a try
ends, only its node's downstream tasks are evaluated: the work per task is proportional
to its edges, never to the size of the graph. Those decisions (trigger rules, settling,
mapping) are in ``propagation.py``, what sensors' pokes lead to in ``pokes.py``; this
module keeps the tries' lifecycle.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from headwater.assets.report import StepReport
from headwater.assets.step import AssetStep
from headwater.authoring.context import Context, RunContext
from headwater.authoring.retry import compute_retry_delay
from headwater.clock import Clock
from headwater.engine.assets import AssetLedger, refusal, report_changes, run_view_of_assets
from headwater.engine.callbacks import call_safely
from headwater.engine.pokes import SensorPokes
from headwater.engine.results import ResultStore
from headwater.engine.run_state import Flight, Instance, InstanceKey, RunView, label
from headwater.engine.states import (
    CANCELLED,
    RunState,
    TaskState,
    can_transition,
    run_sources,
)
from headwater.errors import BranchError, HeadwaterError, TransitionRejected
from headwater.executors.base import TryOutcome, TryRequest
from headwater.executors.try_log import TryLog, append_to_log, try_logger
from headwater.graph.plan import PipelineRef, PlanNode, Ref
from headwater.store.records import (
    AddInstances,
    Batch,
    Lease,
    RunRecord,
    RunUpdate,
    StartTry,
    TaskInstanceRecord,
)

logger = logging.getLogger("headwater.engine")

Listener = Callable[[str, str], None]  # (instance label, new state)
_NOT_STARTED = frozenset(
    {TaskState.NONE, TaskState.QUEUED, TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE}
)
ReadySink = Callable[["RunDriver", InstanceKey], None]


def chosen_ids(choice: Any) -> Any:
    """A branch's choice with each task replaced by its id, so that it can be stored."""
    if isinstance(choice, (list, tuple, set)):
        return [chosen_ids(pick) for pick in choice]
    return getattr(choice, "task_id", choice)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverContext:
    """What every driver of a host shares."""

    clock: Clock
    result_store: ResultStore
    logs_dir: Path
    hostname: str
    listener: Listener | None = None
    owner: str = ""  # the process driving the runs: its writes carry its lease
    assets: AssetLedger | None = None  # what asset tries are given (None: no store)


class RunDriver(SensorPokes):
    """One run while it is driven: its view, its pending changes and its retries.

    The host's contract with a driver, in the order of a step: ``load`` once; then
    ``release_due_retries`` and ``next_retry_at`` for time, ``start`` (through Admission,
    with ``refuse`` and ``wait_for_slots``) for the instances it queued with the host,
    ``take_pending`` and ``take_callbacks`` to commit what it decided and call what
    follows, ``started`` once a try is handed to the executor, ``handle`` or
    ``timed_out`` as tries end, ``block``/``unblock`` while a try given up on still runs;
    and once ``done``, ``finish``. The driver never writes to the store nor talks to the
    executor: every change it decides waits in ``pending`` for the host to commit.
    """

    def __init__(
        self, pipeline: Any, run: RunRecord, shared: DriverContext, ready: ReadySink
    ) -> None:
        self.pipeline = pipeline
        self.run = run
        self.plan = pipeline.plan
        self.shared = shared
        self.clock = shared.clock
        self.view = RunView(pipeline.plan, shared.result_store)
        self._ready_sink = ready
        self.pipeline_ref = PipelineRef(
            pipeline_id=pipeline.pipeline_id,
            module_name=pipeline.module_name,
            source_file=pipeline.source_file,
        )
        self.in_flight = 0
        self.queued = 0  # instances handed to the host's ready queue, not yet started
        self.max_active_tasks: int | None = getattr(pipeline, "max_active_tasks", None)
        self.retries: list[tuple[datetime, int, InstanceKey]] = []
        self.sequence = itertools.count()
        self.pending = self._new_batch()
        self.after_commit: list[Callable[[], None]] = []
        self.blocked: set[InstanceKey] = set()  # a try given up on still runs: no retry yet
        # instances that became final, not yet counted downstream: see _instance_final
        self.propagation: list[Instance] = []
        self.log_root = f"{shared.logs_dir}/{run.pipeline_id}/{run.run_id}"
        self.cancelled: str | None = None  # the note of a cancel, once asked for

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def pipeline_id(self) -> str:
        return self.run.pipeline_id

    def pool_of(self, key: InstanceKey) -> tuple[str, str, int] | None:
        """``(task id, pool, slots)`` when the instance's task uses a pool (see Admission)."""
        node = self.plan.nodes[key[0]]
        if node.options.pool is None:
            return None
        return node.task_id, node.options.pool, node.options.pool_slots

    @property
    def done(self) -> bool:
        """Nothing running, waiting to start or waiting to retry."""
        return not (self.in_flight or self.queued or self.retries)

    def priority(self, key: InstanceKey) -> int:
        node: PlanNode = self.plan.nodes[key[0]]
        return node.options.priority_weight

    def _new_batch(self) -> Batch:
        """An empty batch of changes, fenced by the lease this driver's claim received."""
        return Batch(
            lease=Lease(
                run_id=self.run.run_id,
                owner=self.shared.owner,
                generation=self.run.lease_generation,
            )
            if self.shared.owner
            else None
        )

    def take_pending(self) -> Batch:
        """The changes to commit now; the driver starts a new batch."""
        pending, self.pending = self.pending, self._new_batch()
        return pending

    def take_callbacks(self) -> list[Callable[[], None]]:
        """The callbacks to call now that the changes they follow are committed."""
        callbacks, self.after_commit = self.after_commit, []
        return callbacks

    def started(self, flight: Flight) -> None:
        """The host handed the try of ``flight`` to its executor."""
        self._notify(flight.instance, TaskState.RUNNING)

    def block(self, key: InstanceKey) -> None:
        """A try of ``key`` given up on still runs: its next try waits until it returns."""
        self.blocked.add(key)

    def unblock(self, key: InstanceKey) -> None:
        self.blocked.discard(key)

    def _enqueue(self, key: InstanceKey) -> None:
        self.queued += 1
        self._ready_sink(self, key)

    # loading

    def load(self, records: list[TaskInstanceRecord]) -> bool:
        """Load the run's instances and decide what can start.

        Returns False when the run is finished and every instance is final: there is
        nothing to do and the run stays as recorded.
        """
        now = self.clock.now()
        missing = self.view.load(records)
        if missing:
            self.pending.changes.append(
                AddInstances(
                    run_id=self.run.run_id,
                    instances=tuple(
                        (task_id, -1, self.plan.node(task_id).options.retries + 1, 0)
                        for task_id in missing
                    ),
                )
            )
        all_final = all(view.final is not None for view in self.view.nodes) and not missing
        if all_final and RunState(self.run.state).is_final:
            return False
        self._load_exclusions()
        for key, instance in list(self.view.instances.items()):
            if instance.state is TaskState.RUNNING and self._reschedules(key[0]):
                self._interrupted_poke(key, instance, now)
            elif instance.state in (TaskState.RUNNING, TaskState.QUEUED):
                self._close_interrupted(key, instance, now)
            elif instance.state in (TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE):
                due = instance.next_try_at or now
                heapq.heappush(self.retries, (due, next(self.sequence), key))
            elif instance.state is TaskState.NONE and key[1] >= 0:
                # expanded before a crash, or reset by a retry, and never started
                if instance.counts is not None:
                    self._evaluate_item(key)
                else:
                    instance.released = True
                    self._enqueue(key)
        if missing:
            self._add_missing(missing)
        for node in self.plan.nodes:
            view = self.view.nodes[node.index]
            source = node.map_source
            if view.released:
                continue
            if source is not None and self.view.nodes[source].map_indices:
                self._expand_items(node.index)  # its source expanded before a crash
            else:
                self._evaluate(node.index)
        self.pending.run_update = RunUpdate(
            run_id=self.run.run_id,
            expected=run_sources(RunState.RUNNING, staying=True),
            state=RunState.RUNNING.value,
            started_at=self.run.started_at or now,
            clear_ended_at=True,
        )
        return True

    def _load_exclusions(self) -> None:
        """Mark again the tasks that branches which already ended did not choose."""
        for node in self.plan.nodes:
            if node.kind != "branch":
                continue
            instance = self.view.instances.get((node.index, -1))
            if instance is None or instance.state is not TaskState.SUCCESS:
                continue
            try:
                chosen = self.view.instance_value((node.index, -1))
                excluded = self._branch_skips(node, chosen)
            except Exception:  # a result this version cannot read: choose nothing
                logger.exception("branch %s of run %s: bad choice", node.task_id, self.run_id)
                excluded = [self.plan.nodes[i].index for i in node.downstream]
            for index in excluded:
                self.view.nodes[index].excluded = True

    def _add_missing(self, missing: list[str]) -> None:
        for task_id in missing:
            index = self.plan.index_by_id[task_id]
            options = self.plan.nodes[index].options
            self.view.instances[(index, -1)] = Instance(
                node=index,
                map_index=-1,
                state=TaskState.NONE,
                try_number=0,
                max_tries=options.retries + 1,
            )

    @staticmethod
    def _move(instance: Instance, state: TaskState) -> None:
        """Change an instance's state, as the transition table in ``states.py`` allows.

        The store guards the same change with ``WHERE state = :expected``; this check
        catches an engine bug before its change is even written.
        """
        if not can_transition(instance.state, state):
            raise TransitionRejected(
                f"task instance {instance.node}[{instance.map_index}] cannot move from "
                f"{instance.state.value!r} to {state.value!r}"
            )
        instance.state = state

    def _close_interrupted(self, key: InstanceKey, instance: Instance, now: datetime) -> None:
        """A try that was running when its driver died: close it and grant a new try."""
        if instance.state is TaskState.RUNNING and instance.try_number > 0:
            # (a QUEUED instance was waiting for pool slots: it has no try to close)
            # Its real end is unknown: as in Airflow, it ends when it is found.
            started = instance.started_at or now
            self._record_end(
                instance,
                TaskState.FAILED,
                TaskState.UP_FOR_RETRY,
                now,
                max(0.0, (now - started).total_seconds()),
                error="interrupted: the process running this try stopped before it "
                "ended; a new try was started",
                next_try_at=now,
                max_tries=instance.max_tries + 1,
            )
            instance.max_tries += 1
            self._move(instance, TaskState.UP_FOR_RETRY)
        heapq.heappush(self.retries, (now, next(self.sequence), key))

    # time: retries and timeouts

    def next_retry_at(self) -> datetime | None:
        if not self.blocked:  # the usual case: the heap's top
            return self.retries[0][0] if self.retries else None
        due = [entry[0] for entry in self.retries if entry[2] not in self.blocked]
        return min(due) if due else None

    def release_due_retries(self, now: datetime) -> None:
        held: list[tuple[datetime, int, InstanceKey]] = []
        while self.retries and self.retries[0][0] <= now:
            entry = heapq.heappop(self.retries)
            if entry[2] in self.blocked:
                held.append(entry)
            else:
                self._enqueue(entry[2])
        for entry in held:
            heapq.heappush(self.retries, entry)

    def timed_out(self, key: tuple[str, int, int, int], flight: Flight) -> None:
        """The host gave up on a try that outlived its timeout (and cancelled it)."""
        timeout = self.plan.nodes[key[1]].options.timeout
        now = self.clock.now()
        append_to_log(flight.log_path, f"timed out after {timeout}; the try was stopped\n")
        outcome = TryOutcome(
            key=key,
            ok=False,
            started_at=flight.instance.started_at or now,
            ended_at=now,
            error=f"TaskTimeoutError: task ran longer than its timeout of {timeout}",
        )
        self.handle(outcome, flight)

    # cancelling (see EngineHost._cancel and docs/engine.md)

    def cancel_try(self, flight: Flight, note: str) -> None:
        """The host stopped (or gave up on) a try because its run is cancelled."""
        instance = flight.instance
        now = self.clock.now()
        append_to_log(flight.log_path, f"{CANCELLED}{note}; the try was stopped\n")
        self.in_flight -= 1
        self._record_end(
            instance,
            TaskState.FAILED,
            TaskState.FAILED,
            now,
            self._duration(instance, instance.started_at or now, now),
            error=CANCELLED + note,
        )
        self._move(instance, TaskState.FAILED)
        self._notify(instance, TaskState.FAILED)

    def cancel(self, note: str) -> None:
        """Start nothing more: every instance that has not started yet is ``skipped``.

        Called once the host stopped the tries in flight (``cancel_try``) and dropped
        the run's ready instances; the run is then done, and ``finish`` fails it.
        Nothing is propagated downstream: no trigger rule may start a task now.
        """
        self.cancelled = note
        self.retries.clear()
        self.queued = 0
        now = self.clock.now()
        for instance in self.view.instances.values():
            if instance.state not in _NOT_STARTED:
                continue
            self._queue_state(instance, TaskState.SKIPPED, CANCELLED + note, now)
            self._move(instance, TaskState.SKIPPED)
            instance.released = True
            self._notify(instance, TaskState.SKIPPED)

    # starting tries

    def wait_for_slots(self, key: InstanceKey) -> None:
        """``key`` waits for its pool's slots: it shows ``queued`` until it starts."""
        instance = self.view.instances[key]
        # a rescheduled sensor keeps its state: its next start is a poke of the same try
        if instance.state in (TaskState.QUEUED, TaskState.UP_FOR_RESCHEDULE):
            return
        self._queue_state(instance, TaskState.QUEUED)
        self._move(instance, TaskState.QUEUED)
        self._notify(instance, TaskState.QUEUED)

    def refuse(self, key: InstanceKey, error: str) -> None:
        """``key`` cannot start (its pool does not exist): it fails without a try."""
        self.queued -= 1
        self._fail_without_try(key, error)

    def start(self, key: InstanceKey) -> tuple[TryRequest, Callable[..., Any], Flight] | None:
        """Build the start of ``key``'s next try (its store change goes to ``pending``)."""
        self.queued -= 1
        started = self._prepare_start(key)
        if started is not None:
            self.in_flight += 1
        return started

    def _prepare_start(
        self, key: InstanceKey
    ) -> tuple[TryRequest, Callable[..., Any], Flight] | None:
        index, map_index = key
        node = self.plan.nodes[index]
        instance = self.view.instances[key]
        try:
            args, kwargs = self._arguments(node, map_index)
        except Exception as exc:  # an upstream result could not be read back
            self._fail_without_try(key, f"{type(exc).__name__}: {exc}")
            return None
        # a rescheduled sensor's next poke goes on with the same try (and log)
        poke_again = instance.state is TaskState.UP_FOR_RESCHEDULE
        try_number = instance.try_number + (0 if poke_again else 1)
        suffix = f".{map_index}" if map_index >= 0 else ""
        log_path = f"{self.log_root}/{node.task_id}{suffix}/try-{try_number}.log"
        now = self.clock.now()
        self.pending.changes.append(
            StartTry(
                run_id=self.run.run_id,
                task_id=node.task_id,
                map_index=map_index,
                try_number=try_number,
                expected=instance.state.value,
                started_at=now,
                log_path=log_path,
                hostname=self.shared.hostname,
                poke_again=poke_again,
            )
        )
        if not poke_again:
            instance.started_at = now
        self._move(instance, TaskState.RUNNING)
        instance.try_number = try_number
        timeout = node.options.timeout
        asset_info = None
        if isinstance(node.fn, AssetStep) and self.shared.assets is not None:
            asset_info = self.shared.assets.try_info(node.fn, self.run.partition_key, now)
            if node.fn.sees_run:
                asset_info = run_view_of_assets(asset_info, self.view)
        request = TryRequest(
            key=(self.run.run_id, index, map_index, try_number),
            pipeline=self.pipeline_ref,
            task_id=node.task_id,
            run_id=self.run.run_id,
            map_index=map_index,
            try_number=try_number,
            args=args,
            kwargs=kwargs,
            context_parameters=node.context_parameters,
            logical_date=self.run.logical_date,
            data_interval_start=self.run.data_interval_start,
            data_interval_end=self.run.data_interval_end,
            params=self.run.params,
            upstream_states=self.view.upstream_states(index, map_index),
            log_path=log_path,
            timeout=timeout.total_seconds() if timeout else None,
            sensor=node.sensor,
            branch=node.kind == "branch",
            partition_key=self.run.partition_key,
            asset_info=asset_info,
            function=node.fn if getattr(node.fn, "portable", False) else None,
        )
        return request, node.fn, Flight(instance, log_path)

    def _arguments(self, node: PlanNode, map_index: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args: tuple[Any, ...] = node.args
        kwargs: dict[str, Any] = dict(node.kwargs)
        per_item = node.map_source is not None and node.map_over is not None
        if node.has_refs:
            args = tuple(self._resolve(value) for value in args)
            kwargs = {
                name: value if per_item and name == node.map_over else self._resolve(value)
                for name, value in kwargs.items()
            }
        if per_item and node.map_source is not None and node.map_over is not None:
            kwargs[node.map_over] = self.view.instance_value((node.map_source, map_index))
        elif node.map_over is not None:
            kwargs[node.map_over] = kwargs[node.map_over][map_index]
        return args, kwargs

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self.view.value_of(value.index)
        if isinstance(value, (list, tuple)):
            return type(value)(self._resolve(item) for item in value)
        if isinstance(value, dict):
            return {key: self._resolve(item) for key, item in value.items()}
        return value

    # handling outcomes

    def handle(self, outcome: TryOutcome, flight: Flight) -> None:
        """Record how a try ended and evaluate what it unblocks."""
        self.in_flight -= 1
        if outcome.not_met:
            self._not_met(flight)
        elif outcome.ok:
            self._succeeded(outcome, flight)
        elif outcome.sensor_timeout:
            error = outcome.error or "SensorTimeoutError"
            self._sensor_timed_out(flight, outcome.started_at, outcome.ended_at, error)
        else:
            self._failed(outcome, flight, outcome.error or "failed", outcome.traceback)

    def _succeeded(self, outcome: TryOutcome, flight: Flight) -> None:
        instance = flight.instance
        node = self.plan.nodes[instance.node]
        value = outcome.value
        skipped: list[int] = []
        if isinstance(value, StepReport):
            self.pending.changes.extend(
                report_changes(
                    value, self.run.run_id, node.task_id, instance.try_number, outcome.ended_at
                )
            )
            refused = refusal(value)
            if refused is not None:
                append_to_log(flight.log_path, refused + "\n")
                self._failed(outcome, flight, refused, None, retry=False)
                return
            value = value.stored_value()
        try:
            if node.kind == "branch":
                skipped = self._branch_skips(node, value)
                value = chosen_ids(value)  # a returned task is stored as its id
            if outcome.encoded:  # by the thread that reported it (see EngineHost._report)
                result, result_ref = outcome.result, outcome.result_ref
            else:
                result, result_ref = self.shared.result_store.encode(
                    self.run.run_id, node.task_id, instance.map_index, value
                )
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, HeadwaterError):
                message = f"the result of task {node.task_id!r} cannot be stored: {message}"
            append_to_log(flight.log_path, message + "\n")
            self._failed(outcome, flight, message, None)
            return
        self._record_end(
            instance,
            TaskState.SUCCESS,
            TaskState.SUCCESS,
            outcome.ended_at,
            self._duration(instance, outcome.started_at, outcome.ended_at),
            result=result,
            result_ref=result_ref,
        )
        self._move(instance, TaskState.SUCCESS)
        instance.value, instance.has_value = value, True
        instance.result, instance.result_ref = result, result_ref
        self._notify(instance, TaskState.SUCCESS)
        self._task_callback(node, instance, flight, "on_success")
        for downstream in skipped:
            # marked before the branch's success is counted below, which decides them
            self.view.nodes[downstream].excluded = True
        self._instance_final(instance)
        for downstream in skipped:
            if not self.view.nodes[downstream].released:
                self._exclude(downstream)

    def _branch_skips(self, node: PlanNode, chosen: Any) -> list[int]:
        """Direct downstream nodes a branch did not choose; raises BranchError if invalid."""
        downstream = [self.plan.nodes[i] for i in node.downstream]
        if chosen is None:
            picks: list[Any] = []
        elif isinstance(chosen, (list, tuple, set)):
            picks = list(chosen)
        else:
            picks = [chosen]
        selected: set[int] = set()
        for pick in picks:
            name = getattr(pick, "task_id", pick)
            matches = [d.index for d in downstream if d.task_id == name] or [
                d.index for d in downstream if d.base_id == name
            ]
            if not isinstance(name, str) or not matches:
                options = ", ".join(repr(d.task_id) for d in downstream) or "none"
                raise BranchError(
                    f"branch task {node.task_id!r} in pipeline {self.run.pipeline_id!r} "
                    f"returned {pick!r}, which is not one of its direct downstream tasks "
                    f"({options}); return one of those ids, a list of them, or None"
                )
            selected.update(matches)
        # a task below a chosen one runs as it would without the branch, even if it is
        # also a direct downstream of the branch (as in Airflow)
        reachable = selected | self.plan.descendants(sorted(selected))
        return [d.index for d in downstream if d.index not in reachable]

    def _failed(
        self,
        outcome: TryOutcome,
        flight: Flight,
        error: str,
        traceback: str | None,
        *,
        retry: bool = True,
    ) -> None:
        instance = flight.instance
        node = self.plan.nodes[instance.node]
        retry = retry and instance.try_number < instance.max_tries
        next_try_at = None
        if retry:
            delay = compute_retry_delay(node.options, instance.try_number)
            next_try_at = outcome.ended_at + delay
        state = TaskState.UP_FOR_RETRY if retry else TaskState.FAILED
        self._record_end(
            instance,
            TaskState.FAILED,
            state,
            outcome.ended_at,
            self._duration(instance, outcome.started_at, outcome.ended_at),
            error=error,
            traceback=traceback,
            next_try_at=next_try_at,
        )
        self._move(instance, state)
        instance.next_try_at = next_try_at
        self._notify(instance, state)
        if retry:
            assert next_try_at is not None
            key = (node.index, instance.map_index)
            heapq.heappush(self.retries, (next_try_at, next(self.sequence), key))
            self._task_callback(node, instance, flight, "on_retry", error=error)
            return
        self._task_callback(node, instance, flight, "on_failure", error=error)
        self._instance_final(instance)

    # sensors

    def _duration(self, instance: Instance, started_at: datetime, ended_at: datetime) -> float:
        """A try's duration; a reschedule-mode sensor's try spans from its first poke.

        An outcome made up by the executor (its worker died: it knows only when it
        noticed) counts from the try's start as recorded here.
        """
        if instance.started_at is not None and (
            self._reschedules(instance.node) or started_at >= ended_at
        ):
            started_at = min(instance.started_at, ended_at)
        return (ended_at - started_at).total_seconds()

    def _fail_without_try(self, key: InstanceKey, error: str) -> None:
        node = self.plan.nodes[key[0]]
        logger.error(
            "task %s of run %s failed before starting: %s",
            label(node.task_id, key[1]),
            self.run.run_id,
            error,
        )
        self._settle_instance(self.view.instances[key], TaskState.FAILED, error)

    # callbacks and the end of the run

    def _notify(self, instance: Instance, state: TaskState) -> None:
        if self.shared.listener is not None:
            task_id = self.plan.nodes[instance.node].task_id
            self.shared.listener(label(task_id, instance.map_index), state.value)

    def _task_callback(
        self, node: PlanNode, instance: Instance, flight: Flight, name: str, **extra: Any
    ) -> None:
        callback = getattr(node.options, name)
        if callback is None:
            return
        log = TryLog(flight.log_path)
        context = Context(
            run_id=self.run.run_id,
            pipeline_id=self.run.pipeline_id,
            task_id=node.task_id,
            map_index=instance.map_index,
            try_number=instance.try_number,
            logical_date=self.run.logical_date,
            data_interval_start=self.run.data_interval_start,
            data_interval_end=self.run.data_interval_end,
            params=self.run.params,
            log=try_logger(f"headwater.task.{node.task_id}", log),
            upstream_states=self.view.upstream_states(node.index, instance.map_index),
        )
        what = f"{name} callback of task {node.task_id!r}"

        def call() -> None:
            call_safely(callback, context, what=what, log=context.log, **extra)
            log.close()

        self.after_commit.append(call)

    def failures(self) -> list[str]:
        """Why the run fails: its failed instances and upstream-failed leaves (labels).

        A run fails when any task instance ended ``failed`` (after its retries), unless
        its task has ``allow_failure=True``, or when any leaf task ended
        ``upstream_failed`` (or never ended).
        """
        nodes = self.plan.nodes
        reasons = [
            label(nodes[key[0]].task_id, key[1])
            for key, instance in sorted(self.view.instances.items())
            if instance.state is TaskState.FAILED and not nodes[key[0]].options.allow_failure
        ]
        reasons += [
            leaf.task_id
            for leaf in self.plan.leaves
            if self.view.nodes[leaf.index].final in (TaskState.UPSTREAM_FAILED, None)
        ]
        return reasons

    def finish(self) -> Callable[[], None]:
        """Decide the run's state and queue its update in ``pending``.

        Returns the pipeline callback to call once that update is committed.
        """
        failed = bool(self.failures()) or self.cancelled is not None
        state = RunState.FAILED if failed else RunState.SUCCESS
        self.pending.run_update = RunUpdate(
            run_id=self.run.run_id,
            expected=run_sources(state),
            state=state.value,
            ended_at=self.clock.now(),
        )
        callback = self.pipeline.on_failure if failed else self.pipeline.on_success
        if callback is None:
            return lambda: None
        task_states = self.view.task_states()
        context = RunContext(
            run_id=self.run.run_id,
            pipeline_id=self.run.pipeline_id,
            state=state.value,
            logical_date=self.run.logical_date,
            data_interval_start=self.run.data_interval_start,
            data_interval_end=self.run.data_interval_end,
            params=self.run.params,
            task_states=task_states,
            failed_tasks=tuple(k for k, v in task_states.items() if v == "failed"),
            log=logger,
        )
        what = f"{'on_failure' if failed else 'on_success'} callback of pipeline "
        what += repr(self.run.pipeline_id)
        return lambda: call_safely(callback, context, what=what)
