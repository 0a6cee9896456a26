"""Graph layout on the server: layers by topological generation, then a few barycenter
sweeps to reduce edge crossings. A graph's shape is fixed per version, so each layout
is computed once and cached by a hash of the graph (10,000 tasks take well under a
second; browsers' layout libraries take many seconds)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence

import networkx as nx  # type: ignore[import-untyped]

LAYER_GAP = 240  # x distance between layers
ROW_GAP = 60  # y distance between tasks of one layer
SWEEPS = 4
_CACHE_SIZE = 64

Position = tuple[int, int]
_cache: OrderedDict[str, dict[str, Position]] = OrderedDict()
_lock = threading.Lock()


def graph_hash(tasks: Sequence[tuple[str, Sequence[str]]]) -> str:
    """A hash of the graph's shape: task ids and their upstream ids."""
    text = json.dumps([[task_id, sorted(up)] for task_id, up in tasks], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def layout(tasks: Sequence[tuple[str, Sequence[str]]]) -> dict[str, Position]:
    """``(x, y)`` of each task; ``tasks`` are (task id, upstream ids), in plan order."""
    key = graph_hash(tasks)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    positions = compute_layout(tasks)
    with _lock:
        _cache[key] = positions
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return positions


def compute_layout(tasks: Sequence[tuple[str, Sequence[str]]]) -> dict[str, Position]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(task_id for task_id, _ in tasks)
    graph.add_edges_from(
        (parent, task_id) for task_id, upstream in tasks for parent in upstream if parent in graph
    )
    try:
        layers = [list(layer) for layer in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:  # a cycle cannot be stored; lay it out in one column
        layers = [[task_id for task_id, _ in tasks]]
    order = {node: index for layer in layers for index, node in enumerate(layer)}
    for sweep in range(SWEEPS):
        _sweep(graph, layers, order, downward=sweep % 2 == 0)
    return {
        node: (depth * LAYER_GAP, index * ROW_GAP)
        for depth, layer in enumerate(layers)
        for index, node in enumerate(layer)
    }


def _sweep(
    graph: nx.DiGraph[str], layers: list[list[str]], order: dict[str, int], *, downward: bool
) -> None:
    """Reorder each layer by the mean position of its tasks' neighbours on one side."""
    neighbours = graph.predecessors if downward else graph.successors
    for layer in layers[1:] if downward else layers[-2::-1]:
        centre = {}
        for node in layer:
            around = [order[n] for n in neighbours(node)]
            centre[node] = sum(around) / len(around) if around else float(order[node])
        layer.sort(key=lambda node: (centre[node], order[node]))
        for index, node in enumerate(layer):
            order[node] = index
