"""FileIOManager: each partition of an asset as one file (Parquet, JSON or pickle) on any
fsspec file system."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import uuid
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import IO, Any

from headwater.assets.io.base import (
    InputContext,
    IOManager,
    IOManagerError,
    NothingStoredError,
    OutputContext,
    key_string,
)
from headwater.assets.io.values import (
    FrameKind,
    LoadKind,
    combine,
    expected_kind,
    frame_kind,
    from_arrow,
    is_installed,
    is_json_value,
    to_arrow,
)
from headwater.errors import DefinitionError

FORMATS = ("parquet", "json", "pickle")
"""The file formats, in the order a load looks for them; each is also the file extension."""

KIND_METADATA = b"headwater.kind"
"""Parquet schema metadata naming the library that wrote the frame, to load it back as such."""

# Characters kept as they are in file names; anything else is percent-encoded, so that a
# key can neither name a folder ("/", "..") nor a hidden file (a leading ".").
SAFE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
LONGEST_NAME = 200  # file systems allow 255 bytes; room for the extension and a temporary suffix


def safe_name(text: str) -> str:
    """A file name for an asset key part or a partition key, readable and never a path.

    The "|" between the dimensions of a multi-dimensional key becomes ","; other characters
    outside letters, digits, "-", "_" and "." (and a leading ".") become ``%XX``. Distinct
    keys give distinct names. Names too long for a file system keep their start and end
    with a digest of the whole key.
    """
    encoded = "".join(_encode_character(character) for character in text)
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded) > LONGEST_NAME:
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        encoded = f"{encoded[: LONGEST_NAME - 17]}~{digest}"  # "~" is never left unencoded
    return encoded


def _encode_character(character: str) -> str:
    if character in SAFE_CHARACTERS:
        return character
    if character == "|":
        return ","
    return "".join(f"%{byte:02X}" for byte in character.encode())


def relative_stem(asset_key: tuple[str, ...], partition_key: str | None) -> str:
    """The path of a stored value under the base, without extension.

    ``sales/orders_raw`` unpartitioned, ``sales/orders_raw/2026-01-01`` for a partition.
    """
    parts = [*asset_key, partition_key] if partition_key is not None else list(asset_key)
    if not asset_key or any(part == "" for part in parts):
        raise IOManagerError(
            f"asset {key_string(asset_key)!r}: cannot store partition {partition_key!r}: "
            "asset key parts and partition keys must not be empty"
        )
    return "/".join(safe_name(part) for part in parts)


@dataclass(frozen=True, slots=True)
class FileIOManager(IOManager):
    """Stores each partition of an asset as a file under ``base_url``.

    Unpartitioned assets go to ``{base}/{key parts}.{ext}``, partitions to
    ``{base}/{key parts}/{partition}.{ext}`` (keys made safe by ``safe_name``).

    Args:
        base_url: any fsspec URL or local path; None writes under the default base the
            engine passes (the result store's ``assets`` folder).
        format: "auto" writes data frames (pandas, polars) and pyarrow tables as Parquet
            when pyarrow is installed (or polars, for polars), JSON values as JSON and
            anything else as pickle; "parquet", "json" or "pickle" force one format.
        read_through: bases that loads fall back to when this one lacks a value (None
            for the default base). Set by ``relocated``.

    A write goes to a temporary file in the same folder, then is moved into place, so a
    reader never sees half a file and an interrupted write leaves the previous value.
    Loads find the format from the extension, so an asset may change its value's type
    between runs. Pickle files run code when loaded: only load a store you trust.
    """

    base_url: str | None = None
    _: KW_ONLY
    format: str = "auto"
    read_through: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in FORMATS:
            raise DefinitionError(
                f"FileIOManager: format {self.format!r} is not one of "
                f"'auto', {', '.join(map(repr, FORMATS))}"
            )

    def handle_output(self, context: OutputContext, value: Any) -> dict[str, Any]:
        file_format = self._format_of(context.asset_key, value)
        fs, root = _url_to_fs(self.base_url or context.default_base_url)
        stem = f"{root.rstrip('/')}/{relative_stem(context.asset_key, context.partition_key)}"
        path = f"{stem}.{file_format}"
        try:
            _write_atomically(fs, path, lambda stream: _write(file_format, value, stream))
        except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
            raise IOManagerError(
                f"asset {key_string(context.asset_key)!r}: cannot write its value "
                f"({type(value).__qualname__}) as {file_format}: {exc}"
                + ("; pass format='pickle' to store it as is" if file_format != "pickle" else "")
            ) from exc
        for other in FORMATS:  # a value of another type written before
            if other != file_format and fs.exists(f"{stem}.{other}"):
                fs.rm(f"{stem}.{other}")
        return {"path": _shown(fs, path), "bytes": fs.size(path), "format": file_format}

    def load_input(self, context: InputContext) -> Any:
        if context.partition_keys is None:
            return self._load(context, None)
        return combine({key: self._load(context, key) for key in context.partition_keys})

    def fingerprint(
        self, asset_key: tuple[str, ...], partition_key: str | None, default_base_url: str
    ) -> str | None:
        found = _find(self.base_url or default_base_url, asset_key, partition_key)
        if found is None:
            return None
        fs, path, _ = found
        digest = hashlib.sha256()
        with fs.open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"

    def relocated(self, base_url: str) -> FileIOManager:
        """Writes under ``base_url``; loads fall back to this manager's files.

        Nothing is copied: a value missing under ``base_url`` is read where this manager
        keeps it, so the relocated manager behaves as a copy of this one.
        """
        return FileIOManager(
            base_url, format=self.format, read_through=(self.base_url, *self.read_through)
        )

    def describe(self) -> str:
        where = self.base_url or "the default asset folder"
        return f"files under {where} (format {self.format})"

    def _format_of(self, asset_key: tuple[str, ...], value: Any) -> str:
        kind = frame_kind(value)
        if self.format == "auto":
            if kind is not None and _can_write_parquet(kind):
                return "parquet"
            return "json" if is_json_value(value) else "pickle"
        if self.format == "parquet" and (kind is None or not _can_write_parquet(kind)):
            wanted = "a pandas or polars data frame or a pyarrow table, with pyarrow installed"
            raise IOManagerError(
                f"asset {key_string(asset_key)!r}: format 'parquet' needs {wanted}; "
                f"got {type(value).__qualname__}"
            )
        if self.format == "json" and not is_json_value(value):
            raise IOManagerError(
                f"asset {key_string(asset_key)!r}: format 'json' needs dicts with string "
                "keys, lists, strings, numbers (finite), booleans or None; "
                f"got {type(value).__qualname__} {_preview(value)}"
            )
        return self.format

    def _load(self, context: InputContext, partition_key: str | None) -> Any:
        for base in (self.base_url, *self.read_through):
            found = _find(base or context.default_base_url, context.asset_key, partition_key)
            if found is not None:
                fs, path, file_format = found
                with fs.open(path, "rb") as stream:
                    return _read(file_format, stream, context.expects)
        which = "" if partition_key is None else f" for partition {partition_key!r}"
        raise NothingStoredError(
            f"asset {key_string(context.asset_key)!r}: nothing is stored{which} under "
            f"{self.base_url or context.default_base_url}; materialize it first"
        )


def _can_write_parquet(kind: FrameKind) -> bool:
    return is_installed("pyarrow") or (kind == "polars" and is_installed("polars"))


def _find(
    base: str, asset_key: tuple[str, ...], partition_key: str | None
) -> tuple[Any, str, str] | None:
    """The file system, path and format of a stored value, None if there is none."""
    fs, root = _url_to_fs(base)
    stem = f"{root.rstrip('/')}/{relative_stem(asset_key, partition_key)}"
    for file_format in FORMATS:
        if fs.exists(f"{stem}.{file_format}"):
            return fs, f"{stem}.{file_format}", file_format
    return None


def _write_atomically(fs: Any, path: str, write: Callable[[IO[bytes]], None]) -> None:
    folder, name = path.rsplit("/", 1)
    fs.makedirs(folder, exist_ok=True)
    # a leading "." and the suffix keep it apart from stored values (see safe_name)
    temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(temporary, "wb") as stream:
            write(stream)
        if _is_local(fs):
            os.replace(temporary, path)  # atomic, and replaces the old file on every OS
        else:
            fs.mv(temporary, path)
    except BaseException:
        if fs.exists(temporary):
            fs.rm(temporary)
        raise


def _write(file_format: str, value: Any, stream: IO[bytes]) -> None:
    if file_format == "json":
        stream.write(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    elif file_format == "pickle":
        pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        _write_parquet(value, stream)


def _write_parquet(value: Any, stream: IO[bytes]) -> None:
    kind = frame_kind(value)
    assert kind is not None  # _format_of chose Parquet for frames only
    if not is_installed("pyarrow"):
        value.write_parquet(stream)  # polars, on its own
        return
    import pyarrow.parquet as pq

    table = to_arrow(value, kind)
    metadata = {**(table.schema.metadata or {}), KIND_METADATA: kind.encode()}
    pq.write_table(table.replace_schema_metadata(metadata), stream)


def _read(file_format: str, stream: IO[bytes], expects: type | None) -> Any:
    if file_format == "json":
        return json.loads(stream.read())
    if file_format == "pickle":
        return pickle.load(stream)  # the asset store is trusted (see FileIOManager)
    wanted = expected_kind(expects)
    if not is_installed("pyarrow"):
        import polars

        frame = polars.read_parquet(stream)
        return frame.to_dicts() if wanted == "records" else frame
    import pyarrow.parquet as pq

    table = pq.read_table(stream)
    metadata = dict(table.schema.metadata or {})
    stored = metadata.pop(KIND_METADATA, b"pandas" if b"pandas" in metadata else b"arrow")
    written_by: LoadKind = "polars" if stored == b"polars" else "arrow"
    kind = wanted or ("pandas" if stored == b"pandas" else written_by)
    return from_arrow(table.replace_schema_metadata(metadata), kind)


def _shown(fs: Any, path: str) -> str:
    """A path as users know it: plain for local files, a URL otherwise."""
    if _is_local(fs):
        return path
    return str(fs.unstrip_protocol(path))


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


# fsspec (and the asyncio it imports) loads when a file is first read or written, not
# when headwater is imported: every asset's default IO manager is a FileIOManager


def _url_to_fs(url: str) -> tuple[Any, str]:
    import fsspec.core

    fs, root = fsspec.core.url_to_fs(url)
    return fs, root


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)
