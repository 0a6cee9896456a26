"""Layered layout of a pipeline's graph, computed on the server once per graph version.

Layers come from networkx's topological generations; a few barycenter sweeps (down,
then up) order each layer to reduce edge crossings. The result is a compact JSON-ready
dict the canvas scripts draw as is, cached by the hash of the graph description, so a
graph of 10,000 tasks is laid out once (in a fraction of a second) and never in the
browser.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import networkx as nx  # type: ignore[import-untyped]  # networkx ships no type hints

SWEEPS = 4
_CACHE_SIZE = 64
_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def graph_hash(graph: dict[str, Any]) -> str:
    """A short, stable hash of a graph description (its tasks and their upstreams)."""
    shape = [(t["task_id"], t.get("upstream", [])) for t in graph.get("tasks", [])]
    text = json.dumps(shape, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def layout(graph: dict[str, Any]) -> dict[str, Any]:
    """The graph's layout: ids, layer (x) and rank in layer (y) per task, and edges.

    Tasks keep the order of the description (the order of state strings); ``edges``
    are pairs of indices into it, upstream first. Cached by ``graph_hash``.
    """
    key = graph_hash(graph)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    computed = _compute(graph, key)
    with _lock:
        _cache[key] = computed
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return computed


def _compute(graph: dict[str, Any], key: str) -> dict[str, Any]:
    tasks = graph.get("tasks", [])
    ids = [str(t["task_id"]) for t in tasks]
    index = {task_id: i for i, task_id in enumerate(ids)}
    edges = [
        (index[up], i) for i, t in enumerate(tasks) for up in t.get("upstream", []) if up in index
    ]
    digraph = nx.DiGraph()
    digraph.add_nodes_from(range(len(ids)))
    digraph.add_edges_from(edges)
    layers = [sorted(layer) for layer in nx.topological_generations(digraph)]
    layers = order_layers(layers, digraph)
    x = [0] * len(ids)
    y = [0] * len(ids)
    for depth, layer in enumerate(layers):
        for rank, node in enumerate(layer):
            x[node] = depth
            y[node] = rank
    return {
        "hash": key,
        "ids": ids,
        "x": x,
        "y": y,
        "edges": [list(edge) for edge in edges],
        "width": len(layers),
        "height": max((len(layer) for layer in layers), default=0),
    }


def order_layers(layers: list[list[int]], digraph: Any) -> list[list[int]]:
    """Barycenter sweeps: each node moves to the mean rank of its neighbours in the
    layer before (downward sweep) or after (upward sweep)."""
    rank: dict[int, float] = {}
    for layer in layers:
        for position, node in enumerate(layer):
            rank[node] = position
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        sequence = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for depth in sequence:
            layer = layers[depth]
            neighbours = digraph.predecessors if downward else digraph.successors

            def barycenter(node: int, neighbours: Any = neighbours) -> float:
                seen = [rank[other] for other in neighbours(node)]
                return sum(seen) / len(seen) if seen else rank[node]

            layer.sort(key=barycenter)
            for position, node in enumerate(layer):
                rank[node] = position
    return layers
