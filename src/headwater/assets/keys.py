"""Asset keys: a tuple of names, shown and typed as one string joined by ``/``.

``"sales/orders_raw"``, ``["sales", "orders_raw"]`` and ``("sales", "orders_raw")`` name
the same asset. Each part is a name of letters, digits, ``_`` and ``-``; the task that
materializes an asset in a pipeline is called by the parts joined with ``.``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from headwater.errors import DefinitionError

AssetKey = tuple[str, ...]
_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
MAX_KEY_LENGTH = 200  # the key as a task id: see authoring.retry.MAX_ID_LENGTH


def to_key(value: Any, where: str) -> AssetKey:
    """``value`` (a string with ``/``, a list or tuple of parts, an asset) as a key.

    Raises:
        DefinitionError: not a key, or a part that is not a name.
    """
    key = getattr(value, "key", None)
    if isinstance(key, tuple):
        return key
    if isinstance(value, str):
        parts: Sequence[Any] = value.split("/")
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        raise DefinitionError(
            f"{where}: an asset key is a string such as 'sales/orders_raw', a list of "
            f"names or an asset, got {value!r}"
        )
    if not parts or not all(isinstance(p, str) and _PART.match(p) for p in parts):
        raise DefinitionError(
            f"{where}: invalid asset key {value!r}; each part is a name of letters, "
            "digits, '_' and '-' starting with a letter or '_' (parts joined by '/')"
        )
    key_tuple = tuple(parts)
    if len(key_string(key_tuple)) > MAX_KEY_LENGTH:
        raise DefinitionError(
            f"{where}: asset key {key_string(key_tuple)[:40]!r}... is longer than "
            f"{MAX_KEY_LENGTH} characters; shorten it"
        )
    return key_tuple


def key_string(key: AssetKey) -> str:
    """The key as it is shown, stored and typed: its parts joined by ``/``."""
    return "/".join(key)


def task_id_of(key: AssetKey) -> str:
    """The id of the task that materializes the asset in a pipeline."""
    return ".".join(key)
