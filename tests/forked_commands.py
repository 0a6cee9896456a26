"""The real ``headwater`` command in real processes, without paying for imports each time.

A command spends most of its time importing its libraries (SQLAlchemy, Alembic, rich, the
store): about 0.45 s of 0.6 s. A *command server*, started once per test process, imports
them once; each command is then a process forked from it that runs ``python -m headwater
ARGS`` (``runpy``, ``alter_sys``) in its own folder, environment and standard streams (the
file descriptors the test gives, sent over a Unix socket), and exits as that command would:
its exit code, its ``atexit`` functions, its signals, its ``os._exit``, its kill -9 are its
own, and nothing it changes outlives it. :meth:`CommandServer.popen` returns a
``subprocess.Popen`` whose process is such a command, so tests drive it as they would
drive ``Popen([sys.executable, "-m", "headwater", ...])``.

What the server imports is what the commands would import anyway, except the command
modules (``headwater.cli.*`` but ``main``): they make their ``rich`` consoles at import,
which read ``COLUMNS`` and the colour settings of the environment, so each command imports
them itself, in its own environment. A command given another ``TZ`` calls ``time.tzset``
like a fresh process. At exit a command does what the interpreter does that anyone can see
(joins its threads, runs ``atexit``, flushes its streams) and skips tearing its modules
down, which would copy every page it shares with the server.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import pkgutil
import runpy
import select
import signal
import socket
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
    "from tests.forked_commands import serve; serve(int(sys.argv[2]))"
)
MESSAGE_SIZE = 1 << 20


class CommandServer:
    """A server of forked ``headwater`` commands, for one test process."""

    def __init__(self, log: Path) -> None:
        """Start the server; its own errors go to ``log``."""
        self._log = log
        self._lock = threading.Lock()
        self._ready = False
        self._sent = 0
        self._pids: list[int] = []  # in the order of the requests
        self._exits: dict[int, int] = {}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket = ours
        with theirs, log.open("wb") as errors:  # the server keeps its own copies
            self._process = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(ROOT), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env={k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")},
            )
        try:
            self._receive(lambda: self._ready, timeout=120)
        except BaseException:
            self.close()
            raise

    def popen(self, args: list[str], **options: Any) -> subprocess.Popen[Any]:
        """``subprocess.Popen([sys.executable, "-m", "headwater", *args], **options)``.

        ``options`` are Popen's; ``cwd``, ``env``, the three streams, ``umask`` and
        ``start_new_session`` reach the command, and the process-creation options that
        only make sense for an ``exec`` (``executable``, ``preexec_fn``, ``pass_fds``...)
        are refused.
        """
        return _ForkedPopen(self, ["headwater", *args], **options)

    def run(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        stdin: str = "",
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """``subprocess.run`` of ``headwater ARGS``, capturing its output as text.

        Raises:
            subprocess.TimeoutExpired: the command ran longer than ``timeout`` (it is killed).
        """
        with self.popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def close(self) -> None:
        self._socket.close()  # the server ends when its end of the socket closes
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    # Used by _ForkedPopen.

    def start(self, request: dict[str, Any], fds: list[int]) -> int:
        with self._lock:
            index = self._sent
            socket.send_fds(self._socket, [json.dumps(request).encode()], fds)
            self._sent += 1
        self._receive(lambda: len(self._pids) > index, timeout=60)
        return self._pids[index]

    def exit_status(self, pid: int, timeout: float | None) -> int | None:
        """The pid's exit status, waiting up to ``timeout`` seconds for it (None: forever)."""
        try:
            self._receive(lambda: pid in self._exits, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self._exits[pid]

    def _receive(self, done: Any, timeout: float | None) -> None:
        """Read the server's messages until ``done()``; TimeoutExpired after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                while not done() and select.select([self._socket], [], [], 0)[0]:
                    self._read_one()
                if done():
                    return
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("headwater", timeout or 0)
            select.select([self._socket], [], [], 0.2 if left is None else min(left, 0.2))

    def _read_one(self) -> None:
        data = self._socket.recv(MESSAGE_SIZE)
        if not data:
            raise RuntimeError(f"the command server ended; its errors are in {self._log}")
        message = json.loads(data)
        if "pid" in message:
            self._pids.append(message["pid"])
        elif "exit" in message:
            self._exits[message["exit"]] = message["status"]
        else:
            assert message == {"ready": True}, message
            self._ready = True


class _ForkedPopen(subprocess.Popen[Any]):
    """A Popen whose child the command server forks instead of ``fork`` and ``exec``."""

    def __init__(self, server: CommandServer, args: list[str], **options: Any) -> None:
        self._server = server
        super().__init__(args, **options)

    def _execute_child(  # type: ignore[override]  # the signature of Popen's own
        self,
        args: list[str],
        executable: Any,
        preexec_fn: Any,
        close_fds: bool,
        pass_fds: Any,
        cwd: Any,
        env: Any,
        startupinfo: Any,
        creationflags: int,
        shell: bool,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        restore_signals: bool,
        gid: Any,
        gids: Any,
        uid: Any,
        umask: int,
        start_new_session: bool,
        process_group: Any,
    ) -> None:
        refused = {
            "executable": executable,
            "preexec_fn": preexec_fn,
            "pass_fds": pass_fds or None,
            "shell": shell or None,
            "gid": gid,
            "gids": gids,
            "uid": uid,
            "process_group": None if process_group == -1 else process_group,
        }
        assert not any(v is not None for v in refused.values()), refused
        request = {
            "argv": list(args[1:]),
            "cwd": os.fspath(cwd) if cwd is not None else os.getcwd(),
            "env": dict(os.environ if env is None else env),
            "umask": umask,
            "new_session": start_new_session,
        }
        fds = [p2cread, c2pwrite, errwrite]
        fds = [fd if fd != -1 else default for fd, default in zip(fds, (0, 1, 2), strict=True)]
        try:
            self.pid = self._server.start(request, fds)
            self._child_created = True
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]

    def _internal_poll(self, _deadstate: Any = None, **_unused: Any) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_status(self.pid, timeout=0)
        return self.returncode

    def _wait(self, timeout: float | None) -> int:
        if self.returncode is None:
            status = self._server.exit_status(self.pid, timeout)
            if status is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.returncode = status
        return self.returncode


# The server's side.


def serve(fd: int) -> None:
    """The server's loop: start the commands it is asked for, report how each ended."""
    control = socket.socket(fileno=fd)
    sys.path.remove(sys.argv[1])
    base_path = sys.path[1:]  # [0] is "" for -c; a command's is the folder it runs in
    _preload()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    gc.freeze()  # the children never collect (and so never copy) what the server made
    control.send(b'{"ready": true}')
    while True:
        readable = select.select([control, wake_read], [], [])[0]
        if wake_read in readable:
            os.read(wake_read, 4096)
            _report_exits(control)
        if control in readable:
            data, fds, _flags, _address = socket.recv_fds(control, MESSAGE_SIZE, 3)
            if not data:
                return  # the test process is done
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for own in (control.fileno(), wake_read, wake_write):
                    os.close(own)
                _become_command(json.loads(data), fds, base_path)  # never returns
            for received in fds:
                os.close(received)
            control.send(json.dumps({"pid": pid}).encode())


def _report_exits(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        control.send(
            json.dumps({"exit": pid, "status": os.waitstatus_to_exitcode(status)}).encode()
        )


def _preload() -> None:
    for name in PRELOADED_LIBRARIES:
        importlib.import_module(name)
    import headwater

    for module in pkgutil.walk_packages(headwater.__path__, "headwater."):
        if module.name != "headwater.cli.main" and module.name.startswith(NOT_PRELOADED):
            continue
        importlib.import_module(module.name)


def _become_command(request: dict[str, Any], fds: list[int], base_path: list[str]) -> None:
    """In the forked child: take its streams, folder and environment, and run it."""
    if request["new_session"]:
        os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    if request["umask"] >= 0:
        os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.path[:] = [os.getcwd(), *base_path]
    for name in [name for name in sys.modules if name == "tests" or name.startswith("tests.")]:
        del sys.modules[name]  # a real command cannot import the test suite
    sys.argv = ["headwater", *request["argv"]]
    try:
        runpy.run_module("headwater", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        _finalize()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # ends by SIGINT, as Python does
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
    threads, runs the ``atexit`` functions and flushes the standard streams."""
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
