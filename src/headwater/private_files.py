"""Files and folders only their owner can use: headwater's home, database, results, key.

Folders are made 0700 and files 0600 whatever the process umask. The umask is never
changed (tasks running in threads share it): each folder and file is created with its
mode, then given that mode again, since a umask can take bits away from it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700; existing folders keep their mode."""
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(folder, FOLDER_MODE)


def _open_new(path: Path) -> int:
    """A descriptor on a new file at ``path``, 0600; FileExistsError if there is one."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return descriptor


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 if it does not exist; True if this call made it."""
    try:
        os.close(_open_new(path))
    except FileExistsError:
        return False
    return True


def _write_temporary(path: Path, data: bytes, *, sync: bool) -> Path:
    """Write ``data`` to a new 0600 file next to ``path``, under a name no one else uses."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = _open_new(temporary)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600), replacing it whole: a reader never sees half.

    Not synced to disk: like a commit with SQLite's ``synchronous=NORMAL``, it survives
    a killed process, not a power cut.
    """
    temporary = _write_temporary(path, data, sync=False)
    try:
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def create_once(path: Path, data: bytes) -> bytes:
    """Create ``path`` (0600) holding ``data`` unless it exists; return what it holds.

    The data is written to a temporary file first and then hard-linked into place,
    which fails if ``path`` exists: processes that create it at once agree on the
    content of the one that won, and none reads a file being written.

    Raises:
        OSError: the folder cannot be written, or its file system has no hard links.
    """
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    temporary = _write_temporary(path, data, sync=True)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first: its content is the one
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()
