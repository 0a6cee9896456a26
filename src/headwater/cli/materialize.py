"""``headwater materialize`` and ``headwater assets list|show|lineage``."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from headwater.assets.catalog import AssetCatalog
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.partitions import PartitionsDefinition
from headwater.assets.selection import select
from headwater.cli.console import console, print_json
from headwater.cli.interrupts import exit_now_if_tries_still_run, interruptible
from headwater.cli.options import pipelines_option
from headwater.cli.run import executor_option, json_option
from headwater.engine.assets import asset_records, dynamic_names
from headwater.errors import ConfigError, NotFoundError
from headwater.loader import load_folder
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval
from headwater.store.records import RunRecord


def load_catalog(pipelines_dir: Path) -> AssetCatalog:
    """The assets of the pipelines folder; broken files are reported, the rest go on."""
    if not pipelines_dir.is_dir():
        raise NotFoundError(
            f"the pipelines folder {pipelines_dir} does not exist; name it with --pipelines "
            "DIR or HEADWATER_PIPELINES"
        )
    loaded, catalog = load_folder(pipelines_dir)
    for item in loaded:
        if item.error is not None:
            sys.stderr.write(f"warning: skipped {item.error}\n")
    for path, error in catalog.errors.items():
        sys.stderr.write(f"warning: assets of {path} left out: {error}\n")
    return catalog


def _keys(
    graph: AssetGraph, terms: tuple[str, ...], upstream: bool, downstream: bool
) -> list[AssetKey]:
    keys = select(graph, " ".join(terms), where="materialize")
    found = set(keys)
    if upstream:
        found |= graph.upstream_closure(keys)
    if downstream:
        found |= graph.downstream_closure(keys)
    return graph.in_order(found)


def partitions_to_run(
    pipeline: AssetPipeline, partition: str | None, partitions: str | None, runtime: Runtime
) -> list[str | None]:
    """The partitions a command asked for, checked against the pipeline's definition.

    Raises:
        ConfigError: a partitioned selection without a partition, or the reverse.
    """
    definition = pipeline.partitions
    names = ", ".join(key_string(k) for k in pipeline.asset_keys[:5])
    if definition is None:
        if partition or partitions:
            raise ConfigError(f"{names}: not partitioned; leave out --partition(s)")
        return [None]
    if partition and partitions:
        raise ConfigError("give --partition KEY or --partitions FIRST..LAST, not both")
    if not partition and not partitions:
        raise ConfigError(
            f"{names}: partitioned ({definition.describe()}); choose one with --partition KEY "
            "or a range with --partitions FIRST..LAST"
        )
    dynamic = _dynamic(definition, runtime)
    now = runtime.clock.now()
    if partition:
        return [definition.check_key(partition, dynamic=dynamic)]
    assert partitions is not None
    return list(definition.parse_range(partitions, now=now, dynamic=dynamic))


def _dynamic(definition: PartitionsDefinition, runtime: Runtime) -> dict[str, tuple[str, ...]]:
    names = dynamic_names(definition)
    return runtime.store.dynamic_keys(names) if names else {}


def create_partition_run(
    runtime: Runtime, pipeline: AssetPipeline, partition: str | None, index: int, **options: Any
) -> RunRecord:
    """A run of ``pipeline`` for ``partition``: a time partition's run covers its window
    and is the same run when the partition is materialized again."""
    definition = pipeline.partitions
    window = None if definition is None or partition is None else definition.time_window(partition)
    if window is not None and getattr(definition, "split", None) is None:
        interval = DataInterval(start=window[0], end=window[1])
        return runtime.create_run(
            pipeline, interval=interval, partition_key=partition, replace=True, **options
        )
    # other partitions: a new run each time, a microsecond apart (one run per date)
    now = runtime.clock.now() + timedelta(microseconds=index)
    span = window[1] - window[0] if window is not None else timedelta(0)
    interval = DataInterval(start=now, end=now + span)
    return runtime.create_run(pipeline, interval=interval, partition_key=partition, **options)


@click.command("materialize")
@click.argument("terms", nargs=-1, required=True, metavar="KEY...")
@click.option("--partition", help="The partition to materialize.")
@click.option("--partitions", help="A range of partitions, FIRST..LAST (both included).")
@click.option("--upstream", is_flag=True, help="Materialize what the assets read too.")
@click.option("--downstream", is_flag=True, help="Materialize what reads them too.")
@executor_option
@json_option
@pipelines_option
def materialize_command(
    terms: tuple[str, ...],
    partition: str | None,
    partitions: str | None,
    upstream: bool,
    downstream: bool,
    executor: str,
    json_output: bool,
    pipelines_dir: Path,
) -> int:
    """Materialize assets now, one run per partition. Exit 1 if a run failed.

    KEY is an asset key, group:NAME, tag:NAME or '*', with '+' before or after for
    everything upstream or downstream (as in asset_pipeline's select).
    """
    catalog = load_catalog(pipelines_dir)
    keys = _keys(catalog.graph, terms, upstream, downstream)
    pipeline = materialize_pipeline(catalog.graph, keys, source_file=str(pipelines_dir.resolve()))
    runtime = Runtime()
    finished: list[RunRecord] = []
    try:
        runtime.store.upsert_assets(asset_records(catalog.graph, runtime.clock.now()))
        wanted = partitions_to_run(pipeline, partition, partitions, runtime)
        for index, key in enumerate(wanted):
            record = create_partition_run(runtime, pipeline, key, index)
            try:
                with interruptible(runtime.interrupt):
                    run = runtime.engine(pipeline, executor=executor).drive(record.run_id)
            except KeyboardInterrupt:
                sys.stderr.write(
                    f"headwater: interrupted; continue with: headwater resume {record.run_id}\n"
                )
                exit_now_if_tries_still_run(runtime.left_running)
                raise
            finished.append(run)
            if not json_output:
                shown = f" partition {key}" if key else ""
                colour = "green" if run.state == "success" else "red"
                console.print(f"[{colour}]{run.state}[/]{shown}: run {run.run_id}", highlight=False)
        if json_output:
            print_json(
                {
                    "pipeline_id": pipeline.pipeline_id,
                    "assets": [key_string(k) for k in keys],
                    "runs": [runtime.summary(run.run_id) for run in finished],
                }
            )
    finally:
        runtime.close()
    return 0 if all(run.state == "success" for run in finished) else 1
