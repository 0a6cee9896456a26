"""ExecutionPlan: the validated, immutable graph of a pipeline that the engine runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.graph.options import SensorPolicy, TaskOptions


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineRef:
    """Where a worker process finds the pipeline: its module, else its file."""

    pipeline_id: str
    module_name: str
    source_file: str | None


@dataclass(frozen=True, slots=True)
class Ref:
    """Placeholder in a task's arguments for the result of the task at ``index``."""

    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanNode:
    """One task of the plan, with its resolved options and its edges as node indices."""

    index: int
    task_id: str
    base_id: str  # the task's own id before group prefix and suffix, for branch matching
    kind: str  # "python", "branch", "shell" or "sensor"
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    has_refs: bool
    context_parameters: tuple[str, ...]
    options: TaskOptions
    upstream: tuple[int, ...]
    downstream: tuple[int, ...]
    map_over: str | None
    description: str
    line: int | None
    sensor: SensorPolicy | None = None  # how a sensor pokes; None for other tasks
    # A task mapped over the result of another mapped task (``b.map(a.map(items))``) maps
    # item by item: its instance i depends on instance i of ``map_source`` only.
    map_source: int | None = None
    per_item_downstream: tuple[int, ...] = ()  # the tasks mapped item by item over this one
    engine_side: bool = False  # run by the engine itself, given a RunLookup (pipeline_sensor)

    @property
    def is_mapped(self) -> bool:
        return self.map_over is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionPlan:
    """The nodes of a pipeline in a topological order, and lookups over them."""

    pipeline_id: str
    nodes: tuple[PlanNode, ...]
    index_by_id: Mapping[str, int] = field(repr=False)

    def node(self, task_id: str) -> PlanNode:
        return self.nodes[self.index_by_id[task_id]]

    @property
    def leaves(self) -> tuple[PlanNode, ...]:
        """Tasks with no downstream: the run's outcome is decided by them."""
        return tuple(node for node in self.nodes if not node.downstream)

    def descendants(self, indices: list[int]) -> set[int]:
        """Indices of every task downstream of ``indices`` (not including them)."""
        seen: set[int] = set()
        stack = [d for i in indices for d in self.nodes[i].downstream]
        while stack:
            index = stack.pop()
            if index not in seen:
                seen.add(index)
                stack.extend(self.nodes[index].downstream)
        return seen

    def describe(self) -> dict[str, Any]:
        """A JSON-serializable description of the graph, stored with the pipeline."""
        return {
            "tasks": [
                {
                    "task_id": node.task_id,
                    "kind": node.kind,
                    "upstream": [self.nodes[i].task_id for i in node.upstream],
                    "trigger_rule": node.options.trigger_rule.value,
                    "retries": node.options.retries,
                    "timeout_seconds": node.options.timeout.total_seconds()
                    if node.options.timeout
                    else None,
                    "mapped": node.is_mapped,
                    "allow_failure": node.options.allow_failure,
                    "tags": list(node.options.tags),
                    "description": node.description,
                }
                for node in self.nodes
            ]
        }
