"""Build an ExecutionPlan from the tasks a pipeline declared (``NodeSpec``).

Authoring records the calls of a pipeline function and validates their options; this
module checks the graph they form (a cycle is reported with its path), orders it, and
freezes it into the plan the engine runs. It knows nothing of how tasks are declared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from headwater.errors import DefinitionError
from headwater.graph.options import SensorPolicy, TaskOptions
from headwater.graph.plan import ExecutionPlan, PlanNode, Ref


@dataclass(frozen=True, slots=True)
class Placeholder:
    """In a task's arguments, stands for the result of the task ``task_id``."""

    task_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """One task as declared: its function, arguments (with Placeholders), options, edges."""

    task_id: str
    base_id: str  # the task's own id before group prefix and suffix
    kind: str  # "python", "branch", "shell" or "sensor"
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    context_parameters: tuple[str, ...]
    options: TaskOptions
    upstream: tuple[str, ...]
    map_over: str | None = None
    description: str = ""
    line: int | None = None
    sensor: SensorPolicy | None = None
    engine_side: bool = False


def find_cycle(upstream: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in the graph as a path of ids whose last equals its first, or None."""
    downstream: dict[str, list[str]] = {task_id: [] for task_id in upstream}
    for task_id, ups in upstream.items():
        for up in ups:
            downstream[up].append(task_id)
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(upstream, white)
    for start in upstream:
        if color[start] != white:
            continue
        path = [start]
        color[start] = grey
        iterators = [iter(downstream[start])]
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                color[path.pop()] = black
                iterators.pop()
            elif color[child] == grey:
                return [*path[path.index(child) :], child]
            elif color[child] == white:
                color[child] = grey
                path.append(child)
                iterators.append(iter(downstream[child]))
    return None


def topological_order(upstream: Mapping[str, list[str]]) -> list[str]:
    """Ids ordered so that each comes after its upstream ones, keeping declaration order."""
    remaining = {task_id: len(ups) for task_id, ups in upstream.items()}
    downstream: dict[str, list[str]] = {task_id: [] for task_id in upstream}
    for task_id, ups in upstream.items():
        for up in ups:
            downstream[up].append(task_id)
    order = [task_id for task_id, count in remaining.items() if count == 0]
    for task_id in order:  # the list grows while it is walked
        for child in downstream[task_id]:
            remaining[child] -= 1
            if remaining[child] == 0:
                order.append(child)
    return order


def _replace_handles(value: Any, index_by_id: Mapping[str, int]) -> tuple[Any, bool]:
    if isinstance(value, Placeholder):
        return Ref(index_by_id[value.task_id]), True
    if isinstance(value, (list, tuple)):
        items = [_replace_handles(item, index_by_id) for item in value]
        if any(found for _, found in items):
            return type(value)(item for item, _ in items), True
        return value, False
    if isinstance(value, dict):
        pairs = {key: _replace_handles(item, index_by_id) for key, item in value.items()}
        if any(found for _, found in pairs.values()):
            return {key: item for key, (item, _) in pairs.items()}, True
        return value, False
    return value, False


def _map_sources(specs: Mapping[str, NodeSpec], index_by_id: Mapping[str, int]) -> dict[int, int]:
    """Mapped tasks whose list is the result of another mapped task: index -> its index."""
    sources = {}
    for task_id, spec in specs.items():
        if spec.map_over is None:
            continue
        items = spec.kwargs.get(spec.map_over)
        if isinstance(items, Placeholder) and specs[items.task_id].map_over is not None:
            sources[index_by_id[task_id]] = index_by_id[items.task_id]
    return sources


def build_plan(pipeline_id: str, specs: Mapping[str, NodeSpec]) -> ExecutionPlan:
    """Check the declared tasks' graph and freeze it into an ExecutionPlan.

    Raises:
        DefinitionError: on a cycle (with its path) or an empty pipeline, naming the
            pipeline.
    """
    if not specs:
        raise DefinitionError(
            f"pipeline {pipeline_id!r} declares no task; call at least one @task "
            "inside the pipeline function"
        )
    upstream = {task_id: list(spec.upstream) for task_id, spec in specs.items()}
    cycle = find_cycle(upstream)
    if cycle is not None:
        raise DefinitionError(f"pipeline {pipeline_id!r} has a cycle: {' -> '.join(cycle)}")
    order = topological_order(upstream)
    index_by_id = {task_id: index for index, task_id in enumerate(order)}
    downstream: dict[str, list[int]] = {task_id: [] for task_id in order}
    for task_id in order:
        for up in specs[task_id].upstream:
            downstream[up].append(index_by_id[task_id])
    sources = _map_sources(specs, index_by_id)
    per_item: dict[int, list[int]] = {}
    for child, source in sources.items():
        per_item.setdefault(source, []).append(child)
    nodes = []
    for index, task_id in enumerate(order):
        spec = specs[task_id]
        args, args_refs = _replace_handles(spec.args, index_by_id)
        kwargs, kwargs_refs = _replace_handles(dict(spec.kwargs), index_by_id)
        nodes.append(
            PlanNode(
                index=index,
                task_id=task_id,
                base_id=spec.base_id,
                kind=spec.kind,
                fn=spec.fn,
                args=tuple(args),
                kwargs=dict(kwargs),
                has_refs=args_refs or kwargs_refs,
                context_parameters=spec.context_parameters,
                options=spec.options,
                upstream=tuple(sorted(index_by_id[up] for up in spec.upstream)),
                downstream=tuple(sorted(downstream[task_id])),
                map_over=spec.map_over,
                description=spec.description,
                line=spec.line,
                sensor=spec.sensor,
                map_source=sources.get(index),
                per_item_downstream=tuple(sorted(per_item.get(index, ()))),
                engine_side=spec.engine_side,
            )
        )
    return ExecutionPlan(pipeline_id=pipeline_id, nodes=tuple(nodes), index_by_id=index_by_id)
