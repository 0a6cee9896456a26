"""IO managers: where the value an asset returned is stored, and loaded from downstream."""

from headwater.assets.io.base import (
    InputContext,
    IOManager,
    IOManagerError,
    NothingStoredError,
    OutputContext,
)
from headwater.assets.io.files import FileIOManager
from headwater.assets.io.sql import SqlTableIOManager

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
