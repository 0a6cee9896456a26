"""The asset graph: every asset of a pipelines folder, its dependencies and its checks.

Built once all files are imported: a parameter's name resolves to an asset here, and the
whole graph is validated (unknown dependencies, duplicate keys, cycles with their path,
partition mappings that cannot map), each error naming the asset's file and line.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from headwater.assets.definition import Asset, AssetCheck
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.mappings import PartitionMapping, identity
from headwater.errors import DefinitionError
from headwater.graph.build import find_cycle

IDENTITY = identity()  # the default mapping: the same partition key


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetInput:
    """One dependency of an asset: the upstream key, and the parameter that gets its value.

    ``parameter`` is None for a dependency that passes no data (``deps=[...]``).
    """

    key: AssetKey
    parameter: str | None
    mapping: PartitionMapping


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


class AssetGraph:
    """The validated graph of assets; ``order`` lists keys upstream first."""

    def __init__(
        self,
        assets: Sequence[Asset],
        checks: Sequence[AssetCheck] = (),
        *,
        external: Iterable[AssetKey] = (),
    ) -> None:
        self.assets: dict[AssetKey, Asset] = {}
        for item in assets:
            self._add(item)
        # keys that tasks produce (outlets) or that exist outside: dependencies, not assets
        self.external = frozenset(k for k in external if k not in self.assets)
        self._by_name: dict[str, list[AssetKey]] = {}
        for key in self.assets:
            self._by_name.setdefault(key[-1], []).append(key)
        self.inputs: dict[AssetKey, tuple[AssetInput, ...]] = {
            key: self._inputs(item) for key, item in self.assets.items()
        }
        self.upstream: dict[AssetKey, tuple[AssetKey, ...]] = {
            key: tuple(dict.fromkeys(i.key for i in inputs)) for key, inputs in self.inputs.items()
        }
        self.downstream: dict[AssetKey, list[AssetKey]] = {key: [] for key in self.assets}
        for key, ups in self.upstream.items():
            for up in ups:
                if up in self.downstream:
                    self.downstream[up].append(key)
        self.order: tuple[AssetKey, ...] = self._ordered()
        self.checks: dict[AssetKey, tuple[AssetCheck, ...]] = self._attach(checks)

    def __len__(self) -> int:
        return len(self.assets)

    def __contains__(self, key: object) -> bool:
        return key in self.assets

    def get(self, key: AssetKey) -> Asset:
        return self.assets[key]

    def _add(self, item: Asset) -> None:
        other = self.assets.get(item.key)
        if other is None:
            self.assets[item.key] = item
        elif other is not item and not (
            other.fn is item.fn or (other.source_file, other.line) == (item.source_file, item.line)
        ):
            raise DefinitionError(
                f"{item.where}: duplicate asset key {item.name!r}, also defined at "
                f"{other.source_file}:{other.line}; give one another key or key_prefix"
            )

    def resolve_name(self, owner: Asset, name: str) -> AssetKey | None:
        """The asset a parameter named ``name`` reads: the same prefix first, else unique."""
        same_prefix = (*owner.key[:-1], name)
        if same_prefix in self.assets or same_prefix in self.external:
            return same_prefix
        if (name,) in self.assets or (name,) in self.external:
            return (name,)
        candidates = self._by_name.get(name, [])
        if len(candidates) > 1:
            raise DefinitionError(
                f"{owner.where}: parameter {name!r} could mean any of "
                f"{', '.join(key_string(k) for k in candidates)}; say which with "
                f"ins={{{name!r}: 'prefix/{name}'}}"
            )
        return candidates[0] if candidates else None

    def _inputs(self, item: Asset) -> tuple[AssetInput, ...]:
        found: list[AssetInput] = []
        for parameter in item.data_parameters:
            key = item.ins.get(parameter) or self.resolve_name(item, parameter)
            if key is None:
                known = [key_string(k) for k in self.assets]
                raise DefinitionError(
                    f"{item.where}: parameter {parameter!r} names no asset"
                    f"{_suggest(parameter, known)}; a parameter of an asset function is "
                    "an upstream asset (or ctx: Context), or map it with ins={...}"
                )
            self._check_known(item, key)
            if key in self.external:
                raise DefinitionError(
                    f"{item.where}: parameter {parameter!r} reads {key_string(key)!r}, which "
                    "a task produces (outlets) and no IO manager stores; depend on it with "
                    "deps=[...] and read the data yourself"
                )
            found.append(
                AssetInput(
                    key=key, parameter=parameter, mapping=self._mapping(item, key, parameter)
                )
            )
        for key in item.deps:
            self._check_known(item, key)
            found.append(
                AssetInput(key=key, parameter=None, mapping=self._mapping(item, key, None))
            )
        if any(i.key == item.key for i in found):
            raise DefinitionError(
                f"{item.where}: asset {item.name!r} cannot depend on itself "
                f"(cycle: {item.name} -> {item.name})"
            )
        return tuple(found)

    def _check_known(self, item: Asset, key: AssetKey) -> None:
        if key not in self.assets and key not in self.external:
            name = key_string(key)
            raise DefinitionError(
                f"{item.where}: depends on unknown asset {name!r}"
                f"{_suggest(name, (key_string(k) for k in self.assets))}"
            )

    def _mapping(self, item: Asset, key: AssetKey, parameter: str | None) -> PartitionMapping:
        mappings = item.partition_mappings
        mapping = (
            (mappings.get(parameter or "") or mappings.get(key_string(key)) or IDENTITY)
            if mappings
            else IDENTITY
        )
        upstream = self.assets.get(key)
        try:
            mapping.check(item.partitions, upstream.partitions if upstream else None)
        except DefinitionError as exc:
            raise DefinitionError(
                f"{item.where}: cannot map its partitions to those of {key_string(key)!r}: {exc}"
            ) from None
        return mapping

    def _ordered(self) -> tuple[AssetKey, ...]:
        names = {key: key_string(key) for key in self.assets}
        upstream = {
            names[key]: [names[up] for up in ups if up in names]
            for key, ups in self.upstream.items()
        }
        cycle = find_cycle(upstream)
        if cycle is not None:
            first = self.assets[next(k for k, n in names.items() if n == cycle[0])]
            raise DefinitionError(f"{first.where}: the assets form a cycle: {' -> '.join(cycle)}")
        order: list[AssetKey] = []
        indegree = {
            key: len([u for u in ups if u in self.assets]) for key, ups in self.upstream.items()
        }
        ready = [key for key in self.assets if indegree[key] == 0]
        while ready:
            key = ready.pop()
            order.append(key)
            for down in self.downstream[key]:
                indegree[down] -= 1
                if indegree[down] == 0:
                    ready.append(down)
        return tuple(order)

    def _attach(self, checks: Sequence[AssetCheck]) -> dict[AssetKey, tuple[AssetCheck, ...]]:
        attached: dict[AssetKey, list[AssetCheck]] = {}
        for check in dict.fromkeys(checks):
            item = self.assets.get(check.asset_key)
            if item is None:
                name = key_string(check.asset_key)
                raise DefinitionError(
                    f"{check.where}: checks unknown asset {name!r}"
                    f"{_suggest(name, (key_string(k) for k in self.assets))}"
                )
            taken = {c.name for c in item.checks} | {c.name for c in attached.get(item.key, [])}
            if check.name in taken:
                raise DefinitionError(
                    f"{check.where}: asset {item.name!r} already has a check named "
                    f"{check.name!r}; give this one name=..."
                )
            attached.setdefault(item.key, []).append(check)
        return {key: tuple(found) for key, found in attached.items()}

    def upstream_closure(self, keys: Iterable[AssetKey]) -> set[AssetKey]:
        """``keys`` and every asset above them."""
        return self._closure(keys, lambda key: self.upstream.get(key, ()))

    def downstream_closure(self, keys: Iterable[AssetKey]) -> set[AssetKey]:
        """``keys`` and every asset below them."""
        return self._closure(keys, lambda key: self.downstream.get(key, ()))

    def _closure(
        self, keys: Iterable[AssetKey], step: Callable[[AssetKey], Iterable[AssetKey]]
    ) -> set[AssetKey]:
        seen: set[AssetKey] = set()
        stack = [key for key in keys if key in self.assets]
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            stack.extend(k for k in step(key) if k in self.assets and k not in seen)
        return seen

    def in_order(self, keys: Iterable[AssetKey]) -> list[AssetKey]:
        wanted = set(keys)
        return [key for key in self.order if key in wanted]
