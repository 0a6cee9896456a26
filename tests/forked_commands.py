"""The real ``headwater`` command in real processes, without paying for imports each time.

A command spends most of its time importing its libraries (SQLAlchemy, Alembic, rich, the
store): about 0.45 s of 0.6 s. A *command server*, started once per test process, imports
them once; each command is then a process forked from it that runs ``python -m headwater
ARGS`` (``runpy``, ``alter_sys``) in its own folder, environment and standard streams, and
exits as that command would: its exit code, its ``atexit`` handlers, its signals and its
``os._exit`` are its own, and nothing it changes outlives it.

What the server imports is what the commands would import anyway, except the command
modules (``headwater.cli.*`` but ``main``): they make their ``rich`` consoles at import,
which read ``COLUMNS`` and the colour settings of the environment, so each command imports
them itself, in its own environment. The server starts with ``TZ`` and the locale the test
process has; a command given another ``TZ`` calls ``time.tzset`` like a fresh process.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import locale
import os
import pkgutil
import runpy
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Imported from scratch by each command (see the module's docstring); Alembic runs the
# migration scripts itself.
NOT_PRELOADED = ("headwater.__main__", "headwater.cli.", "headwater.store.sql.migrations")
PRELOADED_LIBRARIES = (
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.operations",
    "alembic.ddl.sqlite",
    "alembic.ddl.postgresql",
    "click",
    "rich.console",
    "rich.table",
    "rich.text",
)
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.forked_commands import serve; serve(sys.argv[2])"
)


class CommandServer:
    """A server of forked ``headwater`` commands, for one test process."""

    def __init__(self, scratch: Path) -> None:
        self._scratch = scratch
        self._count = 0
        self._buffer = b""
        self._log = scratch / "command-server.log"
        with self._log.open("wb") as log:  # the server keeps its own copy
            self._process = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(ROOT), str(scratch)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env={k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")},
            )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._requests = self._process.stdin
        self._answers = self._process.stdout
        try:
            self._expect("ready", timeout=120)
        except BaseException:
            self._process.kill()
            self.close()
            raise

    def run(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        stdin: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``headwater ARGS`` to its end, as ``subprocess.run(..., text=True)`` would.

        Raises:
            subprocess.TimeoutExpired: the command ran longer than ``timeout`` (it is killed).
        """
        self._count += 1
        files = {
            name: self._scratch / f"command-{self._count}.{name}"
            for name in ("stdin", "stdout", "stderr")
        }
        files["stdin"].write_bytes((stdin or "").encode(locale.getpreferredencoding(False)))
        request = {
            "argv": args,
            "cwd": str(cwd),
            "env": env,
            "files": {name: str(path) for name, path in files.items()},
        }
        self._requests.write(json.dumps(request).encode() + b"\n")
        self._requests.flush()
        pid = int(self._expect("pid", timeout=30))
        try:
            status = int(self._expect("status", timeout=timeout))
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            self._expect("status", timeout=30)
            raise subprocess.TimeoutExpired(["headwater", *args], timeout) from None
        stdout, stderr = (_text(files[name]) for name in ("stdout", "stderr"))
        for path in files.values():
            path.unlink()
        return subprocess.CompletedProcess(["headwater", *args], status, stdout, stderr)

    def close(self) -> None:
        self._requests.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()

    def _expect(self, key: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise subprocess.TimeoutExpired("command server", timeout)
            chunk = os.read(self._answers.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the command server ended; see {self._log}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer = json.loads(line)
        assert key in answer, (key, answer)
        return answer[key]


def _text(path: Path) -> str:
    """A child's output as ``subprocess`` reads it in text mode (universal newlines)."""
    text = path.read_bytes().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def serve(scratch: str) -> None:
    """The server's loop: one request per line on stdin, answers on stdout."""
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    sys.path.remove(sys.argv[1])
    base_path = sys.path[1:]  # [0] is "" for -c; a command's is the folder it runs in
    _preload()
    gc.freeze()  # the children never collect (and so never copy) what the server made
    answers.write(b'{"ready": true}\n')
    answers.flush()
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            requests.close()
            answers.close()
            _become_command(request, base_path)  # never returns
        answers.write(json.dumps({"pid": pid}).encode() + b"\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        answers.write(json.dumps({"status": code}).encode() + b"\n")
        answers.flush()


def _preload() -> None:
    for name in PRELOADED_LIBRARIES:
        importlib.import_module(name)
    import headwater

    for module in pkgutil.walk_packages(headwater.__path__, "headwater."):
        if module.name != "headwater.cli.main" and module.name.startswith(NOT_PRELOADED):
            continue
        importlib.import_module(module.name)


def _become_command(request: dict[str, Any], base_path: list[str]) -> None:
    """In the forked child: set up its folder, environment and streams, and run it."""
    files = request["files"]
    written = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for fd, (name, flags) in enumerate(
        (("stdin", os.O_RDONLY), ("stdout", written), ("stderr", written))
    ):
        opened = os.open(files[name], flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    for name in [name for name in sys.modules if name == "tests" or name.startswith("tests.")]:
        del sys.modules[name]  # a real command cannot import the test suite
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.path[:] = [os.getcwd(), *base_path]
    sys.argv = ["headwater", *request["argv"]]
    try:
        runpy.run_module("headwater", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # ends by SIGINT, as Python does
        _finalize()
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    _finalize()
    os._exit(code)


def _exit_code(code: object) -> int:
    """The status of ``SystemExit(code)``, printing a message as the interpreter does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finalize() -> None:
    """What the interpreter does at exit that a command can see: it joins non-daemon
    threads, runs the ``atexit`` functions and flushes the standard streams. Tearing
    down every module (and so touching every page the server shared) is skipped."""
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
