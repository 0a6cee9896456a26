"""IO managers: where the value an asset returned is stored, and loaded from downstream.

``SqlTableIOManager`` brings SQLAlchemy, so it is imported when first asked for:
importing the file IO manager (every asset's default) stays light.
"""

from typing import Any

from headwater.assets.io.base import (
    InputContext,
    IOManager,
    IOManagerError,
    NothingStoredError,
    OutputContext,
)
from headwater.assets.io.files import FileIOManager


def __getattr__(name: str) -> Any:
    if name == "SqlTableIOManager":
        from headwater.assets.io.sql import SqlTableIOManager

        return SqlTableIOManager
    raise AttributeError(f"module 'headwater.assets.io' has no attribute {name!r}")


__all__ = [
    # the contract
    "IOManager",
    "InputContext",
    "OutputContext",
    "IOManagerError",
    "NothingStoredError",
    # implementations
    "FileIOManager",
    "SqlTableIOManager",
]
