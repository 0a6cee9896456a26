"""IOManager: the contract for storing an asset's value and loading it for downstream assets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from headwater.errors import HeadwaterError, NotFoundError


class IOManagerError(HeadwaterError):
    """An IO manager cannot store or load an asset's value.

    For example a value of a type it cannot write, a table whose columns changed since
    it was created, or rows stamped with another partition than the one written.
    """


class NothingStoredError(NotFoundError, FileNotFoundError):
    """Nothing is stored for an asset, or for one of the partitions asked for.

    Also a ``FileNotFoundError``, whatever the IO manager stores in, so that callers can
    catch one error for every IO manager.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputContext:
    """What an IO manager knows when it stores one materialization.

    Attributes:
        asset_key: the asset's key parts, e.g. ``("sales", "orders_raw")``.
        partition_key: the partition written, None for an unpartitioned asset.
        run_id: the run that produced the value.
        default_base_url: where a file IO manager writes when it was given no base URL.
        partition_column: the column that holds the partition key in a table, when the
            asset definition names one (it overrides the IO manager's own setting).
    """

    asset_key: tuple[str, ...]
    partition_key: str | None
    run_id: str
    default_base_url: str
    partition_column: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputContext:
    """What an IO manager knows when it loads an upstream asset for a downstream one.

    Attributes:
        asset_key: the upstream asset's key parts.
        partition_keys: the partitions to load; None for an unpartitioned asset. Several
            keys (a window, or all partitions) load as one value.
        default_base_url: as in ``OutputContext``.
        expects: the downstream parameter's annotation, if any (``pandas.DataFrame``,
            ``polars.DataFrame``, ``pyarrow.Table``, ``list``); IO managers load that
            type when they can.
        partition_column: as in ``OutputContext``: the column that was written with the
            partition keys, when the asset definition names one.
    """

    asset_key: tuple[str, ...]
    partition_keys: Sequence[str] | None
    default_base_url: str
    expects: type | None = None
    partition_column: str | None = None


class IOManager(ABC):
    """Stores the value an asset function returned and loads it again downstream.

    IO managers are configuration objects: picklable (they cross to worker processes),
    equal by value and cheap to create. They open no file or connection until they are
    asked to store or load something.
    """

    __slots__ = ()

    @abstractmethod
    def handle_output(self, context: OutputContext, value: Any) -> dict[str, Any]:
        """Store ``value`` as the asset's partition ``context.partition_key``.

        Writing a partition again replaces it, so a re-run leaves one copy. A write that
        fails leaves the previous value of the partition as it was.

        Returns:
            JSON-serialisable metadata about what was written, such as
            ``{"path": ..., "bytes": ..., "format": "parquet"}`` or
            ``{"table": ..., "rows_written": n, "rows_deleted": m}``.

        Raises:
            IOManagerError: the value cannot be stored by this IO manager.
        """

    @abstractmethod
    def load_input(self, context: InputContext) -> Any:
        """Load the stored value of ``context.partition_keys``.

        Several partitions load as one value: data frames and tables are concatenated
        in the order of the keys, lists and records too; other values come as a dict
        ``{partition_key: value}``. A single key loads that partition's value as it is.

        Raises:
            NothingStoredError: nothing is stored for the asset or for one of the
                partitions (a table IO manager loads a partition never written as no rows).
        """

    @abstractmethod
    def fingerprint(
        self, asset_key: tuple[str, ...], partition_key: str | None, default_base_url: str
    ) -> str | None:
        """A digest of what is stored for the partition, None if nothing is.

        Two writes of the same data give the same digest (row order in a table does not
        count), so two runs of an asset can be compared to check it is idempotent.
        """

    @abstractmethod
    def relocated(self, base_url: str) -> IOManager:
        """The same IO manager, writing under another root.

        Used to run an asset a second time without touching what it stored. Writes and
        fingerprints of the returned manager go to the new place only; loads behave as
        if the new place started as a copy of this one. Each implementation documents
        how (another folder, a copy of a database file, another schema).
        """

    # not abstract: most relocated copies are files under base_url, which the caller deletes
    def discard(self) -> None:  # noqa: B027
        """Remove what a manager returned by ``relocated`` stored outside its base URL.

        Files under the base URL are the caller's to delete; this is for what lives
        elsewhere, such as a database schema. Does nothing by default.
        """

    @abstractmethod
    def describe(self) -> str:
        """A one-line description for logs and the UI, without secrets."""


def key_string(asset_key: tuple[str, ...]) -> str:
    """The asset key as shown to users: its parts joined by "/"."""
    return "/".join(asset_key)
