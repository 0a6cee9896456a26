"""Task results: small JSON values inline in the store, the rest in a result store.

A value that is plain JSON (dicts with string keys, lists, strings, numbers, booleans,
None) and at most 64 KiB once encoded is kept in the metadata store. Anything else (a
DataFrame, a tuple, a large list) is pickled to the result store, a folder or any fsspec
URL, and the metadata store keeps a reference to it:
``RUN_ID/TASK_ID[.MAP_INDEX].pickle#hmac-sha256=TAG``, the file's name inside the result
store and an HMAC-SHA256 of that name and the file's bytes.

Unpickling runs code, so a reference read back is checked before anything is unpickled:
it must name a file inside the configured result store, and its tag must match that
file under the secret key. The key lives outside the metadata database
(``HEADWATER_SECRET_KEY``, else the file ``HEADWATER_HOME/secret_key``), so whoever can
write the database alone cannot make the engine unpickle a file of their choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import re
import threading
from pathlib import Path
from typing import Any

from headwater.config import Settings, key_from_file
from headwater.errors import StoreError
from headwater.private_files import make_private_dir, write_private_file

INLINE_LIMIT = 64 * 1024
TAG_SEPARATOR = "#hmac-sha256="
_TAG = re.compile(r"[0-9a-f]{64}")
_NAME_PART = re.compile(r"[A-Za-z0-9_.-]+")
_TAG_CONTEXT = b"headwater result v1\n"  # what the tag is of: the name, then the payload


class ResultIntegrityError(StoreError):
    """A result reference points outside the result store, or its tag does not match.

    Nothing is unpickled: the reference or the file was not written by this store with
    this key, or was changed since.
    """


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


def is_store_name(name: str) -> bool:
    """Whether ``name`` is a relative path inside a result store (no ``..``, no root)."""
    return all(_NAME_PART.fullmatch(part) and part not in (".", "..") for part in name.split("/"))


def _shown(reference: str) -> str:
    return repr(reference if len(reference) <= 200 else reference[:200] + "…")


class ResultStore:
    """Where results too large or not JSON are written: a folder or an fsspec URL.

    Args:
        url: the folder or fsspec URL (``HEADWATER_RESULTS_URL``).
        secret_key: the key that signs references (``HEADWATER_SECRET_KEY``).
        key_file: without ``secret_key``, the file holding the key, made on first use.
    """

    def __init__(
        self, url: str, *, secret_key: str | None = None, key_file: Path | None = None
    ) -> None:
        if secret_key is None and key_file is None:
            raise ValueError("a ResultStore needs a secret_key or a key_file")
        self.url = url.rstrip("/")
        self._local = "://" not in url or url.startswith("file://")
        if self._local:
            self._root = Path(self.url.removeprefix("file://"))
        self._secret_key = secret_key
        self._key_file = key_file
        self._key: bytes | None = None
        self._key_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ResultStore:
        return cls(
            settings.results_url,
            secret_key=settings.secret_key,
            key_file=settings.secret_key_file,
        )

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
        if not is_store_name(name):
            raise ValueError(f"cannot name a result file after run {run_id!r}, task {task_id!r}")
        self._write(name, payload)
        return None, f"{name}{TAG_SEPARATOR}{self._tag(name, payload)}"

    def decode(self, result: str | None, result_ref: str | None) -> Any:
        """The value of a stored result.

        Raises:
            ResultIntegrityError: the reference points outside this store, has no tag, or
                its tag does not match the file; nothing was unpickled.
        """
        if result_ref is None:
            return None if result is None else json.loads(result)
        name, separator, tag = result_ref.rpartition(TAG_SEPARATOR)
        if not separator or not _TAG.fullmatch(tag):
            raise ResultIntegrityError(
                f"result reference {_shown(result_ref)} has no integrity tag "
                f"('{TAG_SEPARATOR}' and 64 hex digits), so it is not read: it was not "
                "written by this version of headwater, or was changed in the metadata "
                "database; run the task again to store its result anew"
            )
        if not is_store_name(name):
            raise ResultIntegrityError(
                f"result reference {_shown(result_ref)} points outside the result store "
                f"{self.url!r}, so it is not read: a reference names a file inside the "
                "store, as 'RUN_ID/TASK_ID.pickle'"
            )
        payload = self._read(name)
        if not hmac.compare_digest(tag, self._tag(name, payload)):
            raise ResultIntegrityError(
                f"result file {name!r} in {self.url!r} does not match the tag of its "
                "reference, so it is not unpickled: the file or the reference was changed, "
                "or it was written with another secret key (HEADWATER_SECRET_KEY, "
                "or HEADWATER_HOME/secret_key)"
            )
        return pickle.loads(payload)  # signed with this store's key: written by headwater

    def _tag(self, name: str, payload: bytes) -> str:
        mac = hmac.new(self._secret(), _TAG_CONTEXT + name.encode() + b"\n", hashlib.sha256)
        mac.update(payload)
        return mac.hexdigest()

    def _secret(self) -> bytes:
        with self._key_lock:
            if self._key is None:
                if self._secret_key is not None:
                    self._key = self._secret_key.encode()
                else:
                    assert self._key_file is not None  # checked in __init__
                    self._key = key_from_file(self._key_file)
            return self._key

    def _write(self, name: str, payload: bytes) -> None:
        if self._local:
            path = self._root / name
            make_private_dir(path.parent)
            write_private_file(path, payload)  # a reader never sees half a result
            return
        import fsspec

        with fsspec.open(f"{self.url}/{name}", "wb") as handle:
            handle.write(payload)

    def _read(self, name: str) -> bytes:
        if self._local:
            return (self._root / name).read_bytes()
        import fsspec

        with fsspec.open(f"{self.url}/{name}", "rb") as handle:
            payload: bytes = handle.read()
        return payload
