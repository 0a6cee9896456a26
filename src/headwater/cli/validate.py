"""``headwater validate``: import pipeline files in isolation and check their graphs.

Besides errors (exit 1), it warns about tasks whose code reads the wall clock: warnings
never change the exit code. It needs no database: it never imports the store.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from headwater.authoring.pipeline import Pipeline
from headwater.authoring.wall_clock import ADVICE, ALLOW_COMMENT, wall_clock_reads
from headwater.cli.console import console, print_json
from headwater.loader import find_files, load_file

# Task kinds whose function is not the user's Python: a shell task runs its command
# template. (Engine-side sensors, headwater's own code, are left out by their node too.)
_NOT_USER_CODE = frozenset({"shell"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockWarning:
    """A task of a pipeline whose code reads the wall clock, at ``file:line``."""

    file: str
    line: int
    pipeline_id: str
    task_id: str
    call: str

    @property
    def message(self) -> str:
        return (
            f"{self.file}:{self.line}: pipeline {self.pipeline_id!r}, task {self.task_id!r} "
            f"reads the wall clock ({self.call}); {ADVICE}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "wall_clock",
            "file": self.file,
            "line": self.line,
            "pipeline_id": self.pipeline_id,
            "task_id": self.task_id,
            "call": self.call,
            "message": self.message,
        }


@dataclass(slots=True, kw_only=True)
class FileReport:
    """What ``validate`` found in one path: ``ok``, ``skip`` or ``error``."""

    path: Path
    status: str
    pipelines: dict[str, int] = field(default_factory=dict)  # id -> number of tasks
    error: str | None = None
    warnings: list[ClockWarning] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "pipelines": [
                {"pipeline_id": pipeline_id, "tasks": tasks}
                for pipeline_id, tasks in self.pipelines.items()
            ],
            "error": self.error,
        }


def clock_warnings(pipeline: Pipeline) -> list[ClockWarning]:
    """One warning per call that reads the wall clock, in each task of the pipeline.

    Shell tasks (a command template, not Python) and the engine's own sensors are left out.
    """
    found: list[ClockWarning] = []
    for node in pipeline.plan.nodes:
        if node.kind in _NOT_USER_CODE or node.engine_side:
            continue
        found.extend(
            ClockWarning(
                file=_shown_path(read.file),
                line=read.line,
                pipeline_id=pipeline.pipeline_id,
                task_id=node.task_id,
                call=read.call,
            )
            for read in wall_clock_reads(node.fn)
        )
    return found


def _shown_path(file: str) -> str:
    """The file relative to the current folder when it is under it, else as it is."""
    try:
        return _relative_to(file, os.getcwd())
    except OSError:  # no current folder
        return file


@functools.lru_cache(maxsize=1024)
def _relative_to(file: str, folder: str) -> str:
    # cached: every task of a shared module would resolve the same path again
    try:
        inside = Path(file).resolve().is_relative_to(Path(folder).resolve())
        return os.path.relpath(file, folder) if inside else file
    except (OSError, ValueError):  # another drive
        return file


def check_path(path: Path, *, with_warnings: bool) -> FileReport:
    """Import one file and report its pipelines, or the error that stopped it."""
    loaded = load_file(path)
    if loaded.error is not None:
        return FileReport(path=path, status="error", error=str(loaded.error))
    if not loaded.pipelines:
        return FileReport(path=path, status="skip")
    pipelines = dict(sorted(loaded.pipelines.items()))
    return FileReport(
        path=path,
        status="ok",
        pipelines={pipeline_id: len(p.plan.nodes) for pipeline_id, p in pipelines.items()},
        warnings=sorted(
            (w for p in pipelines.values() for w in clock_warnings(p)),
            key=lambda w: (w.file, w.line, w.pipeline_id, w.task_id),
        )
        if with_warnings
        else [],
    )


def _print_report(report: FileReport) -> None:
    if report.status == "error":
        line = f"[red]error[/] {escape(report.error or '')}"
    elif report.status == "skip":
        line = f"[grey50]skip[/]  {report.path}: no pipeline defined"
    else:
        described = ", ".join(f"{pid} ({tasks} tasks)" for pid, tasks in report.pipelines.items())
        line = f"[green]ok[/]    {report.path}: {described}"
    console.print(line, highlight=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(
            f"[yellow]warning:[/] {escape(warning.message)}", highlight=False, soft_wrap=True
        )


def _print_verdict(reports: list[FileReport], checked: int) -> None:
    broken = sum(1 for r in reports if r.status == "error")
    warned = sum(len(r.warnings) for r in reports)
    verdict = f"{checked} file(s) checked, {broken} broken"
    if warned:
        console.print(
            f"a deliberate read of the clock is silenced by {ALLOW_COMMENT!r} on its line",
            style="grey50",
            highlight=False,
            soft_wrap=True,
        )
        verdict += f", {warned} warning(s)"
    console.print(verdict, style="red" if broken else "green", highlight=False)


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--no-warnings", is_flag=True, help="Report errors only: no wall-clock warnings.")
@click.option("--json", "json_output", is_flag=True, help="Print only JSON.")
def validate_command(paths: tuple[Path, ...], no_warnings: bool, json_output: bool) -> int:
    """Import pipeline files or folders and check their graphs. Exit 1 if any is broken.

    Also warns about tasks that read the wall clock (warnings do not change the exit code).
    """
    reports = [
        FileReport(path=p, status="error", error=f"{p}: no such file or folder")
        for p in paths
        if not p.exists()
    ]
    files = find_files([p for p in paths if p.exists()])
    if not json_output:
        for report in reports:
            _print_report(report)
    for path in files:
        report = check_path(path, with_warnings=not no_warnings)
        reports.append(report)
        if not json_output:
            _print_report(report)  # as it goes: a slow import shows where it is
    broken = sum(1 for r in reports if r.status == "error")
    if json_output:
        print_json(
            {
                "files": [r.as_json() for r in reports],
                "checked": len(files),
                "broken": broken,
                "warnings": [w.as_json() for r in reports for w in r.warnings],
            }
        )
    else:
        _print_verdict(reports, len(files))
    return 1 if broken else 0
