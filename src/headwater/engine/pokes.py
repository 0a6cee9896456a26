"""SensorPokes: what a driver does when a sensor's poke ends without its condition met.

A reschedule-mode sensor gives its slot back between pokes (``up_for_reschedule`` until
the next), times out as its policy says (failed, or skipped with ``soft_fail``), and a poke
cut short by its driver's death is simply made again. Mixed into ``RunDriver``.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime
from typing import Any

from headwater.authoring.sensor_policy import next_poke_at, timeout_message
from headwater.engine.propagation import Propagation
from headwater.engine.run_state import Flight, Instance, InstanceKey
from headwater.engine.states import TaskState
from headwater.executors.try_log import append_to_log
from headwater.graph.options import SensorMode
from headwater.graph.plan import PlanNode


class SensorPokes(Propagation):
    """The sensor half of ``RunDriver``: pokes rescheduled, timed out, made again."""

    # set by RunDriver
    retries: list[tuple[datetime, int, InstanceKey]]
    sequence: itertools.count[int]

    def _task_callback(
        self, node: PlanNode, instance: Instance, flight: Flight, name: str, **extra: Any
    ) -> None:
        raise NotImplementedError

    def _reschedules(self, index: int) -> bool:
        sensor = self.plan.nodes[index].sensor
        return sensor is not None and sensor.mode is SensorMode.RESCHEDULE

    def _not_met(self, flight: Flight) -> None:
        """A reschedule-mode sensor's poke found its condition unmet: wait, or time out.

        The try does not end: the instance becomes ``up_for_reschedule`` until its next
        poke, without holding an executor or pool slot meanwhile.
        """
        instance = flight.instance
        node = self.plan.nodes[instance.node]
        assert node.sensor is not None  # only sensors report not_met
        now = self.clock.now()
        first_poke = instance.started_at or now
        due = next_poke_at(node.sensor, first_poke, now)
        if due is None:
            error = "SensorTimeoutError: " + timeout_message(node.task_id, node.sensor, first_poke)
            append_to_log(flight.log_path, error + "\n")
            self._sensor_timed_out(flight, first_poke, now, error)
            return
        state = TaskState.UP_FOR_RESCHEDULE
        self._record_end(
            instance,
            state,
            state,
            now,
            (now - first_poke).total_seconds(),
            next_try_at=due,
        )
        self._move(instance, state)
        instance.next_try_at = due
        self._notify(instance, state)
        heapq.heappush(self.retries, (due, next(self.sequence), (node.index, instance.map_index)))

    def _sensor_timed_out(
        self, flight: Flight, started_at: datetime, ended_at: datetime, error: str
    ) -> None:
        """A sensor ran out of time: ``failed`` without retry, or ``skipped`` (soft_fail)."""
        instance = flight.instance
        node = self.plan.nodes[instance.node]
        assert node.sensor is not None  # only sensors time out this way
        state = TaskState.SKIPPED if node.sensor.soft_fail else TaskState.FAILED
        self._record_end(
            instance,
            state,
            state,
            ended_at,
            (ended_at - started_at).total_seconds(),
            error=error,
        )
        self._move(instance, state)
        self._notify(instance, state)
        if state is TaskState.FAILED:
            self._task_callback(node, instance, flight, "on_failure", error=error)
        self._instance_final(instance)

    def _interrupted_poke(self, key: InstanceKey, instance: Instance, now: datetime) -> None:
        """A reschedule-mode sensor's poke was running when its driver died: poke again.

        A poke only looks, so it is simply made again, in the same try: the sensor's
        timeout still counts from its first poke.
        """
        self._record_end(
            instance,
            TaskState.UP_FOR_RESCHEDULE,
            TaskState.UP_FOR_RESCHEDULE,
            now,
            0.0,
            next_try_at=now,
        )
        self._move(instance, TaskState.UP_FOR_RESCHEDULE)
        heapq.heappush(self.retries, (now, next(self.sequence), key))
