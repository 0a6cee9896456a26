"""A try's log file: made private, opened on the first write, never hanging a try.

The file and the folders it needs are created on the first line written, so a silent
try touches no disk, and readable by their owner only (folders 0700, files 0600),
whatever the umask. A log that cannot be created or written raises
:class:`~headwater.errors.TryLogError`, which names the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import stat
import threading

from headwater.errors import TryLogError

_LOG_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


def _make_private_folders(folder: str) -> None:
    """Make ``folder`` and its missing parents, each readable by its owner only."""
    missing: list[str] = []
    current = folder
    while current and not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, _FOLDER_MODE)
        except FileExistsError:
            if not os.path.isdir(path):  # a file stands where the folder should be
                raise NotADirectoryError(errno.ENOTDIR, "is not a folder", path) from None
            continue  # made by another thread or process meanwhile
        os.chmod(path, _FOLDER_MODE)  # mkdir's mode is masked by the umask


def _open_private(path: str) -> int:
    """Open ``path`` for appending, made (and kept) readable by its owner only."""
    _make_private_folders(os.path.dirname(path))
    fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
    try:
        status = os.fstat(fd)
        # a regular file only: a log linked to a device is left as it is
        if stat.S_ISREG(status.st_mode) and stat.S_IMODE(status.st_mode) != _FILE_MODE:
            os.fchmod(fd, _FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def log_error_message(path: str, exc: OSError) -> str:
    """Why the log at ``path`` cannot be written, and what to check."""
    if isinstance(exc, NotADirectoryError) and exc.strerror == "is not a folder":
        reason = f"{exc.filename!r} is not a folder"
    elif exc.errno is not None and exc.strerror:
        reason = f"{exc.strerror} ({errno.errorcode.get(exc.errno, exc.errno)})"
        if exc.filename not in (None, path):
            reason += f" at {exc.filename!r}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return (
        f"cannot write the try's log {path!r}: {reason}; check that the logs folder can be "
        "written and that its disk has space"
    )


class TryLog(io.TextIOBase):
    """The log file of one try, opened (and its folder made) on the first write.

    Once a write fails, the log stays broken: every later write raises
    :class:`TryLogError` again, and ``error`` says why.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: str | None = None  # why the log cannot be written, once it failed
        self._fd: int | None = None
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Append ``text`` (UTF-8; unencodable characters escaped).

        Raises:
            TryLogError: the file or its folder cannot be created or written.
        """
        data = text.encode("utf-8", "backslashreplace")
        with self._lock:
            if self.error is not None:
                raise TryLogError(self.error)
            try:
                if self._fd is None:
                    self._fd = _open_private(self.path)
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    if written == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[written:]
            except OSError as exc:
                self.error = log_error_message(self.path, exc)
                raise TryLogError(self.error) from exc
        return len(text)

    def close(self) -> None:
        """Close the file; never raises (each write reached the file already)."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                with contextlib.suppress(OSError):
                    os.close(fd)
        super().close()


def append_to_log(path: str, text: str) -> str | None:
    """Append ``text`` to the log at ``path``; the reason it cannot, instead of raising."""
    log = TryLog(path)
    try:
        log.write(text)
    except TryLogError as exc:
        return str(exc)
    finally:
        log.close()
    return None


class _LogHandler(logging.Handler):
    def __init__(self, log: TryLog) -> None:
        super().__init__()
        self.log = log
        self.setFormatter(_LOG_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
        except Exception:  # a bad format string: logging's usual report, in the log
            self.handleError(record)
            return
        # the log remembers a failure: the try fails when the task returns
        with contextlib.suppress(TryLogError):
            self.log.write(text)


def try_logger(name: str, log: TryLog) -> logging.Logger:
    """A logger writing only to ``log``. Not registered globally, so it is freed after."""
    logger = logging.Logger(name, logging.DEBUG)
    logger.addHandler(_LogHandler(log))
    logger.propagate = False
    return logger
