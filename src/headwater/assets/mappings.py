"""Partition mappings: which partitions of an upstream asset a downstream partition reads.

A mapping answers both ways: the upstream keys a downstream key depends on, and the
downstream keys an upstream key feeds. ``None`` stands for an unpartitioned asset, as
key and as definition. Three mappings:

- ``identity()``, the default: the same key. When the two definitions differ it follows
  what they share: time partitions of another unit, zone or start map to the partitions
  whose windows overlap; multi partitions with a time dimension map to and from time
  partitions through it (and to every key of their other dimensions); a static or
  dynamic dimension maps to the same static or dynamic partitions; multi partitions map
  to multi partitions with the same dimensions dimension by dimension. A partitioned
  upstream of an unpartitioned asset maps to all its keys. Anything else cannot be
  mapped: ``check`` says to give a mapping.
- ``last(n)``: a window of time, the ``n`` upstream time partitions ending with the
  downstream's (``last(7)`` of daily partitions: that day and the six before it).
- ``all_partitions()``: every upstream key, whatever the downstream key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from headwater.assets.partitions import (
    DynamicKeys,
    DynamicPartitions,
    MultiPartitions,
    PartitionsDefinition,
    StaticPartitions,
    TimePartitions,
)
from headwater.errors import DefinitionError

# How a time dimension maps a key: (key, its definition, the other side's definition).
# The name of the one dimension of a definition that is not multi (no dimension name is "").
_WHOLE = ""
TimeRule = Callable[[str, TimePartitions, TimePartitions], list[str]]


@dataclass(frozen=True, slots=True)
class _Dimension:
    """One dimension of a definition: a multi dimension by name, or the whole (name "")."""

    name: str
    partitions: PartitionsDefinition


class PartitionMapping(ABC):
    """How a downstream asset's partitions depend on an upstream asset's partitions."""

    kind: ClassVar[str]

    @abstractmethod
    def check(
        self, downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
    ) -> None:
        """Raise DefinitionError if this mapping cannot map these two definitions.

        The message says what cannot be mapped, and how to fix it (a mapping to give).
        """

    @abstractmethod
    def upstream_keys(
        self,
        downstream_key: str | None,
        downstream: PartitionsDefinition | None,
        upstream: PartitionsDefinition | None,
        *,
        dynamic: DynamicKeys | None = None,
        now: datetime | None = None,
    ) -> list[str] | None:
        """The upstream keys ``downstream_key`` reads, in order; None if upstream is
        unpartitioned. ``now`` bounds time partitions when every key is read.

        Raises:
            DefinitionError: the mapping cannot map these definitions (see ``check``).
            PartitionError: ``downstream_key`` is not a key of ``downstream``.
        """

    @abstractmethod
    def downstream_keys(
        self,
        upstream_key: str | None,
        upstream: PartitionsDefinition | None,
        downstream: PartitionsDefinition | None,
        *,
        dynamic: DynamicKeys | None = None,
        now: datetime | None = None,
    ) -> list[str] | None:
        """The downstream keys that read ``upstream_key``, in order; None if downstream
        is unpartitioned. Time keys in the future are included, except where every key
        is meant: then ``now`` bounds them as in ``keys``.

        Raises:
            DefinitionError: the mapping cannot map these definitions (see ``check``).
            PartitionError: ``upstream_key`` is not a key of ``upstream``.
        """

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The mapping as JSON values; ``PartitionMapping.from_json`` reads it back."""

    @abstractmethod
    def describe(self) -> str:
        """The mapping as written in code: ``identity()``, ``last(7)``."""

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PartitionMapping:
        """The mapping ``to_json`` gave.

        Raises:
            DefinitionError: not a stored partition mapping.
        """
        kind = data.get("kind") if isinstance(data, Mapping) else None
        if kind == IdentityMapping.kind:
            return IdentityMapping()
        if kind == AllPartitionsMapping.kind:
            return AllPartitionsMapping()
        if kind == LastMapping.kind and isinstance(data, Mapping):
            return last(data.get("n"))  # type: ignore[arg-type]  # last() checks it
        raise DefinitionError(
            f"stored partition mapping {data!r} is not one to_json wrote; expected kind "
            "'identity', 'last' (with n) or 'all'"
        )


class _DimensionMapping(PartitionMapping):
    """A mapping that pairs the dimensions of the two definitions and maps key parts.

    Paired non-time dimensions keep the key; paired time dimensions follow the
    subclass's rules; a target dimension left unpaired takes all its keys.
    """

    @abstractmethod
    def _upstream_rule(
        self, key: str, downstream: TimePartitions, upstream: TimePartitions
    ) -> list[str]:
        """The upstream time keys the downstream time key ``key`` reads."""

    @abstractmethod
    def _downstream_rule(
        self, key: str, upstream: TimePartitions, downstream: TimePartitions
    ) -> list[str]:
        """The downstream time keys that read the upstream time key ``key``."""

    def _needs_time(self) -> bool:
        return False

    def check(
        self, downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
    ) -> None:
        if downstream is not None and upstream is not None:
            self._pairs(downstream, upstream)

    def upstream_keys(
        self,
        downstream_key: str | None,
        downstream: PartitionsDefinition | None,
        upstream: PartitionsDefinition | None,
        *,
        dynamic: DynamicKeys | None = None,
        now: datetime | None = None,
    ) -> list[str] | None:
        if upstream is None:
            return None
        if downstream is None or downstream_key is None:
            return upstream.keys(now=now, dynamic=dynamic)
        pairs = self._pairs(downstream, upstream)
        return _translate(
            downstream_key, downstream, upstream, pairs, self._upstream_rule, dynamic, now
        )

    def downstream_keys(
        self,
        upstream_key: str | None,
        upstream: PartitionsDefinition | None,
        downstream: PartitionsDefinition | None,
        *,
        dynamic: DynamicKeys | None = None,
        now: datetime | None = None,
    ) -> list[str] | None:
        if downstream is None:
            return None
        if upstream is None or upstream_key is None:
            return downstream.keys(now=now, dynamic=dynamic)
        pairs = [(up, down) for down, up in self._pairs(downstream, upstream)]
        return _translate(
            upstream_key, upstream, downstream, pairs, self._downstream_rule, dynamic, now
        )

    def _pairs(
        self, downstream: PartitionsDefinition, upstream: PartitionsDefinition
    ) -> list[tuple[_Dimension, _Dimension]]:
        """The (downstream, upstream) dimensions that map to each other."""
        try:
            pairs = _pair(_dimensions(downstream), _dimensions(upstream))
            if self._needs_time() and not any(
                isinstance(down.partitions, TimePartitions) for down, _ in pairs
            ):
                raise _Unmappable("one of them has no time partitions to take a window of")
        except _Unmappable as exc:
            raise DefinitionError(
                f"partition mapping {self.describe()} cannot map {downstream.describe()} "
                f"(downstream) to {upstream.describe()} (upstream): {exc}; {self._fix()}"
            ) from None
        return pairs

    def _fix(self) -> str:
        return "give the dependency a partition mapping, such as all_partitions() or last(n)"


class _Unmappable(Exception):
    """Two definitions whose dimensions do not pair up; the message says why."""


@dataclass(frozen=True)
class IdentityMapping(_DimensionMapping):
    """The same key; see the module's docstring for definitions that differ."""

    kind: ClassVar[str] = "identity"

    def _upstream_rule(
        self, key: str, downstream: TimePartitions, upstream: TimePartitions
    ) -> list[str]:
        return _overlapping(key, downstream, upstream)

    def _downstream_rule(
        self, key: str, upstream: TimePartitions, downstream: TimePartitions
    ) -> list[str]:
        return _overlapping(key, upstream, downstream)

    def describe(self) -> str:
        return "identity()"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class LastMapping(_DimensionMapping):
    """The ``n`` upstream time partitions ending with the one that ends with the
    downstream partition (holds the instant just before its end); those before the
    upstream's first partition, or after its last, are left out."""

    kind: ClassVar[str] = "last"
    n: int

    def _needs_time(self) -> bool:
        return True

    def check(
        self, downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
    ) -> None:
        if downstream is None or upstream is None:
            side = "downstream" if downstream is None else "upstream"
            raise DefinitionError(
                f"partition mapping {self.describe()} needs time partitions on both sides, "
                f"and the {side} asset is not partitioned; {self._fix()}"
            )
        super().check(downstream, upstream)

    def _upstream_rule(
        self, key: str, downstream: TimePartitions, upstream: TimePartitions
    ) -> list[str]:
        _, end = downstream.time_window(key)
        return upstream.keys_before(end, self.n)

    def _downstream_rule(
        self, key: str, upstream: TimePartitions, downstream: TimePartitions
    ) -> list[str]:
        # A downstream partition reads key when its end falls in (start of key, end of
        # the (n-1)th upstream partition after key].
        start, _ = upstream.time_window(key)
        later = upstream.window_after(key, self.n - 1)
        if later is None:
            return []
        candidates = downstream.keys_between(start, later[1])
        # windows follow each other: only the last one may end after that window
        if candidates and downstream.time_window(candidates[-1])[1] > later[1]:
            candidates.pop()
        return candidates

    def describe(self) -> str:
        return f"last({self.n})"

    def _fix(self) -> str:
        return "last(n) maps time partitions to time partitions; give another mapping"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": self.n}


@dataclass(frozen=True)
class AllPartitionsMapping(PartitionMapping):
    """Every upstream key, whatever the downstream key (and the other way round)."""

    kind: ClassVar[str] = "all"

    def check(
        self, downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
    ) -> None:
        return None

    def upstream_keys(
        self,
        downstream_key: str | None,
        downstream: PartitionsDefinition | None,
        upstream: PartitionsDefinition | None,
        *,
        dynamic: DynamicKeys | None = None,
        now: datetime | None = None,
    ) -> list[str] | None:
        return None if upstream is None else upstream.keys(now=now, dynamic=dynamic)

    def downstream_keys(
        self,
        upstream_key: str | None,
        upstream: PartitionsDefinition | None,
        downstream: PartitionsDefinition | None,
        *,
        dynamic: DynamicKeys | None = None,
        now: datetime | None = None,
    ) -> list[str] | None:
        return None if downstream is None else downstream.keys(now=now, dynamic=dynamic)

    def describe(self) -> str:
        return "all_partitions()"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


def identity() -> PartitionMapping:
    """The default mapping: the same key (see the module's docstring when they differ)."""
    return IdentityMapping()


def last(n: int) -> PartitionMapping:
    """The ``n`` upstream time partitions ending with the downstream's: a window.

    Raises:
        DefinitionError: ``n`` is not a whole number of 1 or more.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DefinitionError(f"last(n) takes a whole number of 1 or more, got {n!r}")
    return LastMapping(n)


def all_partitions() -> PartitionMapping:
    """Every upstream partition, for every downstream partition."""
    return AllPartitionsMapping()


def _dimensions(definition: PartitionsDefinition) -> list[_Dimension]:
    if isinstance(definition, MultiPartitions):
        return [_Dimension(name, item) for name, item in definition.dimensions.items()]
    return [_Dimension(_WHOLE, definition)]


def _pair(
    downstream: list[_Dimension], upstream: list[_Dimension]
) -> list[tuple[_Dimension, _Dimension]]:
    """Pair the dimensions: time with time, the others by name (two multis) or by keys.

    Raises:
        _Unmappable: a dimension of two multis finds no partner, a single definition
            finds none or several, or paired dimensions have different keys.
    """
    down_time, up_time = _time_of(downstream), _time_of(upstream)
    pairs = [] if down_time is None or up_time is None else [(down_time, up_time)]
    if len(downstream) > 1 and len(upstream) > 1:  # two multis
        down_rest = {item.name: item for item in downstream if item is not down_time}
        up_rest = {item.name: item for item in upstream if item is not up_time}
        if set(down_rest) != set(up_rest) or (down_time is None) != (up_time is None):
            raise _Unmappable("their dimensions differ")
        pairs += [(item, up_rest[name]) for name, item in down_rest.items()]
    elif not pairs:
        pairs.append(_single_pair(downstream, upstream))
    for down, up in pairs:
        _check_pair(down.partitions, up.partitions)
    return pairs


def _check_pair(down: PartitionsDefinition, up: PartitionsDefinition) -> None:
    timed = [item for item in (down, up) if isinstance(item, TimePartitions)]
    if len(timed) == 1:
        other = up if timed[0] is down else down
        raise _Unmappable(f"{timed[0].describe()} is time partitions and {other.describe()} is not")
    if not timed and not _same_keys(down, up):
        raise _Unmappable(f"{down.describe()} and {up.describe()} have different keys")


def _time_of(dimensions: list[_Dimension]) -> _Dimension | None:
    found = [item for item in dimensions if isinstance(item.partitions, TimePartitions)]
    return found[0] if found else None


def _single_pair(
    downstream: list[_Dimension], upstream: list[_Dimension]
) -> tuple[_Dimension, _Dimension]:
    """A single definition (at least one side is) and the dimension it pairs with."""
    if len(downstream) == 1 and len(upstream) == 1:
        return downstream[0], upstream[0]
    single, dimensions = (downstream, upstream) if len(downstream) == 1 else (upstream, downstream)
    matches = [item for item in dimensions if _same_keys(item.partitions, single[0].partitions)]
    if len(matches) != 1:
        how_many = "none" if not matches else "more than one"
        raise _Unmappable(f"{single[0].partitions.describe()} matches {how_many} of the dimensions")
    return (single[0], matches[0]) if single is downstream else (matches[0], single[0])


def _same_keys(one: PartitionsDefinition, other: PartitionsDefinition) -> bool:
    """Whether two non-time definitions have the same keys (static: the same set)."""
    if isinstance(one, StaticPartitions) and isinstance(other, StaticPartitions):
        return set(one.keys()) == set(other.keys())
    if isinstance(one, DynamicPartitions) and isinstance(other, DynamicPartitions):
        return one.name == other.name
    return False


def _translate(
    key: str,
    source: PartitionsDefinition,
    target: PartitionsDefinition,
    pairs: Sequence[tuple[_Dimension, _Dimension]],
    time_rule: TimeRule,
    dynamic: DynamicKeys | None,
    now: datetime | None,
) -> list[str]:
    """The keys of ``target`` that ``key`` of ``source`` maps to, through ``pairs``."""
    key = source.check_key(key, dynamic=dynamic)
    parts = source.split(key) if isinstance(source, MultiPartitions) else {_WHOLE: key}
    chosen: dict[str, list[str]] = {}
    for from_dimension, to_dimension in pairs:
        part = parts[from_dimension.name]
        if isinstance(from_dimension.partitions, TimePartitions) and isinstance(
            to_dimension.partitions, TimePartitions
        ):
            chosen[to_dimension.name] = time_rule(
                part, from_dimension.partitions, to_dimension.partitions
            )
        else:
            chosen[to_dimension.name] = [part]
    for dimension in _dimensions(target):
        if dimension.name not in chosen:
            chosen[dimension.name] = dimension.partitions.keys(now=now, dynamic=dynamic)
    if isinstance(target, MultiPartitions):
        return target.combinations(chosen)
    return chosen[_WHOLE]


def _overlapping(key: str, source: TimePartitions, target: TimePartitions) -> list[str]:
    """The partitions of ``target`` whose windows overlap ``key``'s window in ``source``."""
    if source == target:
        return [key]
    return target.keys_between(*source.time_window(key))
