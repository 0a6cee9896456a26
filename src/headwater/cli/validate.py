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

from headwater.assets.definition import Asset
from headwater.assets.jobs import ASSET_KIND
from headwater.authoring.pipeline import Pipeline
from headwater.authoring.wall_clock import ADVICE, ALLOW_COMMENT, wall_clock_reads
from headwater.cli.console import console, print_json
from headwater.loader import LoadedFile, catalog_of, find_files, load_file

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
    asset_key: str | None = None  # an asset's function, not a pipeline's task

    @property
    def message(self) -> str:
        what = (
            f"asset {self.asset_key!r}"
            if self.asset_key is not None
            else f"pipeline {self.pipeline_id!r}, task {self.task_id!r}"
        )
        return f"{self.file}:{self.line}: {what} reads the wall clock ({self.call}); {ADVICE}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "wall_clock",
            "file": self.file,
            "line": self.line,
            "pipeline_id": self.pipeline_id,
            "task_id": self.task_id,
            "asset_key": self.asset_key,
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
    assets: int = 0  # assets defined in the file

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "pipelines": [
                {"pipeline_id": pipeline_id, "tasks": tasks}
                for pipeline_id, tasks in self.pipelines.items()
            ],
            "assets": self.assets,
            "error": self.error,
        }


def clock_warnings(pipeline: Pipeline) -> list[ClockWarning]:
    """One warning per call that reads the wall clock, in each task of the pipeline.

    Shell tasks (a command template, not Python) and the engine's own sensors are left out.
    """
    found: list[ClockWarning] = []
    for node in pipeline.plan.nodes:
        if node.kind in _NOT_USER_CODE or node.engine_side or node.kind == ASSET_KIND:
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


def asset_clock_warnings(assets: list[Asset]) -> list[ClockWarning]:
    """One warning per call that reads the wall clock, in each asset's function."""
    return [
        ClockWarning(
            file=_shown_path(read.file),
            line=read.line,
            pipeline_id="",
            task_id="",
            call=read.call,
            asset_key=item.name,
        )
        for item in assets
        for read in wall_clock_reads(item.fn)
    ]


def check_path(path: Path, *, with_warnings: bool) -> tuple[FileReport, LoadedFile]:
    """Import one file and report its pipelines, or the error that stopped it."""
    loaded = load_file(path)
    if loaded.error is not None:
        return FileReport(path=path, status="error", error=str(loaded.error)), loaded
    assets = loaded.assets.assets if loaded.assets is not None else []
    if not loaded.pipelines and not assets and not (loaded.assets and loaded.assets.jobs):
        return FileReport(path=path, status="skip"), loaded
    pipelines = dict(sorted(loaded.pipelines.items()))
    warnings = [w for p in pipelines.values() for w in clock_warnings(p)]
    warnings += asset_clock_warnings(assets)
    report = FileReport(
        path=path,
        status="ok",
        pipelines={pipeline_id: len(p.plan.nodes) for pipeline_id, p in pipelines.items()},
        warnings=sorted(warnings, key=lambda w: (w.file, w.line, w.pipeline_id, w.task_id))
        if with_warnings
        else [],
        assets=len(assets),
    )
    return report, loaded


def check_assets(reports: list[FileReport], loaded: list[LoadedFile]) -> list[FileReport]:
    """Build the files' asset graph: a file that breaks it becomes an error report."""
    catalog = catalog_of(loaded)
    by_path = {r.path.resolve(): r for r in reports}
    broken = []
    for path, error in catalog.errors.items():
        report = by_path.get(path.resolve())
        if report is not None and report.status != "error":
            report.status, report.error = "error", str(error)
            broken.append(report)
    for pipeline_id, compiled in catalog.pipelines.items():
        report = by_path.get(Path(compiled.source_file or "").resolve())
        if report is not None and report.status == "ok":
            report.pipelines[pipeline_id] = len(compiled.plan.nodes)
    return broken


def _print_report(report: FileReport) -> None:
    if report.status == "error":
        line = f"[red]error[/] {escape(report.error or '')}"
    elif report.status == "skip":
        line = f"[grey50]skip[/]  {report.path}: no pipeline defined"
    else:
        described = ", ".join(f"{pid} ({tasks} tasks)" for pid, tasks in report.pipelines.items())
        if report.assets:
            described += (", " if described else "") + f"{report.assets} asset(s)"
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
    loaded: list[LoadedFile] = []
    for path in files:
        report, loaded_file = check_path(path, with_warnings=not no_warnings)
        reports.append(report)
        loaded.append(loaded_file)
        if not json_output:
            _print_report(report)  # as it goes: a slow import shows where it is
    # the assets of all the files form one graph, checked once every file is imported
    for report in check_assets(reports, loaded):
        if not json_output:
            _print_report(report)
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
