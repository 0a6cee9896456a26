"""Task results: small JSON values inline in the store, the rest in a result store.

A value that is plain JSON (dicts with string keys, lists, strings, numbers, booleans,
None) and at most 64 KiB once encoded is kept in the metadata store. Anything else (a
DataFrame, a tuple, a large list) is pickled to the result store, a folder or any fsspec
URL, and the metadata store keeps its address.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

INLINE_LIMIT = 64 * 1024


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if depth > 50:
        return False
    if type(value) is list:
        return all(is_plain_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(
            isinstance(key, str) and is_plain_json(item, depth + 1) for key, item in value.items()
        )
    return False


class ResultStore:
    """Where results too large or not JSON are written: a folder or an fsspec URL."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._local = "://" not in url or url.startswith("file://")
        if self._local:
            self._root = Path(url.removeprefix("file://"))

    def encode(
        self, run_id: str, task_id: str, map_index: int, value: Any
    ) -> tuple[str | None, str | None]:
        """``(inline_json, None)`` for a small JSON value, else ``(None, reference)``."""
        if is_plain_json(value):
            text = json.dumps(value, separators=(",", ":"))
            if len(text) <= INLINE_LIMIT and len(text.encode()) <= INLINE_LIMIT:
                return text, None
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        suffix = f".{map_index}" if map_index >= 0 else ""
        name = f"{run_id}/{task_id}{suffix}.pickle"
        return None, self._write(name, payload)

    def _write(self, name: str, payload: bytes) -> str:
        if self._local:
            path = self._root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(payload)
            temporary.replace(path)  # a reader never sees half a result
            return str(path)
        import fsspec

        address = f"{self.url}/{name}"
        with fsspec.open(address, "wb") as handle:
            handle.write(payload)
        return address

    @staticmethod
    def decode(result: str | None, result_ref: str | None) -> Any:
        """The value of a stored result."""
        if result_ref is None:
            return None if result is None else json.loads(result)
        if "://" not in result_ref or result_ref.startswith("file://"):
            payload = Path(result_ref.removeprefix("file://")).read_bytes()
        else:
            import fsspec

            with fsspec.open(result_ref, "rb") as handle:
                payload = handle.read()
        return pickle.loads(payload)  # written by this result store, not user input
