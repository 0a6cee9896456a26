"""dbt as a child process: its output streamed line by line, a timeout, its group killed."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from headwater.clock import SystemClock
from headwater.config import without_secrets
from headwater.errors import TaskTimeoutError

_POLL_SECONDS = 0.05
_TAIL_LINES = 20
_CLOCK = SystemClock()


@dataclass(frozen=True, slots=True)
class Finished:
    """A dbt process that ended: its exit code and every line it printed."""

    code: int
    lines: list[str]


def with_output(message: str, finished: Finished) -> str:
    """``message``, then the last lines dbt printed: its own account of what went wrong."""
    return f"{message}. dbt said:\n" + ("\n".join(finished.lines[-_TAIL_LINES:]) or "nothing")


def run_dbt(
    command: list[str],
    cwd: Path,
    *,
    log: Callable[[str], None] | None,
    timeout: float | None,
    waited: float = 0.0,
) -> Finished:
    """Run dbt in its own process group, pass each output line to ``log``, wait for its end.

    It waits in short steps, never in one blocking call: headwater's thread executor stops a
    try that outlives its timeout by raising in the try's thread, which Python delivers only
    between two instructions; whatever stops the wait kills dbt's whole group. ``waited``
    seconds of ``timeout`` were spent before (waiting for its turn).
    """
    deadline = None if timeout is None else _CLOCK.monotonic() + timeout - waited
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=without_secrets(os.environ),  # no store credentials for dbt
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        _follow(process, lines, log, lambda: _check_deadline(deadline, timeout, cwd))
        while True:
            try:
                return Finished(process.wait(_POLL_SECONDS), lines)
            except subprocess.TimeoutExpired:
                _check_deadline(deadline, timeout, cwd)
    except BaseException:
        _kill_group(process)
        raise
    finally:
        assert process.stdout is not None  # stdout=PIPE
        process.stdout.close()


def _follow(
    process: subprocess.Popen[str],
    lines: list[str],
    log: Callable[[str], None] | None,
    check_deadline: Callable[[], None],
) -> None:
    """Collect dbt's output lines until it closes its output, passing each to ``log``."""
    received: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:
            received.put(line.rstrip("\n"))
        received.put(None)

    threading.Thread(target=read, name="headwater-dbt-output", daemon=True).start()
    while True:
        try:
            line = received.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            check_deadline()
            continue
        if line is None:
            return
        lines.append(line)
        if log is not None:
            log(line)


def _check_deadline(deadline: float | None, timeout: float | None, project_dir: Path) -> None:
    if deadline is not None and _CLOCK.monotonic() > deadline:
        raise TaskTimeoutError(
            f"dbt in project {str(project_dir)!r} ran longer than its timeout of {timeout} s "
            "and was killed; raise the timeout or build fewer nodes at once"
        )


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
