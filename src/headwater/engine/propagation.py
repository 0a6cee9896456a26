"""Propagation: what each node of a run does once its upstream tasks end.

The decisions half of ``RunDriver`` (which mixes it in): an instance that became final
counts in the inputs of its downstream tasks, which are then decided by their trigger
rules: run (enqueued with the host), skipped, upstream failed; a mapped task is expanded
into one instance per item. Every decision is a change queued in the driver's
``pending`` batch, never a write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from headwater.clock import Clock
from headwater.engine.run_state import Instance, InstanceKey, RunView
from headwater.engine.states import TaskState
from headwater.engine.trigger_rules import Decision
from headwater.errors import HeadwaterError
from headwater.graph.plan import ExecutionPlan, PlanNode
from headwater.store.records import AddInstances, Batch, FinishTry, RunRecord, SetState


class Propagation:
    """Trigger-rule decisions, settling and mapping, for ``RunDriver``."""

    # set by RunDriver
    plan: ExecutionPlan
    view: RunView
    run: RunRecord
    clock: Clock
    pending: Batch
    propagation: list[Instance]

    def _enqueue(self, key: InstanceKey) -> None:
        raise NotImplementedError

    def _move(self, instance: Instance, state: TaskState) -> None:
        raise NotImplementedError

    def _notify(self, instance: Instance, state: TaskState) -> None:
        raise NotImplementedError

    def _resolve(self, value: Any) -> Any:
        raise NotImplementedError

    def _instance_final(self, instance: Instance) -> None:
        """An instance reached a final state: count it where it counts, and decide.

        Its node's final state (once all its instances are final) counts in the inputs of
        its downstream tasks; an instance of a mapped task counts, by itself, in the
        inputs of the same item of the tasks mapped item by item over it. Settling a task
        (skipped, upstream failed) makes it final in turn. Rather than recursing, which a
        long chain of such tasks would take past Python's recursion limit, a call made
        while propagating only pushes the instance on ``self.propagation``; the outermost
        call works through that stack, depth first.
        """
        stack = self.propagation
        stack.append(instance)
        if len(stack) > 1:
            return  # called from the loop below
        try:
            while stack:
                self._propagate(stack.pop())
        finally:
            stack.clear()

    def _propagate(self, instance: Instance) -> None:
        index, nodes = instance.node, self.view.nodes
        node = self.plan.nodes[index]
        if instance.map_index >= 0:
            for child in node.per_item_downstream:
                item = self.view.instances.get((child, instance.map_index))
                if item is None or item.counts is None:
                    continue  # not expanded item by item (it settled as a whole)
                item.counts.add(instance.state)
                if not item.released:
                    self._evaluate_item((child, instance.map_index))
        final = self.view.aggregate(index)
        if final is None or nodes[index].final is not None:
            return
        nodes[index].final = final
        for following in node.downstream:
            view = nodes[following]
            view.counts.add(final)
            source = self.plan.nodes[following].map_source
            if view.map_indices and source is not None:
                if source == index:
                    continue  # its items counted this node's instances one by one
                for map_index in view.map_indices:
                    item = self.view.instances[(following, map_index)]
                    assert item.counts is not None  # set when expanded item by item
                    item.counts.add(final)
                    if not item.released:
                        self._evaluate_item((following, map_index))
            elif not view.released:
                self._evaluate(following)

    def _evaluate(self, index: int) -> None:
        """Decide what a node that was not released yet does now."""
        decision = self.view.decide(index)
        if decision is Decision.WAIT:
            return
        if decision is Decision.SKIP:
            self._settle(index, TaskState.SKIPPED, None)
        elif decision is Decision.UPSTREAM_FAILED:
            self._settle(index, TaskState.UPSTREAM_FAILED, None)
        elif self.plan.nodes[index].is_mapped:
            self._expand(index)
        else:
            self.view.nodes[index].released = True
            self.view.instances[(index, -1)].released = True
            self._enqueue((index, -1))

    def _evaluate_item(self, key: InstanceKey) -> None:
        """Decide what an instance of a task mapped item by item does now."""
        decision = self.view.decide_item(key)
        if decision is Decision.WAIT:
            return
        instance = self.view.instances[key]
        instance.released = True
        if decision is Decision.RUN:
            self._enqueue(key)
        else:
            state = TaskState.SKIPPED if decision is Decision.SKIP else TaskState.UPSTREAM_FAILED
            self._settle_instance(instance, state, None)

    def _exclude(self, index: int) -> None:
        """A branch did not choose ``index``: it will not run (see ``evaluate``)."""
        view = self.view.nodes[index]
        view.excluded = True
        if view.map_indices and self.plan.nodes[index].map_source is not None:
            for map_index in view.map_indices:
                if not self.view.instances[(index, map_index)].released:
                    self._evaluate_item((index, map_index))
        elif not view.released:
            self._evaluate(index)

    def _settle(self, index: int, state: TaskState, error: str | None) -> None:
        """Give an unreleased node a final state without running it."""
        view = self.view.nodes[index]
        if view.released:
            return
        view.released = True
        self._settle_instance(self.view.instances[(index, -1)], state, error)

    def _settle_instance(self, instance: Instance, state: TaskState, error: str | None) -> None:
        instance.released = True
        self._queue_state(instance, state, error, self.clock.now())
        self._move(instance, state)
        self._notify(instance, state)
        self._instance_final(instance)

    def _queue_state(
        self,
        instance: Instance,
        state: TaskState,
        error: str | None = None,
        ended_at: datetime | None = None,
    ) -> None:
        """Queue ``instance``'s move to ``state`` without a try (the store's SetState)."""
        self.pending.changes.append(
            SetState(
                run_id=self.run.run_id,
                task_id=self.plan.nodes[instance.node].task_id,
                map_index=instance.map_index,
                expected=instance.state.value,
                state=state.value,
                error=error,
                ended_at=ended_at,
            )
        )

    def _record_end(
        self,
        instance: Instance,
        try_state: TaskState,
        state: TaskState,
        ended_at: datetime,
        duration: float,
        **extra: Any,
    ) -> None:
        """Queue the end of ``instance``'s current try: its row ends ``try_state``, the
        instance moves to ``state`` (``extra``: the other fields of FinishTry)."""
        self.pending.changes.append(
            FinishTry(
                run_id=self.run.run_id,
                task_id=self.plan.nodes[instance.node].task_id,
                map_index=instance.map_index,
                try_number=instance.try_number,
                try_state=try_state.value,
                instance_state=state.value,
                ended_at=ended_at,
                duration=duration,
                **extra,
            )
        )

    def _expand(self, index: int) -> None:
        """Create one instance per item of a mapped task's list."""
        node = self.plan.nodes[index]
        assert node.map_over is not None
        try:
            items = self._arguments_for_map(node)
        except Exception as exc:
            self._settle(index, TaskState.FAILED, f"{type(exc).__name__}: {exc}")
            return
        if not items:
            self._settle(index, TaskState.SKIPPED, "mapped over an empty list")
            return
        for map_index in self._add_items(index, len(items)):
            self.view.instances[(index, map_index)].released = True
            self._enqueue((index, map_index))
        for child in node.per_item_downstream:
            if not self.view.nodes[child].released:
                self._expand_items(child)

    def _expand_items(self, index: int) -> None:
        """Expand a task mapped item by item: one instance per instance of its source.

        Each instance then waits for its own item of the source (and for the task's
        other upstream tasks) and is decided by itself.
        """
        node = self.plan.nodes[index]
        assert node.map_source is not None
        count = len(self.view.nodes[node.map_source].map_indices)
        for map_index in self._add_items(index, count):
            self.view.instances[(index, map_index)].counts = self.view.item_counts(index, map_index)
            self._evaluate_item((index, map_index))
        for child in node.per_item_downstream:
            if not self.view.nodes[child].released:
                self._expand_items(child)

    def _add_items(self, index: int, count: int) -> list[int]:
        """Replace node ``index``'s unexpanded instance with ``count`` instances."""
        node = self.plan.nodes[index]
        view = self.view.nodes[index]
        view.released = True
        view.map_indices = list(range(count))
        placeholder = self.view.instances.pop((index, -1), None)
        tries = placeholder.try_number if placeholder is not None else 0
        max_tries = tries + node.options.retries + 1
        self.pending.changes.append(
            AddInstances(
                run_id=self.run.run_id,
                instances=tuple((node.task_id, m, max_tries, tries) for m in view.map_indices),
                remove_placeholder=node.task_id,
            )
        )
        for m in view.map_indices:
            self.view.instances[(index, m)] = Instance(
                node=index,
                map_index=m,
                state=TaskState.NONE,
                try_number=tries,
                max_tries=max_tries,
            )
        return view.map_indices

    def _arguments_for_map(self, node: PlanNode) -> list[Any]:
        assert node.map_over is not None
        items = self._resolve(node.kwargs[node.map_over])
        if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__len__"):
            raise HeadwaterError(
                f"task {node.task_id!r} in pipeline {self.run.pipeline_id!r} maps over "
                f"{node.map_over!r}, which must be a list, got {type(items).__name__}"
            )
        return list(items)
