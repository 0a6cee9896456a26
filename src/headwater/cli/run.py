"""``headwater run`` and ``headwater validate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from headwater.cli.options import parse_date, parse_params
from headwater.cli.output import console, live_progress, print_json, print_summary
from headwater.executors.factory import EXECUTORS
from headwater.loader import find_files, load_file, load_pipeline
from headwater.runtime import Runtime

executor_option = click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="thread",
    show_default=True,
    help="Where tasks run: threads of this process, or worker processes.",
)
json_option = click.option("--json", "json_output", is_flag=True, help="Print only JSON.")


@click.command("run")
@click.argument("target", metavar="FILE[:PIPELINE]")
@click.option("--date", help="Logical date: an ISO date or datetime (default: now).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param.")
@executor_option
@json_option
def run_command(
    target: str, date: str | None, params: tuple[str, ...], executor: str, json_output: bool
) -> int:
    """Run a pipeline once, to completion. Exit 0 if the run succeeded, 1 if it failed."""
    overrides = parse_params(list(params))
    pipeline = load_pipeline(target)
    logical_date = parse_date(date, pipeline.zone)
    runtime = Runtime()
    try:
        record = runtime.create_run(
            pipeline, logical_date=logical_date, params=overrides, replace=True
        )
        try:
            with live_progress(len(pipeline.plan.nodes), enabled=not json_output) as listener:
                run = runtime.engine(pipeline, executor=executor, listener=listener).drive(
                    record.run_id
                )
        except KeyboardInterrupt:
            sys.stderr.write(
                f"headwater: interrupted; continue with: headwater resume {record.run_id}\n"
            )
            raise
        if json_output:
            print_json(runtime.summary(run.run_id))
        else:
            print_summary(run, runtime.store.get_task_instances(run.run_id))
    finally:
        runtime.close()
    return 0 if run.state == "success" else 1


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(paths: tuple[Path, ...]) -> int:
    """Import pipeline files or folders and check their graphs. Exit 1 if any is broken."""
    broken = 0
    for missing in (p for p in paths if not p.exists()):
        console.print(
            f"[red]error[/] {missing}: no such file or folder", highlight=False, soft_wrap=True
        )
        broken += 1
    files = find_files([p for p in paths if p.exists()])
    for path in files:
        loaded = load_file(path)
        if loaded.error is not None:
            broken += 1
            console.print(f"[red]error[/] {loaded.error}", highlight=False, soft_wrap=True)
            continue
        if not loaded.pipelines:
            console.print(
                f"[grey50]skip[/]  {path}: no pipeline defined", highlight=False, soft_wrap=True
            )
            continue
        described = ", ".join(
            f"{pid} ({len(p.plan.nodes)} tasks)" for pid, p in sorted(loaded.pipelines.items())
        )
        console.print(f"[green]ok[/]    {path}: {described}", highlight=False, soft_wrap=True)
    console.print(
        f"{len(files)} file(s) checked, {broken} broken",
        style="red" if broken else "green",
        highlight=False,
    )
    return 1 if broken else 0
