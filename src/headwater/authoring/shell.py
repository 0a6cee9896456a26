"""``shell_task``: run a templated shell command as a task, its output in the task's log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from headwater.authoring.context import Context
from headwater.authoring.definition import TaskHandle, active_builder
from headwater.authoring.task import SHELL, Task
from headwater.authoring.templating import render, render_shell
from headwater.config import without_secrets
from headwater.errors import DefinitionError


class ShellCommandError(RuntimeError):
    """A shell task's command exited with a non-zero code."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# How often a waiting shell task looks up: see _wait.
_POLL_SECONDS = 0.05


def run_command(ctx: Context, command: str, env: Mapping[str, str] | None, cwd: str | None) -> str:
    """Run ``command`` in a shell, stream its output to ``ctx.log``, return its last line.

    Each ``{{ ... }}`` value of the command is quoted for the shell; ``env`` values and
    ``cwd`` are rendered as they are (no shell parses them).
    """
    rendered = render_shell(command, ctx)
    given = {k: render(str(v), ctx) for k, v in (env or {}).items()}
    full_env = {**without_secrets(os.environ), **given}  # no store credentials
    ctx.log.info("running: %s", rendered)
    last_lines: deque[str] = deque(maxlen=20)
    process = subprocess.Popen(
        rendered,
        shell=True,
        cwd=render(cwd, ctx) if cwd else None,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    reader: threading.Thread | None = None
    try:
        reader = _copy_output(process, ctx, last_lines)
        code = _wait(process, reader)
    except BaseException:
        # the try was stopped: its timeout, raised in this thread by the thread executor
        _kill_group(process)
        raise
    finally:
        _close_output(process, reader)
    if code != 0:
        tail = "\n".join(last_lines)
        raise ShellCommandError(f"command exited with code {code}: {rendered}\n{tail}".rstrip())
    return last_lines[-1] if last_lines else ""


def _copy_output(
    process: subprocess.Popen[str], ctx: Context, last_lines: deque[str]
) -> threading.Thread:
    """Start a thread that copies the command's output lines to the try's log."""

    def copy() -> None:
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:
            line = line.rstrip("\n")
            last_lines.append(line)
            ctx.log.info("%s", line)

    reader = threading.Thread(target=copy, name=f"headwater-shell-{ctx.task_id}", daemon=True)
    reader.start()
    return reader


def _close_output(process: subprocess.Popen[str], reader: threading.Thread | None) -> None:
    if reader is not None:
        reader.join(1)  # the output ends when the command's group is gone
        if reader.is_alive():
            return  # a process that left the group holds the pipe: the reader ends with it
    assert process.stdout is not None
    process.stdout.close()


def _wait(process: subprocess.Popen[str], reader: threading.Thread) -> int:
    """Wait for the end of the command's output, then for its exit code.

    In short steps, never in one blocking call: the thread executor stops a try that
    outlives its timeout by raising ``TaskTimeoutError`` in the try's thread, and Python
    delivers that only between two instructions. A call blocked on the command (a
    read, ``waitpid``) would let the command run on after its try was given up.
    """
    while reader.is_alive():
        reader.join(_POLL_SECONDS)
    while True:
        try:
            return process.wait(_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue


def shell_task(
    task_id: str,
    command: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    **task_options: Any,
) -> TaskHandle:
    """Declare a task that runs ``command`` in a shell.

    The command, ``env`` values and ``cwd`` are Jinja2 templates (``{{ ds }}``,
    ``{{ data_interval_start }}``, ``{{ params.x }}``...). In the command each value is
    quoted for the shell (``{{ params.x | unquoted }}`` opts out), so write it outside
    quotes: ``echo {{ params.x }}``, not ``echo "{{ params.x }}"``. Output goes to the
    task's log; a non-zero exit fails the try; the last line of output is the task's
    result. A ``timeout`` (given here or by ``default_task_args``) kills the command.
    """
    if active_builder() is None:
        raise DefinitionError(f"shell_task({task_id!r}) must be called inside a @pipeline")
    if not isinstance(command, str) or not command.strip():
        raise DefinitionError(f"shell_task {task_id!r}: command must be a non-empty string")

    def run_shell(ctx: Context) -> str:
        return run_command(ctx, command, env, cwd)

    run_shell.__name__ = task_id
    run_shell.__doc__ = f"Runs: {command}"
    shell = Task(run_shell, task_options, task_id=task_id, kind=SHELL, explicit_id=True)
    handle: TaskHandle = shell()
    return handle
