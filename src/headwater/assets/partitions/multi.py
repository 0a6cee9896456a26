"""Multi partitions: every combination of the keys of two or more dimensions."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Self

from headwater.assets.partitions.base import (
    DynamicKeys,
    PartitionError,
    PartitionsDefinition,
    check_partition_name,
    shown,
)
from headwater.assets.partitions.time_partitions import TimePartitions
from headwater.errors import DefinitionError

SEPARATOR = "|"


class MultiPartitions(PartitionsDefinition):
    """Partitions along two or more dimensions, at most one of them time partitions.

    A key holds one key of each dimension, joined with ``|`` in dimension order:
    ``MultiPartitions({"date": DailyPartitions("2026-01-01"), "region": StaticPartitions(
    ["eu", "us"])})`` has ``2026-01-01|eu``, ``2026-01-01|us``, ``2026-01-02|eu`` and so
    on, the first dimension changing slowest. Ranges may name the time dimension only:
    ``2026-01-01..2026-01-03`` is every combination for those days.

    Raises:
        DefinitionError: fewer than two dimensions, a bad dimension name, a dimension
            that is not a partitions definition or is itself multi, or two time dimensions.
    """

    kind = "multi"

    def __init__(self, dimensions: Mapping[str, PartitionsDefinition]) -> None:
        if not isinstance(dimensions, Mapping) or len(dimensions) < 2:
            raise DefinitionError(
                "multi partitions take two or more named dimensions such as "
                "{'date': DailyPartitions('2026-01-01'), 'region': StaticPartitions(['eu'])}, "
                f"got {shown(dimensions)}"
            )
        for name, definition in dimensions.items():
            check_partition_name("dimension name", name, "multi partitions")
            if not isinstance(definition, PartitionsDefinition) or isinstance(
                definition, MultiPartitions
            ):
                raise DefinitionError(
                    f"multi partitions: dimension {name!r} must be time, static or dynamic "
                    f"partitions, got {shown(definition)}"
                )
        times = [name for name, item in dimensions.items() if isinstance(item, TimePartitions)]
        if len(times) > 1:
            raise DefinitionError(
                f"multi partitions: dimensions {', '.join(map(repr, times))} are all time "
                "partitions; keep one"
            )
        self.dimensions: Mapping[str, PartitionsDefinition] = MappingProxyType(dict(dimensions))
        self.names = tuple(dimensions)

    @property
    def time_dimension(self) -> tuple[str, TimePartitions] | None:
        """The name and definition of the time dimension, if there is one."""
        for name, definition in self.dimensions.items():
            if isinstance(definition, TimePartitions):
                return name, definition
        return None

    def split(self, key: str) -> dict[str, str]:
        """The key of each dimension in ``key``, by dimension name (not checked).

        Raises:
            PartitionError: ``key`` does not hold one part per dimension.
        """
        parts = key.split(SEPARATOR) if isinstance(key, str) else []
        if len(parts) != len(self.names):
            raise self.bad_key(key, f"it has {len(parts)} part(s) for {len(self.names)} dimensions")
        return dict(zip(self.names, parts, strict=True))

    def join(self, parts: Mapping[str, str]) -> str:
        """The key made of the key of each dimension (not checked).

        Raises:
            PartitionError: ``parts`` does not name each dimension once.
        """
        if set(parts) != set(self.names):
            raise PartitionError(
                f"{self.describe()}: a key needs a part for each of the dimensions "
                f"{', '.join(self.names)}, got parts for {', '.join(map(str, parts)) or 'none'}"
            )
        return SEPARATOR.join(parts[name] for name in self.names)

    def combinations(self, parts: Mapping[str, Sequence[str]]) -> list[str]:
        """Every key made of one of ``parts[name]`` for each dimension, in key order."""
        chosen = [parts[name] for name in self.names]
        return [SEPARATOR.join(combination) for combination in itertools.product(*chosen)]

    def keys(self, *, now: datetime | None = None, dynamic: DynamicKeys | None = None) -> list[str]:
        return self.combinations(
            {
                name: definition.keys(now=now, dynamic=dynamic)
                for name, definition in self.dimensions.items()
            }
        )

    def check_key(self, key: str, *, dynamic: DynamicKeys | None = None) -> str:
        checked = {}
        for name, part in self.split(key).items():
            try:
                checked[name] = self.dimensions[name].check_key(part, dynamic=dynamic)
            except PartitionError as exc:
                raise self._part_error(key, name, exc) from None
        return self.join(checked)

    def _part_error(self, key: str, name: str, error: PartitionError) -> PartitionError:
        return PartitionError(
            f"partition key {shown(key)} of {self.describe()}, dimension {name!r}: {error}"
        )

    def key_range(self, first: str, last: str, *, dynamic: DynamicKeys | None = None) -> list[str]:
        low, high = self._ends(first), self._ends(last)
        if set(low) != set(high):
            raise PartitionError(
                f"partition range {first}..{last} of {self.describe()}: give both ends as "
                f"whole keys ({SEPARATOR.join(self.names)}) or both as keys of the time "
                "dimension"
            )
        chosen: dict[str, list[str]] = {}
        for name, definition in self.dimensions.items():
            if name not in low:
                chosen[name] = definition.keys(dynamic=dynamic)  # not time: needs no now
                continue
            try:
                chosen[name] = definition.key_range(low[name], high[name], dynamic=dynamic)
            except PartitionError as exc:
                raise PartitionError(
                    f"partition range {first}..{last} of {self.describe()}, dimension "
                    f"{name!r}: {exc}"
                ) from None
        return self.combinations(chosen)

    def _ends(self, key: str) -> dict[str, str]:
        """The parts a range end gives: every dimension, or the time dimension alone."""
        time = self.time_dimension
        if time is not None and isinstance(key, str) and SEPARATOR not in key:
            return {time[0]: key}
        return self.split(key)

    def _single(self, key: str, *, dynamic: DynamicKeys | None) -> list[str]:
        if self.time_dimension is not None and SEPARATOR not in key:
            return self.key_range(key, key, dynamic=dynamic)
        return [self.check_key(key, dynamic=dynamic)]

    def time_window(self, key: str) -> tuple[datetime, datetime] | None:
        """The window of the key's time dimension; None without a time dimension."""
        time = self.time_dimension
        if time is None:
            return None
        name, definition = time
        try:
            return definition.time_window(self.split(key)[name])
        except PartitionError as exc:
            raise self._part_error(key, name, exc) from None

    def describe(self) -> str:
        inner = "; ".join(f"{name}: {item.describe()}" for name, item in self.dimensions.items())
        return f"multi partitions ({inner})"

    def expected(self) -> str:
        inner = "; ".join(f"{name}: {item.expected()}" for name, item in self.dimensions.items())
        return f"{SEPARATOR.join(self.names)}, a key of each dimension ({inner})"

    @classmethod
    def read_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            {
                dimension["name"]: PartitionsDefinition.from_json(dimension["partitions"])
                for dimension in data["dimensions"]
            }
        )

    def to_json(self) -> dict[str, Any]:
        # A list, not an object: JSON stores (PostgreSQL jsonb) may reorder object keys.
        return {
            "kind": self.kind,
            "dimensions": [
                {"name": name, "partitions": item.to_json()}
                for name, item in self.dimensions.items()
            ],
        }

    def _identity(self) -> tuple[Hashable, ...]:
        return (self.kind, tuple(self.dimensions.items()))

    def __repr__(self) -> str:
        return f"MultiPartitions({dict(self.dimensions)!r})"
