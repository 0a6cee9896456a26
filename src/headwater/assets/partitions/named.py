"""Partitions named by their keys: a fixed list (static), or keys added at run time (dynamic)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

from headwater.assets.partitions.base import (
    DynamicKeys,
    PartitionError,
    PartitionsDefinition,
    check_partition_name,
    shown,
)
from headwater.errors import DefinitionError

# Keys shown in a description or a message, at most.
_SHOWN_KEYS = 5
_NO_SUCH_KEY = "there is no such partition"
_NOT_ADDED = "it has not been added (ctx.add_partitions adds keys)"


def _listed(keys: Sequence[str]) -> str:
    """``'eu', 'us', 'asia'``, cut after a few keys."""
    text = ", ".join(map(repr, keys[:_SHOWN_KEYS]))
    return text + (f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else "")


def _range(
    definition: PartitionsDefinition, keys: Sequence[str], first: str, last: str, missing: str
) -> list[str]:
    """``keys`` from ``first`` to ``last``, both included, in the order of ``keys``."""
    positions = {key: position for position, key in enumerate(keys)}
    for key in (first, last):
        if key not in positions:
            definition.check_key(key)  # a malformed key gets the same message as elsewhere
            raise definition.bad_key(key, missing)
    low, high = positions[first], positions[last]
    if low > high:
        raise definition.backward(first, last)
    return list(keys[low : high + 1])


class StaticPartitions(PartitionsDefinition):
    """A fixed list of keys, in the order given: ``StaticPartitions(["eu", "us"])``.

    Raises:
        DefinitionError: no keys, a key twice, or a key ``check_partition_name`` refuses.
    """

    kind = "static"

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str) or not isinstance(keys, Sequence):
            raise DefinitionError(
                f"static partitions take a list of keys such as ['eu', 'us'], got {shown(keys)}"
            )
        listed = tuple(keys)
        if not listed:
            raise DefinitionError("static partitions need at least one key, got none")
        for key in listed:
            check_partition_name("static partition key", key, "static partitions")
        if len(set(listed)) < len(listed):
            twice = next(key for key in listed if listed.count(key) > 1)
            raise DefinitionError(
                f"static partitions: key {twice!r} is given more than once; keys are unique"
            )
        self._keys = listed
        self._set = frozenset(listed)

    def keys(self, *, now: datetime | None = None, dynamic: DynamicKeys | None = None) -> list[str]:
        return list(self._keys)

    def check_key(self, key: str, *, dynamic: DynamicKeys | None = None) -> str:
        if key not in self._set:
            raise self.bad_key(key, _NO_SUCH_KEY)
        return key

    def key_range(self, first: str, last: str, *, dynamic: DynamicKeys | None = None) -> list[str]:
        return _range(self, self._keys, first, last, _NO_SUCH_KEY)

    def describe(self) -> str:
        return f"static partitions {_listed(self._keys)}"

    def expected(self) -> str:
        return f"one of {_listed(self._keys)}"

    @classmethod
    def read_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["keys"])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "keys": list(self._keys)}

    def _identity(self) -> tuple[Hashable, ...]:
        return (self.kind, self._keys)

    def __repr__(self) -> str:
        return f"StaticPartitions({list(self._keys)!r})"


class DynamicPartitions(PartitionsDefinition):
    """Keys added while pipelines run (``ctx.add_partitions``), kept by the store.

    Every method that lists or checks keys takes the current ones as ``dynamic``, the
    keys of each dynamic definition by name. Definitions with the same name share keys.

    Raises:
        DefinitionError: a name ``check_partition_name`` refuses.
    """

    kind = "dynamic"

    def __init__(self, name: str) -> None:
        self.name = check_partition_name("dynamic partitions name", name, "dynamic partitions")

    def _current(self, dynamic: DynamicKeys | None) -> Sequence[str]:
        return () if dynamic is None else dynamic.get(self.name, ())

    def keys(self, *, now: datetime | None = None, dynamic: DynamicKeys | None = None) -> list[str]:
        return list(self._current(dynamic))

    def check_key(self, key: str, *, dynamic: DynamicKeys | None = None) -> str:
        check_partition_name("partition key", key, f"{self.describe()}", error=PartitionError)
        if dynamic is not None and key not in self._current(dynamic):
            raise self.bad_key(key, _NOT_ADDED)
        return key

    def key_range(self, first: str, last: str, *, dynamic: DynamicKeys | None = None) -> list[str]:
        return _range(self, self._current(dynamic), first, last, _NOT_ADDED)

    def describe(self) -> str:
        return f"dynamic partitions {self.name!r}"

    def expected(self) -> str:
        return f"a key added to {self.describe()}"

    @classmethod
    def read_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["name"])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}

    def _identity(self) -> tuple[Hashable, ...]:
        return (self.kind, self.name)

    def __repr__(self) -> str:
        return f"DynamicPartitions({self.name!r})"
