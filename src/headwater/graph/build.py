"""Build an ExecutionPlan from the task calls recorded while a pipeline was defined."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.authoring.definition import TaskCall, TaskHandle
from headwater.authoring.retry import resolve_options
from headwater.errors import DefinitionError
from headwater.graph.plan import ExecutionPlan, PlanNode, Ref


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
    if isinstance(value, TaskHandle):
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


def _map_sources(calls: Mapping[str, TaskCall], index_by_id: Mapping[str, int]) -> dict[int, int]:
    """Mapped tasks whose list is the result of another mapped task: index -> its index."""
    sources = {}
    for task_id, call in calls.items():
        if call.map_over is None:
            continue
        items = call.kwargs.get(call.map_over)
        if isinstance(items, TaskHandle) and calls[items.task_id].map_over is not None:
            sources[index_by_id[task_id]] = index_by_id[items.task_id]
    return sources


def build_plan(
    pipeline_id: str, calls: Mapping[str, TaskCall], default_task_args: Mapping[str, Any]
) -> ExecutionPlan:
    """Validate the recorded calls and freeze them into an ExecutionPlan.

    Raises:
        DefinitionError: on a cycle (with its path), an empty pipeline or a bad option,
            naming the pipeline and the task.
    """
    if not calls:
        raise DefinitionError(
            f"pipeline {pipeline_id!r} declares no task; call at least one @task "
            "inside the pipeline function"
        )
    upstream = {task_id: call.upstream for task_id, call in calls.items()}
    cycle = find_cycle(upstream)
    if cycle is not None:
        raise DefinitionError(f"pipeline {pipeline_id!r} has a cycle: {' -> '.join(cycle)}")
    order = topological_order(upstream)
    index_by_id = {task_id: index for index, task_id in enumerate(order)}
    downstream: dict[str, list[int]] = {task_id: [] for task_id in order}
    for task_id in order:
        for up in calls[task_id].upstream:
            downstream[up].append(index_by_id[task_id])
    sources = _map_sources(calls, index_by_id)
    per_item: dict[int, list[int]] = {}
    for child, source in sources.items():
        per_item.setdefault(source, []).append(child)
    nodes = []
    for index, task_id in enumerate(order):
        call = calls[task_id]
        where = f"pipeline {pipeline_id!r}, task {task_id!r}"
        defaults = default_task_args
        if call.task.sensor is not None:
            # a sensor's wait is bounded by its own timeout, not by the tries' default one
            defaults = {k: v for k, v in default_task_args.items() if k != "timeout"}
        options = resolve_options(call.options, defaults, where)
        args, args_refs = _replace_handles(call.args, index_by_id)
        kwargs, kwargs_refs = _replace_handles(call.kwargs, index_by_id)
        nodes.append(
            PlanNode(
                index=index,
                task_id=task_id,
                base_id=call.task.task_id,
                kind=call.task.kind.name,
                fn=call.task.fn,
                args=tuple(args),
                kwargs=dict(kwargs),
                has_refs=args_refs or kwargs_refs,
                context_parameters=call.task.context_parameters,
                options=options,
                upstream=tuple(sorted(index_by_id[up] for up in call.upstream)),
                downstream=tuple(sorted(downstream[task_id])),
                map_over=call.map_over,
                description=call.task.description,
                line=call.line,
                sensor=call.task.sensor,
                map_source=sources.get(index),
                per_item_downstream=tuple(sorted(per_item.get(index, ()))),
                engine_side=call.task.engine_side,
            )
        )
    return ExecutionPlan(pipeline_id=pipeline_id, nodes=tuple(nodes), index_by_id=index_by_id)
