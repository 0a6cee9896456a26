"""``headwater runs``, ``logs``, ``retry``, ``resume``, ``clear`` and ``cancel``: recorded runs."""

from __future__ import annotations

import getpass
import re
import socket
import sys
from pathlib import Path

import click
from rich.table import Table

from headwater.cli.console import console, print_json, show_engine_warnings
from headwater.cli.interrupts import exit_now_if_tries_still_run, interruptible
from headwater.cli.output import (
    id_column,
    live_progress,
    print_summary,
    text_column,
    utc_minutes,
)
from headwater.cli.run import executor_option, json_option
from headwater.errors import NotFoundError
from headwater.reporting import run_json
from headwater.runtime import Runtime
from headwater.store.records import TaskInstanceRecord


@click.group("runs")
def runs_group() -> None:
    """List and inspect runs."""


@runs_group.command("list")
@click.option("--pipeline", help="Only this pipeline's runs.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many runs."
)
@json_option
def list_command(pipeline: str | None, limit: int, json_output: bool) -> int:
    """List runs, newest first."""
    runtime = Runtime()
    try:
        found = runtime.store.list_runs(pipeline, limit=limit)
    finally:
        runtime.close()
    if json_output:
        print_json([run_json(run) for run in found])
        return 0
    table = Table()
    id_column(table, "run id")
    for column in ("pipeline", "state", "logical date", "duration"):
        text_column(table, column)
    for run in found:
        duration = (
            f"{(run.ended_at - run.started_at).total_seconds():.2f}s"
            if run.started_at and run.ended_at
            else "-"
        )
        table.add_row(
            run.run_id, run.pipeline_id, run.state, utc_minutes(run.logical_date), duration
        )
    console.print(table)
    return 0


@runs_group.command("show")
@click.argument("run_id")
@json_option
def show_command(run_id: str, json_output: bool) -> int:
    """Show a run and its tasks."""
    runtime = Runtime()
    try:
        if json_output:
            print_json(runtime.summary(run_id))
        else:
            run = runtime.store.get_run(run_id)
            print_summary(run, runtime.store.get_task_instances(run_id))
    finally:
        runtime.close()
    return 0


def _split_label(task: str) -> tuple[str, int | None]:
    """``extract`` → (extract, None); ``transform[2]`` → (transform, 2)."""
    match = re.fullmatch(r"(.+)\[(\d+)\]", task)
    return (match.group(1), int(match.group(2))) if match else (task, None)


def no_try_message(run_id: str, task: str, instances: list[TaskInstanceRecord]) -> str:
    """Why ``logs`` found nothing, with the run's tasks and which of them have tries."""
    tried: dict[str, bool] = {}
    for instance in instances:
        tried[instance.task_id] = tried.get(instance.task_id, False) or instance.try_number > 0
    listed = [f"{tid} ({'has tries' if has else 'no try yet'})" for tid, has in tried.items()]
    more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
    return (
        f"run {run_id!r} has no try of task {task!r}; its tasks: "
        f"{', '.join(listed[:20]) or 'none'}{more}"
    )


@click.command("logs")
@click.argument("run_id")
@click.argument("task")
@click.option("--try", "try_number", type=int, help="Which try (default: the last).")
def logs_command(run_id: str, task: str, try_number: int | None) -> int:
    """Print the log of a task's try. TASK[i] names an instance of a mapped task."""
    task_id, map_index = _split_label(task)
    runtime = Runtime()
    try:
        runtime.store.get_run(run_id)
        tries = runtime.store.get_tries(run_id, task_id, map_index)
        if not tries:
            instances = runtime.store.get_task_instances(run_id)
            raise NotFoundError(no_try_message(run_id, task, instances))
    finally:
        runtime.close()
    if map_index is None and len({t.map_index for t in tries}) > 1:
        raise NotFoundError(f"task {task!r} is mapped; name one instance, e.g. {task_id}[0]")
    chosen = (
        tries[-1]
        if try_number is None
        else next((t for t in tries if t.try_number == try_number), None)
    )
    if chosen is None:
        numbers = ", ".join(str(t.try_number) for t in tries)
        raise NotFoundError(
            f"task {task!r} of run {run_id!r} has no try {try_number}; tries: {numbers}"
        )
    path = Path(chosen.log_path) if chosen.log_path else None
    if path is None or not path.exists():
        sys.stderr.write(f"(try {chosen.try_number} of {task} wrote no log output)\n")
        return 0
    sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))
    return 0


def _drive_and_report(
    runtime: Runtime, action: str, run_id: str, json_output: bool, executor: str, **extra: object
) -> int:
    show_engine_warnings()
    try:
        with (
            live_progress(0, enabled=not json_output) as listener,
            interruptible(runtime.interrupt),
        ):
            method = getattr(runtime, action)
            run = method(run_id, executor=executor, listener=listener, **extra)
    except KeyboardInterrupt:
        sys.stderr.write(f"headwater: interrupted; continue with: headwater resume {run_id}\n")
        exit_now_if_tries_still_run(runtime.left_running)
        raise
    if json_output:
        print_json(runtime.summary(run.run_id))
    else:
        print_summary(run, runtime.store.get_task_instances(run.run_id))
    return 0 if run.state == "success" else 1


@click.command("retry")
@click.argument("run_id")
@executor_option
@json_option
def retry_command(run_id: str, executor: str, json_output: bool) -> int:
    """Re-run the failed and upstream-failed tasks of a run, and what they unblock."""
    runtime = Runtime()
    try:
        return _drive_and_report(runtime, "retry", run_id, json_output, executor)
    finally:
        runtime.close()


@click.command("resume")
@click.argument("run_id")
@executor_option
@json_option
def resume_command(run_id: str, executor: str, json_output: bool) -> int:
    """Continue a run from the store: succeeded tasks are kept, interrupted ones run again."""
    runtime = Runtime()
    try:
        return _drive_and_report(runtime, "resume", run_id, json_output, executor)
    finally:
        runtime.close()


@click.command("clear")
@click.argument("run_id")
@click.argument("tasks", nargs=-1, required=True)
@click.option("--downstream", is_flag=True, help="Also reset every task below them.")
@click.option("--no-run", is_flag=True, help="Only reset; run them later with resume.")
@executor_option
@json_option
def clear_command(
    run_id: str,
    tasks: tuple[str, ...],
    downstream: bool,
    no_run: bool,
    executor: str,
    json_output: bool,
) -> int:
    """Reset tasks of a finished run so they run again, then run them."""
    runtime = Runtime()
    try:
        if no_run:
            runtime.clear(run_id, list(tasks), downstream=downstream, run=False)
            console.print(f"reset {', '.join(tasks)}; run them with: headwater resume {run_id}")
            return 0
        return _drive_and_report(
            runtime,
            "clear",
            run_id,
            json_output,
            executor,
            task_ids=list(tasks),
            downstream=downstream,
        )
    finally:
        runtime.close()


MAX_REASON = 2000  # characters of a cancel's reason kept in the run's note


def cancel_note(reason: str | None) -> str:
    """Who asked (user@host) and why, for the run's note."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        user = "unknown"
    who = f"cancelled by {user}@{socket.gethostname()}"
    reason = " ".join((reason or "").split())[:MAX_REASON]
    return f"{who}: {reason}" if reason else who


@click.command("cancel")
@click.argument("run_id")
@click.option("--reason", help="Why: kept in the run's note with who asked.")
@json_option
def cancel_command(run_id: str, reason: str | None, json_output: bool) -> int:
    """Cancel a run: its running tries are stopped and it ends failed.

    A run nobody drives yet (queued) ends at once; otherwise the process driving it
    (a scheduler, 'headwater run') stops its tries within about a second.
    """
    runtime = Runtime()
    try:
        note = cancel_note(reason)
        ended = runtime.store.request_cancel(run_id, runtime.clock.now(), note)
        run = runtime.store.get_run(run_id)
    finally:
        runtime.close()
    if json_output:
        print_json({**run_json(run), "ended_now": ended})
    elif ended:
        console.print(f"run {run_id} cancelled: it had not started; it is failed now")
    else:
        console.print(
            f"run {run_id}: cancel requested; the process driving it stops its tries "
            f"and fails it (see: headwater runs show {run_id})"
        )
    return 0
