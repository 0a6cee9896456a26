"""``headwater backfill`` and ``headwater backfills list``: runs for past intervals."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from headwater.authoring.pipeline import Pipeline
from headwater.cli.asset_backfill import (
    asset_backfill_options,
    asset_request,
    backfill_assets,
    range_cells,
    resume_asset_backfill,
)
from headwater.cli.console import console, print_json, show_engine_warnings
from headwater.cli.interrupts import exit_now_if_tries_still_run, interruptible
from headwater.cli.options import parse_params, pipelines_option
from headwater.cli.output import (
    STATE_STYLES,
    backfill_progress_bar,
    id_column,
    text_column,
    utc_minutes,
)
from headwater.cli.run import executor_option, json_option
from headwater.cli.runs import cancel_note
from headwater.errors import ConfigError, PipelineLoadError
from headwater.loader import find_pipeline, load_pipeline
from headwater.reporting import backfill_json
from headwater.runtime import Runtime
from headwater.scheduling.backfill import (
    DEFAULT_MAX_ACTIVE_RUNS,
    Action,
    BackfillProgress,
    BackfillStep,
    Reprocess,
    plan_backfill,
    range_bounds,
    record_backfill,
    step_json,
)
from headwater.scheduling.backfill_runner import BackfillRunner
from headwater.store.records import BackfillRecord


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(sep=" ", timespec="minutes")


def _print_plan(pipeline: Pipeline, steps: list[BackfillStep]) -> None:
    table = Table(title=f"backfill of {pipeline.pipeline_id} (dry run)", title_justify="left")
    for column in (f"logical date ({pipeline.timezone})", "interval end", "action"):
        text_column(table, column)
    id_column(table, "run")
    for step in steps:
        existing = step.existing
        table.add_row(
            _local(step.interval.logical_date, pipeline.zone),
            _local(step.interval.end, pipeline.zone),
            step.action.value,
            "-" if existing is None else f"{existing.run_id}\n({existing.state})",
        )
    console.print(table)
    counts = {action: sum(1 for s in steps if s.action is action) for action in Action}
    console.print(
        f"would run {counts[Action.RUN]}, redo {counts[Action.REDO]} and skip "
        f"{counts[Action.SKIP]} interval(s); nothing was changed (dry run)",
        highlight=False,
        soft_wrap=True,
    )


def verdict(progress: BackfillProgress) -> str:
    """One line: the backfill's state and why."""
    backfill = progress.backfill
    head = (
        f"backfill {backfill.backfill_id} of {backfill.pipeline_id}: "
        f"{backfill.state.upper()}: {len(progress.runs)} run(s)"
    )
    skipped = f", {len(progress.skipped)} interval(s) skipped"
    if not progress.failed:
        return f"[green]{head} succeeded{skipped}[/]"
    dates = ", ".join(utc_minutes(run.logical_date) for run in progress.failed)
    return (
        f"[red]{head}, {len(progress.failed)} failed ({dates}){skipped}; the same "
        "backfill again redoes the failed ones[/]"
    )


def _print_summary(pipeline: Pipeline, progress: BackfillProgress) -> None:
    table = Table(title=f"backfill {progress.backfill.backfill_id}", title_justify="left")
    text_column(table, f"logical date ({pipeline.timezone})")
    id_column(table, "run")
    text_column(table, "state")
    rows: list[tuple[datetime, str, str]] = [
        (run.logical_date, run.run_id, f"[{STATE_STYLES.get(run.state, '')}]{run.state}[/]")
        for run in progress.runs
    ]
    for step in progress.skipped:
        existing = step.existing
        state = "skipped" if existing is None else f"skipped ({existing.state})"
        run_id = "-" if existing is None else existing.run_id
        rows.append((step.interval.logical_date, run_id, state))
    for logical_date, run_id, state in sorted(rows, reverse=progress.backfill.reverse):
        table.add_row(_local(logical_date, pipeline.zone), run_id, state)
    console.print(table)
    console.print(verdict(progress), highlight=False, soft_wrap=True)


def _print_detached(record: BackfillRecord, steps: list[BackfillStep], json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "backfill_id": record.backfill_id,
                "pipeline": record.pipeline_id,
                "state": record.state,
                "intervals": [step_json(step) for step in steps],
            }
        )
        return
    to_make = sum(1 for step in steps if step.action is not Action.SKIP)
    console.print(
        f"recorded backfill {record.backfill_id} of {record.pipeline_id}: {to_make} run(s) to "
        f"make, {len(steps) - to_make} interval(s) skipped; a running 'headwater scheduler' "
        "carries it on",
        highlight=False,
        soft_wrap=True,
    )


@click.command("backfill")
@click.argument("pipeline_spec", metavar="[PIPELINE]", required=False)
@click.option("--start", metavar="DATE", help="First logical date (included).")
@click.option("--end", metavar="DATE", help="Last logical date (included).")
@click.option(
    "--max-active-runs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ACTIVE_RUNS,
    show_default=True,
    help="Runs of the backfill queued or running at once.",
)
@click.option(
    "--reprocess",
    type=click.Choice([r.value for r in Reprocess]),
    default=Reprocess.FAILED.value,
    show_default=True,
    help="Which intervals that have a finished run to run again.",
)
@click.option("--reverse", is_flag=True, help="Newest interval first.")
@click.option("--dry-run", is_flag=True, help="Show what would run; change nothing.")
@click.option("--detach", is_flag=True, help="Record it and exit; a scheduler runs it.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param.")
@pipelines_option
@executor_option
@json_option
@asset_backfill_options
def backfill_command(
    pipeline_spec: str | None,
    start: str | None,
    end: str | None,
    max_active_runs: int,
    reprocess: str,
    reverse: bool,
    dry_run: bool,
    detach: bool,
    params: tuple[str, ...],
    pipelines_dir: Path,
    executor: str,
    json_output: bool,
    **asset_options: Any,
) -> int:
    """Run the scheduled intervals of PIPELINE whose logical date is in [--start, --end].

    Runs in the foreground until every run has ended (exit 0 if all succeeded, 1 if not),
    or with --detach is left to a running scheduler. Intervals that already succeeded are
    skipped; failed ones are redone (--reprocess). PIPELINE is FILE[:PIPELINE] or an id
    under the pipelines folder.

    With --asset KEY --partitions FIRST..LAST instead, materialize those partitions of
    the asset (and with --upstream, --downstream, of what it reads or what reads it),
    one run per partition: only those never materialized (--missing), those and the
    failed ones (--failed), or all of them (--all).
    """
    explicit = click.get_current_context().get_parameter_source("reprocess")
    given = {
        "--start": start,
        "--end": end,
        "--reprocess": explicit is click.core.ParameterSource.COMMANDLINE,
        "--param": params,
    }
    request = asset_request(pipeline_spec, given, asset_options)
    if request is not None:
        return backfill_assets(
            request,
            max_active_runs=max_active_runs,
            reverse=reverse,
            dry_run=dry_run,
            detach=detach,
            pipelines_dir=pipelines_dir,
            executor=executor,
            json_output=json_output,
        )
    if pipeline_spec is None or start is None or end is None:
        raise click.UsageError(
            "give PIPELINE --start DATE --end DATE, or --asset KEY --partitions FIRST..LAST"
        )
    pipeline = find_pipeline(pipeline_spec, pipelines_dir)
    overrides = parse_params(list(params), pipeline)
    first, last = range_bounds(start, end, pipeline.zone)
    runtime = Runtime()
    try:
        now = runtime.clock.now()
        steps = plan_backfill(
            pipeline, runtime.store, first, last, Reprocess(reprocess), now=now, reverse=reverse
        )
        if not steps:
            raise ConfigError(
                f"no interval of pipeline {pipeline.pipeline_id!r} (schedule "
                f"{pipeline.timetable.description if pipeline.timetable else None}) has a "
                f"logical date from {start} to {end}; check the range, and the pipeline's "
                "start and end"
            )
        if dry_run:
            if json_output:
                print_json([step_json(step) for step in steps])
            else:
                _print_plan(pipeline, steps)
            return 0
        record = record_backfill(
            runtime.store,
            pipeline,
            first,
            last,
            now=now,
            max_active_runs=max_active_runs,
            reprocess=Reprocess(reprocess),
            reverse=reverse,
            params=overrides,
            owner=None if detach else runtime.owner,
            lease_until=None if detach else now + runtime.settings.lease,
        )
        if detach:
            _print_detached(record, steps, json_output)
            return 0
        return _run_in_foreground(runtime, pipeline, record, executor, json_output)
    finally:
        runtime.close()


def _run_in_foreground(
    runtime: Runtime, pipeline: Pipeline, record: BackfillRecord, executor: str, json_output: bool
) -> int:
    show_engine_warnings()
    runner: BackfillRunner | None = None
    try:
        with backfill_progress_bar(enabled=not json_output) as on_progress:
            runner = BackfillRunner(
                runtime,
                pipeline,
                record,
                executor=executor,
                lease=runtime.settings.lease,
                on_progress=on_progress,
            )
            with interruptible(runner.interrupt):
                progress = runner.run()
    except KeyboardInterrupt:
        sys.stderr.write(
            f"headwater: interrupted; backfill {record.backfill_id} stays recorded, and a "
            f"running 'headwater scheduler' carries it on (or 'headwater backfills resume "
            f"{record.backfill_id}')\n"
        )
        exit_now_if_tries_still_run(runner.left_running if runner is not None else 0)
        raise
    if json_output:
        print_json(
            [
                {
                    "run_id": run.run_id,
                    "logical_date": run.logical_date.isoformat(),
                    "state": run.state,
                }
                for run in progress.runs
            ]
        )
    else:
        _print_summary(pipeline, progress)
    return 1 if progress.failed or progress.backfill.state == "cancelled" else 0


@click.group("backfills")
def backfills_group() -> None:
    """List recorded backfills, continue one in the foreground, or cancel one."""


@backfills_group.command("cancel")
@click.argument("backfill_id")
@click.option(
    "--runs",
    "with_runs",
    is_flag=True,
    help="Cancel its running runs too (by default they finish).",
)
@click.option("--reason", help="Why: kept in the note of the runs it cancels.")
@json_option
def cancel_command(backfill_id: str, with_runs: bool, reason: str | None, json_output: bool) -> int:
    """Cancel a running backfill: it starts no more runs and ends cancelled.

    Its queued runs are cancelled too; its running runs finish, unless --runs.
    """
    runtime = Runtime()
    try:
        note = cancel_note(reason) + f" (backfill {backfill_id})"
        cancelled = runtime.store.cancel_backfill(
            backfill_id, runtime.clock.now(), note, with_runs=with_runs
        )
        record = runtime.store.get_backfill(backfill_id)
    finally:
        runtime.close()
    if json_output:
        print_json({**backfill_json(record), "cancelled_runs": cancelled})
        return 0
    console.print(
        f"backfill {backfill_id} cancelled; {len(cancelled)} of its run(s) cancelled"
        + ("" if with_runs else "; its running runs finish")
    )
    return 0


def _recorded_pipeline(runtime: Runtime, pipeline_id: str) -> Pipeline:
    """The pipeline, imported again from the file the store last saw it in."""
    source_file = runtime.store.get_pipeline(pipeline_id).source_file
    if source_file is None:
        raise PipelineLoadError(f"pipeline {pipeline_id!r} has no recorded file", path="<unknown>")
    return load_pipeline(f"{source_file}:{pipeline_id}")


@backfills_group.command("resume")
@click.argument("backfill_id")
@executor_option
@json_option
def resume_command(backfill_id: str, executor: str, json_output: bool) -> int:
    """Continue a running backfill here (after Ctrl-C, or a process that died).

    Exit 0 if all its runs succeeded, 1 if not; 2 if it is no longer running.
    """
    runtime = Runtime()
    try:
        record = runtime.store.get_backfill(backfill_id)
        if record.state != "running":
            raise ConfigError(
                f"backfill {backfill_id!r} has ended ({record.state}); start a new one"
            )
        if record.partitions is not None:
            return resume_asset_backfill(runtime, record, executor, json_output)
        pipeline = _recorded_pipeline(runtime, record.pipeline_id)
        return _run_in_foreground(runtime, pipeline, record, executor, json_output)
    finally:
        runtime.close()


@backfills_group.command("list")
@click.option("--pipeline", help="Only this pipeline's backfills.")
@click.option(
    "--state",
    type=click.Choice(["running", "success", "failed", "cancelled"]),
    help="Only in this state.",
)
@json_option
def list_command(pipeline: str | None, state: str | None, json_output: bool) -> int:
    """List backfills, newest first."""
    runtime = Runtime()
    try:
        found = runtime.store.list_backfills(pipeline, state=state)
    finally:
        runtime.close()
    if json_output:
        print_json([backfill_json(record) for record in found])
        return 0
    table = Table()
    id_column(table, "backfill id")
    for column in ("pipeline", "state", "from (UTC)", "to (UTC)", "reprocess"):
        text_column(table, column)
    for record in found:
        # a backfill of assets shows its first and last partitions
        first, last = range_cells(record) or (
            utc_minutes(record.start_date),
            utc_minutes(record.end_date),
        )
        table.add_row(
            record.backfill_id, record.pipeline_id, record.state, first, last, record.reprocess
        )
    console.print(table)
    return 0
