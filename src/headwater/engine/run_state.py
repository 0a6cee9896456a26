"""The in-memory view of one run that the engine keeps while it drives it.

The store is the durable truth; this view is loaded from it when a run starts or
resumes and then kept in step with every change the engine commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from headwater.engine.results import ResultStore
from headwater.engine.states import FINAL_TASK_STATES, TaskState
from headwater.engine.trigger_rules import Decision, UpstreamCounts, evaluate
from headwater.graph.options import TriggerRule
from headwater.graph.plan import ExecutionPlan, PlanNode
from headwater.store.records import TaskInstanceRecord

InstanceKey = tuple[int, int]  # (node index, map index)


@dataclass(slots=True)
class Instance:
    """One task instance (one map index of a node) as the engine sees it."""

    node: int
    map_index: int
    state: TaskState
    try_number: int
    max_tries: int
    next_try_at: datetime | None = None
    started_at: datetime | None = None  # of the current try (a sensor's: its first poke)
    result: str | None = None
    result_ref: str | None = None
    value: Any = None
    has_value: bool = False
    # Only for an instance of a task mapped item by item (PlanNode.map_source): the
    # states of its own upstream, counted as for a node, and whether it was released.
    counts: UpstreamCounts | None = None
    released: bool = False


@dataclass(slots=True)
class Flight:
    """A try handed to the executor: its driver's instance, log and deadline."""

    instance: Instance
    log_path: str
    deadline: float | None = None


@dataclass(slots=True)
class NodeView:
    """Per-node bookkeeping: upstream counts, whether it was released, its final state."""

    counts: UpstreamCounts
    released: bool = False  # dispatched, expanded, skipped or failed: no longer evaluated
    final: TaskState | None = None
    map_indices: list[int] = field(default_factory=list)
    excluded: bool = False  # a branch upstream did not choose it: it will not run


class RunView:
    """Instances and node views of a run, with the trigger-rule bookkeeping."""

    def __init__(self, plan: ExecutionPlan, result_store: ResultStore) -> None:
        self.plan = plan
        self.result_store = result_store
        self.instances: dict[InstanceKey, Instance] = {}
        self.nodes = [NodeView(UpstreamCounts(total=len(node.upstream))) for node in plan.nodes]

    def load(self, records: list[TaskInstanceRecord]) -> list[str]:
        """Fill the view from stored instances; returns task ids the plan lacks rows for."""
        index_by_id = self.plan.index_by_id
        for record in records:
            index = index_by_id.get(record.task_id)
            if index is None:
                continue  # a task removed from the pipeline since the run was made
            self.instances[(index, record.map_index)] = Instance(
                node=index,
                map_index=record.map_index,
                state=TaskState(record.state),
                try_number=record.try_number,
                max_tries=record.max_tries,
                next_try_at=record.next_try_at,
                started_at=record.started_at,
                result=record.result,
                result_ref=record.result_ref,
                released=record.state != TaskState.NONE.value,
            )
            if record.map_index >= 0:
                self.nodes[index].map_indices.append(record.map_index)
        present = {key[0] for key in self.instances}
        for view in self.nodes:
            view.map_indices.sort()
        for index, view in enumerate(self.nodes):
            states = [instance.state for instance in self.node_instances(index)]
            if any(state is not TaskState.NONE for state in states) or view.map_indices:
                view.released = True
            view.final = self.aggregate(index)
        for index, node in enumerate(self.plan.nodes):
            for up in node.upstream:
                final = self.nodes[up].final
                if final is not None:
                    self.nodes[index].counts.add(final)
            if node.map_source is not None:
                for map_index in self.nodes[index].map_indices:
                    self.instances[(index, map_index)].counts = self.item_counts(index, map_index)
        return [node.task_id for node in self.plan.nodes if node.index not in present]

    def item_counts(self, index: int, map_index: int) -> UpstreamCounts:
        """The upstream counts of instance ``map_index`` of a task mapped item by item."""
        node = self.plan.nodes[index]
        counts = UpstreamCounts(total=len(node.upstream))
        for up in node.upstream:
            if up == node.map_source:
                source = self.instances.get((up, map_index))
                state = source.state if source is not None else None
                if state in FINAL_TASK_STATES:
                    counts.add(state)
            else:
                final = self.nodes[up].final
                if final is not None:
                    counts.add(final)
        return counts

    def node_instances(self, index: int) -> list[Instance]:
        view = self.nodes[index]
        if view.map_indices:
            return [self.instances[(index, m)] for m in view.map_indices]
        instance = self.instances.get((index, -1))
        return [instance] if instance is not None else []

    def aggregate(self, index: int) -> TaskState | None:
        """The node's final state once all its instances are final, else None."""
        states = [instance.state for instance in self.node_instances(index)]
        if not states or any(state not in FINAL_TASK_STATES for state in states):
            return None
        if len(states) == 1:
            return states[0]
        if TaskState.FAILED in states:
            return TaskState.FAILED
        if TaskState.UPSTREAM_FAILED in states:
            return TaskState.UPSTREAM_FAILED
        if all(state is TaskState.SKIPPED for state in states):
            return TaskState.SKIPPED
        return TaskState.SUCCESS

    def decide(self, index: int) -> Decision:
        """What happens to node ``index`` as a whole (not yet released)."""
        node = self.plan.nodes[index]
        rule: TriggerRule = node.options.trigger_rule
        view = self.nodes[index]
        decision = evaluate(rule, view.counts, excluded=view.excluded)
        if (
            decision is Decision.RUN
            and node.map_source is not None
            and self.nodes[node.map_source].final is None
        ):
            # mapped item by item: it expands with its source, not before
            return Decision.WAIT
        return decision

    def decide_item(self, key: InstanceKey) -> Decision:
        """What happens to one instance of a task mapped item by item."""
        instance = self.instances[key]
        assert instance.counts is not None  # set for every such instance
        node = self.plan.nodes[key[0]]
        return evaluate(
            node.options.trigger_rule, instance.counts, excluded=self.nodes[key[0]].excluded
        )

    def value_of(self, index: int) -> Any:
        """The result a downstream task receives from node ``index``.

        A mapped task gives the list of its instances' results, in item order, with None
        for the items that did not succeed.
        """
        view = self.nodes[index]
        if view.map_indices:
            return [self.instance_value((index, m)) for m in view.map_indices]
        instance = self.instances.get((index, -1))
        if instance is None or instance.state is not TaskState.SUCCESS:
            return [] if self.plan.nodes[index].is_mapped else None
        return self.instance_value((index, -1))

    def instance_value(self, key: InstanceKey) -> Any:
        """The result of one instance; None unless it succeeded."""
        instance = self.instances[key]
        if instance.state is not TaskState.SUCCESS:
            return None
        if not instance.has_value:
            instance.value = self.result_store.decode(instance.result, instance.result_ref)
            instance.has_value = True
        return instance.value

    def upstream_states(self, index: int, map_index: int = -1) -> dict[str, str]:
        """The final state of each direct upstream task, as a try's Context shows them.

        A mapped upstream task appears as a whole (``store``: failed if any instance
        failed) and instance by instance (``store[0]``, ``store[1]``...); for an instance of
        a task mapped item by item, its source is its own item's state.
        """
        nodes = self.plan.nodes
        node: PlanNode = nodes[index]
        states: dict[str, str] = {}
        for up in node.upstream:
            task_id = nodes[up].task_id
            if up == node.map_source and map_index >= 0:
                source = self.instances.get((up, map_index))
                states[task_id] = (source.state if source else TaskState.NONE).value
                continue
            states[task_id] = (self.nodes[up].final or TaskState.NONE).value
            for m in self.nodes[up].map_indices:
                states[label(task_id, m)] = self.instances[(up, m)].state.value
        return states

    def task_states(self) -> dict[str, str]:
        return {
            label(self.plan.nodes[key[0]].task_id, key[1]): instance.state.value
            for key, instance in sorted(self.instances.items())
        }


def label(task_id: str, map_index: int) -> str:
    """How an instance is named in output: ``task`` or ``task[2]`` for a mapped one."""
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"
