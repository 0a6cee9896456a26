"""``headwater pause``, ``unpause`` and ``pipelines list``: pipelines as the store knows them."""

from __future__ import annotations

import click
from rich.table import Table

from headwater.cli.console import console, print_json
from headwater.cli.output import id_column, text_column, utc_minutes
from headwater.cli.run import json_option
from headwater.engine.runs import record_pipeline
from headwater.errors import NotFoundError
from headwater.loader import load_pipeline, looks_like_a_file
from headwater.runtime import Runtime
from headwater.store.base import StateStore

MAX_LISTED = 50  # known ids named in the error for an unknown one


def recorded_pipeline_id(store: StateStore, spec: str, runtime: Runtime) -> str:
    """The id of the pipeline ``spec`` names: a recorded id, or ``FILE[:PIPELINE]``.

    A pipeline named by its file is recorded first if it was not yet (so that it can
    be paused before any scheduler sees it). Raises NotFoundError naming the known ids.
    """
    known = [record.pipeline_id for record in store.list_pipelines()]
    if spec in known:
        return spec
    if looks_like_a_file(spec):
        pipeline = load_pipeline(spec)
        if pipeline.pipeline_id not in known:
            record_pipeline(store, pipeline, runtime.clock.now())
        return pipeline.pipeline_id
    listed = ", ".join(known[:MAX_LISTED]) or "none yet"
    more = f" and {len(known) - MAX_LISTED} more" if len(known) > MAX_LISTED else ""
    raise NotFoundError(
        f"no pipeline {spec!r} in the metadata store; known: {listed}{more}. Name a "
        "recorded id, or a file as FILE[:PIPELINE]"
    )


def _set_paused(spec: str, paused: bool) -> int:
    runtime = Runtime()
    try:
        pipeline_id = recorded_pipeline_id(runtime.store, spec, runtime)
        runtime.store.set_paused(pipeline_id, paused)
    finally:
        runtime.close()
    if paused:
        console.print(
            f"pipeline {pipeline_id} paused: no scheduled or event runs until "
            f"'headwater unpause {pipeline_id}'; runs already made go on"
        )
    else:
        console.print(f"pipeline {pipeline_id} unpaused: the scheduler makes its runs again")
    return 0


@click.command("pause")
@click.argument("pipeline")
def pause_command(pipeline: str) -> int:
    """Pause PIPELINE (a recorded id, or FILE[:PIPELINE]): the scheduler makes no runs for it.

    Runs already made go on; 'headwater run' and 'headwater trigger' still work.
    """
    return _set_paused(pipeline, True)


@click.command("unpause")
@click.argument("pipeline")
def unpause_command(pipeline: str) -> int:
    """Unpause PIPELINE: the scheduler makes its runs again.

    Without catchup only the latest interval is run; with catchup, the missed ones,
    at most max_active_runs at a time.
    """
    return _set_paused(pipeline, False)


@click.group("pipelines")
def pipelines_group() -> None:
    """List recorded pipelines."""


@pipelines_group.command("list")
@json_option
def list_command(json_output: bool) -> int:
    """The pipelines the store knows: schedule, paused, last run."""
    runtime = Runtime()
    try:
        rows = []
        for record in runtime.store.list_pipelines():
            last = runtime.store.list_runs(record.pipeline_id, limit=1)
            rows.append((record, last[0] if last else None))
    finally:
        runtime.close()
    if json_output:
        print_json(
            [
                {
                    "pipeline": record.pipeline_id,
                    "schedule": record.schedule,
                    "timezone": record.timezone,
                    "paused": record.paused,
                    "last_run": None
                    if run is None
                    else {
                        "run_id": run.run_id,
                        "state": run.state,
                        "logical_date": run.logical_date.isoformat(),
                    },
                }
                for record, run in rows
            ]
        )
        return 0
    table = Table()
    id_column(table, "pipeline")
    for column in ("schedule", "paused", "last run", "last logical date"):
        text_column(table, column)
    for record, run in rows:
        table.add_row(
            record.pipeline_id,
            record.schedule or "-",
            "yes" if record.paused else "no",
            "-" if run is None else run.state,
            "-" if run is None else utc_minutes(run.logical_date),
        )
    console.print(table)
    return 0
