"""Asset selections: which assets a job or a command materializes.

A selection is a list of terms separated by spaces or commas; the result is their union,
upstream first. A term is an asset key (``sales/orders_raw``, or a glob such as
``sales/*``), ``group:NAME``, ``tag:NAME`` or ``*`` (every asset). ``+`` before a term
adds everything upstream of it, ``+`` after it everything downstream, as in dbt:
``+orders_cleaned`` is that asset and all it reads from.
"""

from __future__ import annotations

import fnmatch
import re

from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey, key_string
from headwater.errors import ConfigError

_SPLIT = re.compile(r"[\s,]+")


def _matches(graph: AssetGraph, term: str, where: str) -> set[AssetKey]:
    if term == "*":
        return set(graph.assets)
    kind, _, value = term.partition(":")
    if value and kind == "group":
        found = {key for key, item in graph.assets.items() if item.group == value}
        known = sorted({item.group for item in graph.assets.values()})
    elif value and kind == "tag":
        found = {key for key, item in graph.assets.items() if value in item.tags}
        known = sorted({tag for item in graph.assets.values() for tag in item.tags})
    elif value and kind == "key":
        return _matches(graph, value, where)
    elif ":" in term:
        raise ConfigError(
            f"{where}: unknown selection {term!r}; use KEY, group:NAME, tag:NAME or '*', "
            "with '+' before or after for upstream or downstream"
        )
    else:
        if any(c in term for c in "*?["):
            found = {k for k in graph.assets if fnmatch.fnmatchcase(key_string(k), term)}
        else:
            found = {k for k in graph.assets if key_string(k) == term}
            if not found:  # a bare name, as parameters are resolved
                found = {k for k in graph.assets if k[-1] == term}
        known = sorted(key_string(k) for k in graph.assets)
    if not found:
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise ConfigError(f"{where}: {term!r} selects no asset (known: {shown or 'none'})")
    return found


def select(graph: AssetGraph, expression: str, *, where: str = "selection") -> list[AssetKey]:
    """The keys ``expression`` selects, upstream first.

    Raises:
        ConfigError: an empty selection, an unknown key, group or tag.
    """
    terms = [t for t in _SPLIT.split(expression.strip()) if t]
    if not terms:
        raise ConfigError(f"{where}: the selection is empty; name assets, group:NAME or '*'")
    selected: set[AssetKey] = set()
    for term in terms:
        upstream, downstream = term.startswith("+"), term.endswith("+") and term != "+"
        core = term[1 if upstream else 0 : -1 if downstream else None]
        found = _matches(graph, core, where)
        if upstream:
            found |= graph.upstream_closure(found)
        if downstream:
            found |= graph.downstream_closure(found)
        selected |= found
    return graph.in_order(selected)
