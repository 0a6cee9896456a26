"""The contract of partitions definitions, their error, and the rules for key names."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar, Self

from headwater.errors import ConfigError, DefinitionError, HeadwaterError

DynamicKeys = Mapping[str, Sequence[str]]
"""The current keys of dynamic partitions, by definition name, oldest first."""

MAX_KEY_LENGTH = 200
_FORBIDDEN = ("/", "\\", "|")
# The kinds of definitions, for from_json: each subclass with a ``kind`` adds itself.
_KINDS: dict[str, type[PartitionsDefinition]] = {}


class PartitionError(ConfigError):
    """A partition key or range that a partitions definition does not have.

    The message names the definition and the key, says why, and shows the expected
    format with an example.
    """


def check_partition_name(
    kind_of_thing: str, key: object, where: str, *, error: type[HeadwaterError] = DefinitionError
) -> str:
    """Return ``key`` if it may be a static or dynamic partition key (or such a name).

    Allowed: printable text of 1 to 200 characters, without ``/``, ``\\``, ``|`` or
    ``..``, without spaces at either end, and not ``.``. (Keys become file names and SQL
    values; ``|`` joins the keys of multi partitions and ``..`` writes a range.)

    Raises:
        DefinitionError (or ``error``): naming ``where``, ``kind_of_thing`` and the key,
            saying what is wrong with it.
    """
    reason = _name_problem(key)
    if reason is None and isinstance(key, str):
        return key
    raise error(
        f"{where}: invalid {kind_of_thing} {shown(key)}: {reason}; use printable text of at "
        f"most {MAX_KEY_LENGTH} characters, without '/', '\\', '|' or '..' and without "
        "spaces at either end"
    )


def _name_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return f"it is a {type(key).__name__}, not text"
    if not key:
        return "it is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"it is {len(key)} characters long"
    if not key.isprintable():
        return "it holds a character that does not print (a control character, tab or newline)"
    for forbidden in _FORBIDDEN:
        if forbidden in key:
            return f"it holds {forbidden!r}"
    if key == "." or ".." in key:
        return "it is '.' or holds '..'"
    if key != key.strip():
        return "it starts or ends with a space"
    return None


def shown(key: object) -> str:
    """``repr(key)``, cut to 60 characters, for messages."""
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


class PartitionsDefinition(ABC):
    """How an asset is partitioned: its keys, in order, and the time each one covers.

    Definitions are values: equal when they define the same keys the same way, hashable,
    and stored as JSON (``to_json``, ``from_json``). Constructors only check their
    arguments; nothing is listed until asked.

    Attributes:
        kind: ``"time"``, ``"static"``, ``"dynamic"`` or ``"multi"``, as stored.
    """

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _KINDS[cls.kind] = cls

    @abstractmethod
    def keys(self, *, now: datetime | None = None, dynamic: DynamicKeys | None = None) -> list[str]:
        """Every key, in order (oldest first for time partitions).

        Time partitions list those whose window has ended at or before ``now``, from the
        first (with ``end_offset``, that many more, or fewer); without ``now``, those up
        to ``end``. Dynamic partitions list ``dynamic[name]`` (none without ``dynamic``).

        Raises:
            PartitionError: ``now`` is None and time partitions have no ``end``.
        """

    @abstractmethod
    def check_key(self, key: str, *, dynamic: DynamicKeys | None = None) -> str:
        """``key`` in its canonical spelling, if it is one of this definition's keys.

        Time keys are checked against the calendar, ``start`` and ``end``, not against a
        time: a key in the future is valid. Dynamic keys are checked against ``dynamic``
        when it is given, and otherwise only for what a key may look like.

        Raises:
            PartitionError: naming the definition and the key, with the expected format.
        """

    @abstractmethod
    def key_range(self, first: str, last: str, *, dynamic: DynamicKeys | None = None) -> list[str]:
        """The keys from ``first`` to ``last``, both included, in order.

        Raises:
            PartitionError: an unknown key, or ``first`` after ``last``.
        """

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The definition as JSON values, with its ``kind``; ``from_json`` reads it back."""

    @classmethod
    @abstractmethod
    def read_json(cls, data: Mapping[str, Any]) -> Self:
        """The definition of this kind that ``to_json`` gave (KeyError, TypeError if not)."""

    @abstractmethod
    def describe(self) -> str:
        """The definition, for people: ``daily from 2026-01-01 in Europe/Paris``."""

    @abstractmethod
    def expected(self) -> str:
        """What a key looks like, with an example: ``YYYY-MM-DD such as 2026-01-01``."""

    @abstractmethod
    def _identity(self) -> tuple[Hashable, ...]:
        """What makes two definitions equal."""

    def time_window(self, key: str) -> tuple[datetime, datetime] | None:
        """The UTC window ``[start, end)`` a key covers; None when keys cover no time.

        Raises:
            PartitionError: not a key of this definition (time partitions only).
        """
        return None

    def parse_range(
        self, text: str, *, now: datetime | None = None, dynamic: DynamicKeys | None = None
    ) -> list[str]:
        """The keys a command line names: one key, or ``FIRST..LAST`` (both included).

        An end left out is the first, or the last, of ``keys(now=now)``:
        ``2026-03-01..`` is every partition from March on that has ended by ``now``.

        Raises:
            PartitionError: an unknown key, a backward range or more than one ``..``.
        """
        parts = [part.strip() for part in text.strip().split("..")]
        if len(parts) == 1:
            return self._single(parts[0], dynamic=dynamic)
        if len(parts) > 2:
            raise PartitionError(
                f"partition range {shown(text)} of {self.describe()} holds '..' more than "
                f"once; give one key or FIRST..LAST, each {self.expected()}"
            )
        first, last = parts
        if not first or not last:
            every = self.keys(now=now, dynamic=dynamic)
            if not every:
                raise PartitionError(
                    f"partition range {shown(text)} of {self.describe()}: there is no "
                    "partition yet to start or end it at; give both ends"
                )
            first, last = first or every[0], last or every[-1]
        return self.key_range(first, last, dynamic=dynamic)

    def _single(self, key: str, *, dynamic: DynamicKeys | None) -> list[str]:
        return [self.check_key(key, dynamic=dynamic)]

    def bad_key(self, key: object, reason: str) -> PartitionError:
        """The error for ``key``, which is not one of this definition's keys."""
        return PartitionError(
            f"partition key {shown(key)} is not a key of {self.describe()}: {reason}; "
            f"expected {self.expected()}"
        )

    def backward(self, first: str, last: str) -> PartitionError:
        """The error for a range whose first key comes after its last."""
        return PartitionError(
            f"partition range {first}..{last} of {self.describe()} goes backward: "
            f"{first!r} comes after {last!r}; put the earlier key first"
        )

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PartitionsDefinition:
        """The definition ``to_json`` gave, of any kind.

        Raises:
            DefinitionError: not a stored partitions definition, or one that is invalid.
        """
        kind = data.get("kind") if isinstance(data, Mapping) else None
        made = _KINDS.get(kind) if isinstance(kind, str) else None
        if made is None:
            raise DefinitionError(
                f"stored partitions definition {shown(data)} has kind {kind!r}; expected "
                f"one of {', '.join(map(repr, _KINDS))}"
            )
        try:
            return made.read_json(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DefinitionError(
                f"stored partitions definition {shown(data)} is not one to_json wrote "
                f"({type(exc).__name__}: {exc})"
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartitionsDefinition):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


@lru_cache(maxsize=4096)  # assets of one definition share their newest partition, mostly
def window_end(partitions: PartitionsDefinition, key: str) -> datetime | None:
    """The end of the window of partition ``key``; None when it covers no time, or is not
    a key of ``partitions`` (one of an earlier definition)."""
    try:
        window = partitions.time_window(key)
    except HeadwaterError:
        return None
    return None if window is None else window[1]
