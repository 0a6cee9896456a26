"""``headwater backfill --asset KEY --partitions FIRST..LAST``: a backfill of asset partitions.

The options of ``headwater backfill`` that choose assets and partitions, and what the
command does with them: plan (``--dry-run``), record, and drive the backfill here or
leave it to a scheduler (``--detach``), as for a backfill of a pipeline's intervals.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.assets.keys import AssetKey
from headwater.assets.selection import select
from headwater.cli.console import console, print_json, show_engine_warnings
from headwater.cli.interrupts import exit_now_if_tries_still_run, interruptible
from headwater.cli.materialize import load_catalog
from headwater.cli.output import STATE_STYLES, backfill_progress_bar, id_column, text_column
from headwater.engine.assets import asset_records
from headwater.errors import ConfigError
from headwater.runtime import Runtime
from headwater.scheduling.asset_backfill import (
    AssetReprocess,
    PartitionStep,
    Redo,
    backfill_partitions,
    backfill_pipeline,
    dynamic_keys,
    plan_partitions,
    record_asset_backfill,
    selection_partitions,
    step_json,
)
from headwater.scheduling.asset_backfill_advance import AssetBackfillProgress
from headwater.scheduling.asset_backfill_runner import AssetBackfillRunner
from headwater.scheduling.backfill import Action
from headwater.store.records import BackfillRecord

Command = TypeVar("Command", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--asset",
        "asset_terms",
        metavar="KEY",
        help="Backfill partitions of this asset (or group:NAME, tag:NAME), not a pipeline.",
    ),
    click.option(
        "--partitions",
        "partition_range",
        metavar="FIRST..LAST",
        help="With --asset: the partitions (both ends included), or one key.",
    ),
    click.option("--missing", is_flag=True, help="Only partitions never materialized."),
    click.option(
        "--failed", is_flag=True, help="Those, and those a blocking check refused (default)."
    ),
    click.option("--all", "every", is_flag=True, help="Every partition in the range, again."),
    click.option("--stale", is_flag=True, help="Stale partitions too (with --missing, --failed)."),
    click.option("--upstream", is_flag=True, help="With --asset: what the assets read too."),
    click.option("--downstream", is_flag=True, help="With --asset: what reads them too."),
)
ASSET_OPTION_NAMES = ("missing", "failed", "every", "stale", "upstream", "downstream")


def asset_backfill_options(command: Command) -> Command:
    """Add the options of a backfill of asset partitions to ``headwater backfill``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetBackfillRequest:
    """What ``headwater backfill --asset`` was asked for."""

    terms: str
    partitions: str
    reprocess: AssetReprocess
    upstream: bool = False
    downstream: bool = False

    @property
    def asked(self) -> str:
        closures = " --upstream" * self.upstream + " --downstream" * self.downstream
        return f"{self.terms!r}{closures}"


def asset_request(
    pipeline_spec: str | None, pipeline_options: Mapping[str, Any], options: Mapping[str, Any]
) -> AssetBackfillRequest | None:
    """The backfill of assets asked for, or None for a backfill of a pipeline.

    ``pipeline_options`` are the options of a pipeline backfill given on the command
    line (``--start``...), ``options`` those added by ``asset_backfill_options``.

    Raises:
        click.UsageError: options of the two kinds mixed, or a missing one (exit 2).
    """
    terms = options["asset_terms"]
    if terms is None:
        given = [
            f"--{name.replace('every', 'all')}" for name in ASSET_OPTION_NAMES if options[name]
        ]
        if options["partition_range"] is not None or given:
            shown = "--partitions" if options["partition_range"] is not None else given[0]
            raise click.UsageError(
                f"{shown} is for a backfill of assets; name one with --asset KEY"
            )
        return None
    mixed = [name for name, value in pipeline_options.items() if value]
    if pipeline_spec is not None or mixed:
        shown = "PIPELINE" if pipeline_spec is not None else mixed[0]
        raise click.UsageError(
            f"{shown} is for a backfill of a pipeline; a backfill of --asset takes "
            "--partitions FIRST..LAST (and --missing, --failed or --all)"
        )
    if options["partition_range"] is None:
        raise click.UsageError("--asset needs --partitions FIRST..LAST (or one partition key)")
    chosen = [name for name in ("missing", "failed", "every") if options[name]]
    if len(chosen) > 1:
        raise click.UsageError("give one of --missing, --failed and --all")
    redo = {"missing": Redo.MISSING, "failed": Redo.FAILED, "every": Redo.ALL}[
        chosen[0] if chosen else "failed"
    ]
    return AssetBackfillRequest(
        terms=terms,
        partitions=options["partition_range"],
        reprocess=AssetReprocess(redo=redo, stale=options["stale"]),
        upstream=options["upstream"],
        downstream=options["downstream"],
    )


def _selection(
    graph: AssetGraph, request: AssetBackfillRequest
) -> tuple[list[AssetKey], list[AssetKey]]:
    """The assets ``--asset`` names, and those with their closures, upstream first."""
    named = select(graph, request.terms, where="--asset")
    found = set(named)
    if request.upstream:
        found |= graph.upstream_closure(named)
    if request.downstream:
        found |= graph.downstream_closure(named)
    return named, graph.in_order(found)


def backfill_assets(
    request: AssetBackfillRequest,
    *,
    max_active_runs: int,
    reverse: bool,
    dry_run: bool,
    detach: bool,
    pipelines_dir: Path,
    executor: str,
    json_output: bool,
) -> int:
    """``headwater backfill --asset``: plan, record, then run here or leave to a scheduler."""
    graph = load_catalog(pipelines_dir).graph
    named, keys = _selection(graph, request)
    definition = selection_partitions(graph, keys, named, request.asked)
    pipeline = materialize_pipeline(graph, keys, source_file=str(pipelines_dir.resolve()))
    runtime = Runtime()
    try:
        now = runtime.clock.now()
        dynamic = dynamic_keys(runtime.store, definition)
        partitions = backfill_partitions(definition, request.partitions, now=now, dynamic=dynamic)
        steps = plan_partitions(
            runtime.store,
            pipeline,
            partitions,
            request.reprocess,
            now=now,
            since=now,
            reverse=reverse,
        )
        if dry_run:
            if json_output:
                print_json([step_json(step) for step in steps])
            else:
                _print_plan(pipeline, steps)
            return 0
        runtime.store.upsert_assets(asset_records(graph, now))
        record = record_asset_backfill(
            runtime.store,
            pipeline,
            partitions,
            now=now,
            reprocess=request.reprocess,
            max_active_runs=max_active_runs,
            reverse=reverse,
            owner=None if detach else runtime.owner,
            lease_until=None if detach else now + runtime.settings.lease,
        )
        if detach:
            _print_detached(record, steps, json_output)
            return 0
        return _run_in_foreground(runtime, pipeline, record, executor, json_output)
    finally:
        runtime.close()


def resume_asset_backfill(
    runtime: Runtime, record: BackfillRecord, executor: str, json_output: bool
) -> int:
    """``headwater backfills resume`` of a backfill of assets: its pipeline built again."""
    folder = runtime.store.get_pipeline(record.pipeline_id).source_file
    if folder is None or not Path(folder).is_dir():
        raise ConfigError(
            f"backfill {record.backfill_id}: the pipelines folder of its assets "
            f"({folder}) is gone; cancel it with 'headwater backfills cancel "
            f"{record.backfill_id}'"
        )
    pipeline = backfill_pipeline(load_catalog(Path(folder)).graph, record, folder)
    return _run_in_foreground(runtime, pipeline, record, executor, json_output)


def range_cells(record: BackfillRecord) -> tuple[str, str] | None:
    """The first and last partitions of a backfill of assets, for ``backfills list``."""
    if not record.partitions:
        return None
    return record.partitions[0], record.partitions[-1]


# output


def _assets_of(record: BackfillRecord) -> str:
    names = list(record.asset_selection or ())
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _print_plan(pipeline: AssetPipeline, steps: list[PartitionStep]) -> None:
    names = ", ".join("/".join(key) for key in pipeline.asset_keys)
    table = Table(title=f"backfill of {names} (dry run)", title_justify="left")
    for column in ("partition", "status", "action"):
        text_column(table, column)
    id_column(table, "run")
    for step in steps:
        row = step_json(step)
        table.add_row(
            step.partition_key, step.state.status, step.action.value, row["run_id"] or "-"
        )
    console.print(table)
    counts = {action: sum(1 for s in steps if s.action is action) for action in Action}
    console.print(
        f"would run {counts[Action.RUN]}, redo {counts[Action.REDO]} and skip "
        f"{counts[Action.SKIP]} partition(s); nothing was changed (dry run)",
        highlight=False,
        soft_wrap=True,
    )


def _print_detached(record: BackfillRecord, steps: list[PartitionStep], json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "backfill_id": record.backfill_id,
                "pipeline": record.pipeline_id,
                "assets": list(record.asset_selection or ()),
                "state": record.state,
                "partitions": [step_json(step) for step in steps],
            }
        )
        return
    to_make = sum(1 for step in steps if step.action is not Action.SKIP)
    console.print(
        f"recorded backfill {record.backfill_id} of {_assets_of(record)}: {to_make} run(s) "
        f"to make, {len(steps) - to_make} partition(s) skipped; a running 'headwater "
        "scheduler' carries it on",
        highlight=False,
        soft_wrap=True,
    )


def verdict(progress: AssetBackfillProgress) -> str:
    """One line: the backfill's state and why."""
    backfill = progress.backfill
    head = (
        f"backfill {backfill.backfill_id} of {_assets_of(backfill)}: "
        f"{backfill.state.upper()}: {len(progress.runs)} run(s)"
    )
    skipped = f", {len(progress.skipped)} partition(s) skipped"
    if not progress.failed:
        return f"[green]{head} succeeded{skipped}[/]"
    keys = ", ".join(run.partition_key or "-" for run in progress.failed)
    return (
        f"[red]{head}, {len(progress.failed)} failed ({keys}){skipped}; "
        "the same backfill with --failed materializes the failed ones again[/]"
    )


def _print_summary(progress: AssetBackfillProgress) -> None:
    table = Table(title=f"backfill {progress.backfill.backfill_id}", title_justify="left")
    text_column(table, "partition")
    id_column(table, "run")
    text_column(table, "state")
    for run in progress.runs:
        style = STATE_STYLES.get(run.state, "")
        table.add_row(run.partition_key or "-", run.run_id, f"[{style}]{run.state}[/]")
    for step in progress.skipped:
        table.add_row(step.partition_key, "-", f"skipped ({step.state.status})")
    console.print(table)
    console.print(verdict(progress), highlight=False, soft_wrap=True)


def _run_in_foreground(
    runtime: Runtime,
    pipeline: AssetPipeline,
    record: BackfillRecord,
    executor: str,
    json_output: bool,
) -> int:
    show_engine_warnings()
    runner: AssetBackfillRunner | None = None
    try:
        with backfill_progress_bar(enabled=not json_output) as on_progress:
            runner = AssetBackfillRunner(
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
                {"run_id": run.run_id, "partition_key": run.partition_key, "state": run.state}
                for run in progress.runs
            ]
        )
    else:
        _print_summary(progress)
    return 1 if progress.failed or progress.backfill.state == "cancelled" else 0
