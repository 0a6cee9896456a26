"""How runs are shown: the live progress display and the end-of-run summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from headwater.cli.console import console
from headwater.engine.run_loop import Listener
from headwater.reporting import tries_shown
from headwater.scheduling.backfill import BackfillProgressOf
from headwater.store.records import RunRecord, TaskInstanceRecord

FINAL = {"success", "failed", "skipped", "upstream_failed"}
STATE_STYLES = {
    "success": "green",
    "failed": "red",
    "upstream_failed": "dark_orange",
    "skipped": "magenta",
    "running": "cyan",
    "up_for_retry": "yellow",
    "up_for_reschedule": "blue",
    "queued": "grey50",
    "none": "grey50",
}


def utc_minutes(moment: datetime) -> str:
    """``2026-01-05 02:00``, in UTC (isoformat: strftime's %Y drops the zeros of year 1)."""
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="minutes")[:16]


def id_column(table: Table, header: str) -> None:
    """Add a column of ids (runs, backfills, tasks, pools) that other commands take.

    An id is never cut: the other columns shrink first, and on a terminal narrower than
    the id itself it folds onto the next line rather than end in an ellipsis.
    """
    table.add_column(header, no_wrap=True, overflow="fold")


def text_column(table: Table, header: str, *, justify: JustifyMethod = "left") -> None:
    """Add a column whose text wraps when the table is too wide, never replaced by "…"."""
    table.add_column(header, overflow="fold", justify=justify)


@contextmanager
def backfill_progress_bar(
    enabled: bool,
) -> Iterator[Callable[[BackfillProgressOf[Any]], None] | None]:
    """A backfill's runs done out of runs to make, while stdout is a terminal."""
    if not enabled or not console.is_terminal:
        yield None
        return
    with progress_bar() as bar:
        task = bar.add_task("backfill", total=None)

        def update(progress: BackfillProgressOf[Any]) -> None:
            failed = len(progress.failed)
            bar.update(
                task,
                completed=progress.done,
                total=progress.total,
                description=f"{len(progress.active)} running, {failed} failed",
            )

        yield update


def progress_bar() -> Progress:
    """The progress bar of the commands that drive runs: description, bar, count, time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def live_progress(total: int, enabled: bool) -> Iterator[Listener | None]:
    """A progress bar fed by the engine's listener when stdout is a terminal."""
    if not enabled or not console.is_terminal:
        yield None
        return
    seen: dict[str, str] = {}
    with progress_bar() as progress:
        bar = progress.add_task("starting", total=total)

        def listener(label: str, state: str) -> None:
            seen[label] = state
            done = sum(1 for s in seen.values() if s in FINAL)
            progress.update(
                bar,
                completed=done,
                total=max(total, len(seen)),
                description=f"{label}: {state}",
            )

        yield listener


def _duration(ti: TaskInstanceRecord) -> str:
    return f"{ti.duration:.2f}s" if ti.duration is not None else "-"


def _label(ti: TaskInstanceRecord) -> str:
    return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"


def _elapsed(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return f"{(end - start).total_seconds():.2f}s"


def print_summary(run: RunRecord, instances: list[TaskInstanceRecord]) -> None:
    """The tasks' table (with the first line of each error) and a one-line verdict."""
    table = Table(title=f"run {run.run_id}", title_justify="left")
    id_column(table, "task")
    text_column(table, "state")
    text_column(table, "tries", justify="right")
    text_column(table, "duration", justify="right")
    # the first line of the error, cut to the terminal: 'runs show --json' has it all
    table.add_column("error", no_wrap=True, overflow="ellipsis")
    for ti in sorted(instances, key=lambda t: (t.started_at is None, t.started_at, t.task_id)):
        style = STATE_STYLES.get(ti.state, "")
        error = (ti.error or "").strip().partition("\n")[0]
        table.add_row(
            _label(ti),
            f"[{style}]{ti.state}[/]",
            str(tries_shown(ti)),
            _duration(ti),
            Text(error, style="red"),
        )
    console.print(table)
    console.print(verdict(run, instances), highlight=False, soft_wrap=True)
    if run.note:
        console.print(Text(f"note: {run.note}"), highlight=False, soft_wrap=True)


def verdict(run: RunRecord, instances: list[TaskInstanceRecord]) -> str:
    elapsed = _elapsed(run.started_at, run.ended_at)
    head = (
        f"pipeline {run.pipeline_id} for {utc_minutes(run.logical_date)} UTC: "
        f"{run.state.upper()} in {elapsed}"
    )
    if run.state == "success":
        return f"[green]{head}[/]"
    failed = [
        f"{_label(t)} ({t.state})" for t in instances if t.state in ("failed", "upstream_failed")
    ]
    reason = f": {', '.join(failed)}" if failed else ""
    return f"[red]{head}{reason}[/]"
