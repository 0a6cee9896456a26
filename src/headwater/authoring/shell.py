"""``shell_task``: run a templated shell command as a task, its output in the task's log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from headwater.authoring.context import Context
from headwater.authoring.definition import TaskHandle, active_builder
from headwater.authoring.task import SHELL, Task
from headwater.authoring.templating import render
from headwater.errors import DefinitionError, TaskTimeoutError


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


def run_command(
    ctx: Context,
    command: str,
    env: Mapping[str, str] | None,
    cwd: str | None,
    timeout: timedelta | None,
) -> str:
    """Run ``command`` in a shell, stream its output to ``ctx.log``, return its last line."""
    rendered = render(command, ctx)
    full_env = {**os.environ, **{k: render(str(v), ctx) for k, v in (env or {}).items()}}
    ctx.log.info("running: %s", rendered)
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
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        _kill_group(process)

    timer = threading.Timer(timeout.total_seconds(), kill_on_timeout) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    last_lines: deque[str] = deque(maxlen=20)
    assert process.stdout is not None  # stdout=PIPE above
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            last_lines.append(line)
            ctx.log.info("%s", line)
        code = process.wait()
    except BaseException:
        _kill_group(process)  # the try was stopped (timeout in the thread executor)
        raise
    finally:
        process.stdout.close()
        if timer is not None:
            timer.cancel()
    if timed_out.is_set():
        raise TaskTimeoutError(f"command ran longer than its timeout of {timeout}")
    if code != 0:
        tail = "\n".join(last_lines)
        raise ShellCommandError(f"command exited with code {code}: {rendered}\n{tail}".rstrip())
    return last_lines[-1] if last_lines else ""


def shell_task(
    task_id: str,
    command: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    **task_options: Any,
) -> TaskHandle:
    """Declare a task that runs ``command`` in a shell.

    The command, ``env`` values and ``cwd`` are Jinja2 templates (``{{ ds }}``,
    ``{{ data_interval_start }}``, ``{{ params.x }}``...). Output goes to the task's log;
    a non-zero exit fails the try; the last line of output is the task's result.
    """
    if active_builder() is None:
        raise DefinitionError(f"shell_task({task_id!r}) must be called inside a @pipeline")
    if not isinstance(command, str) or not command.strip():
        raise DefinitionError(f"shell_task {task_id!r}: command must be a non-empty string")
    timeout = task_options.get("timeout")
    if isinstance(timeout, (int, float)):
        timeout = timedelta(seconds=timeout)

    def run_shell(ctx: Context) -> str:
        return run_command(ctx, command, env, cwd, timeout)

    run_shell.__name__ = task_id
    run_shell.__doc__ = f"Runs: {command}"
    shell = Task(run_shell, task_options, task_id=task_id, kind=SHELL, explicit_id=True)
    handle: TaskHandle = shell()
    return handle
