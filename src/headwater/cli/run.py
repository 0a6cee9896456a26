"""``headwater run`` and ``headwater validate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from headwater.cli.console import print_json, show_engine_warnings
from headwater.cli.interrupts import exit_now_if_tries_still_run, interruptible
from headwater.cli.options import parse_date, parse_params, pipelines_option
from headwater.cli.output import live_progress, print_summary
from headwater.executors.factory import EXECUTORS
from headwater.executors.threads import DEFAULT_THREADS
from headwater.loader import find_pipeline
from headwater.runtime import Runtime

executor_option = click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="thread",
    show_default=True,
    help=(
        f"Where tasks run: {DEFAULT_THREADS} threads of this process (for tasks that wait "
        "on databases and APIs), or one worker process per CPU (for CPU-bound tasks)."
    ),
)
json_option = click.option("--json", "json_output", is_flag=True, help="Print only JSON.")


@click.command("run")
@click.argument("target", metavar="PIPELINE")
@click.option("--date", help="Logical date: an ISO date or datetime (default: now).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param.")
@click.option(
    "--rerun",
    is_flag=True,
    help="If the date already has a run, reset every task of it and run it again.",
)
@executor_option
@json_option
@pipelines_option
def run_command(
    target: str,
    date: str | None,
    params: tuple[str, ...],
    rerun: bool,
    executor: str,
    json_output: bool,
    pipelines_dir: Path,
) -> int:
    """Run a pipeline once, to completion. Exit 0 if the run succeeded, 1 if it failed.

    PIPELINE is FILE[:PIPELINE], or the id of a pipeline defined under the pipelines folder.
    A date that already has a run is refused (exit 2) unless --rerun is given.
    """
    pipeline = find_pipeline(target, pipelines_dir)
    overrides = parse_params(list(params), pipeline)
    logical_date = parse_date(date, pipeline.zone)
    show_engine_warnings()
    runtime = Runtime()
    try:
        record = runtime.create_run(
            pipeline, logical_date=logical_date, params=overrides, replace=rerun
        )
        try:
            with (
                live_progress(len(pipeline.plan.nodes), enabled=not json_output) as listener,
                interruptible(runtime.interrupt),
            ):
                run = runtime.engine(pipeline, executor=executor, listener=listener).drive(
                    record.run_id
                )
        except KeyboardInterrupt:
            sys.stderr.write(
                f"headwater: interrupted; continue with: headwater resume {record.run_id}\n"
            )
            exit_now_if_tries_still_run(runtime.left_running)
            raise
        if json_output:
            print_json(runtime.summary(run.run_id))
        else:
            print_summary(run, runtime.store.get_task_instances(run.run_id))
    finally:
        runtime.close()
    return 0 if run.state == "success" else 1
