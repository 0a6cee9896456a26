"""``headwater test --idempotency``: prove a pipeline or asset can be re-run safely."""

from __future__ import annotations

from pathlib import Path

import click

from headwater.assets.jobs import materialize_pipeline
from headwater.assets.selection import select
from headwater.authoring.pipeline import Pipeline
from headwater.cli.console import console, print_json
from headwater.cli.materialize import load_catalog
from headwater.cli.options import parse_date, pipelines_option
from headwater.cli.run import executor_option, json_option
from headwater.errors import ConfigError, NotFoundError
from headwater.idempotency import check_idempotency, describe_assets
from headwater.loader import find_pipeline, looks_like_a_file


def find_target(target: str, pipelines_dir: Path) -> Pipeline:
    """A pipeline (FILE[:PIPELINE] or an id), else the assets ``target`` selects."""
    try:
        return find_pipeline(target, pipelines_dir)
    except NotFoundError:
        if looks_like_a_file(target) and not target.startswith(("+", "group:", "tag:")):
            raise
    catalog = load_catalog(pipelines_dir)
    if target in catalog.pipelines:
        return catalog.pipelines[target]
    keys = select(catalog.graph, target, where="test")
    return materialize_pipeline(catalog.graph, keys, source_file=str(pipelines_dir.resolve()))


@click.command("test")
@click.argument("target", metavar="TARGET")
@click.option(
    "--idempotency",
    is_flag=True,
    required=True,
    help="Run TARGET twice for the date and report every write that differs.",
)
@click.option("--date", "date_text", required=True, help="The logical date (ISO).")
@click.option("--partition", help="The partition, for partitions that are not dates.")
@executor_option
@json_option
@pipelines_option
def test_command(
    target: str,
    idempotency: bool,
    date_text: str,
    partition: str | None,
    executor: str,
    json_output: bool,
    pipelines_dir: Path,
) -> int:
    """Test TARGET (a pipeline, or assets: KEY, group:NAME...). Exit 1 if it is not idempotent.

    Both runs use a temporary store and temporary copies of the assets' destinations; the
    real data is not touched.
    """
    pipeline = find_target(target, pipelines_dir)
    moment = parse_date(date_text, pipeline.zone)
    assert moment is not None  # --date is required
    try:
        report = check_idempotency(pipeline, moment, partition_key=partition, executor=executor)
    except ValueError as exc:
        raise ConfigError(f"{target}: {exc}") from None
    if json_output:
        print_json(
            {
                "pipeline_id": report.pipeline_id,
                "partition": report.partition_key,
                "runs": list(report.states),
                "compared": report.compared,
                "idempotent": report.idempotent,
                "differences": [
                    {
                        "kind": d.kind,
                        "name": d.name,
                        "partition": d.partition_key,
                        "first": d.first,
                        "second": d.second,
                    }
                    for d in report.differences
                ],
            }
        )
        return 0 if report.idempotent else 1
    shown = describe_assets(pipeline)
    where = f" partition {report.partition_key}" if report.partition_key else ""
    if report.states != ("success", "success"):
        console.print(
            f"[red]the runs of {shown}{where} did not both succeed[/] ({', '.join(report.states)})",
            highlight=False,
        )
    for difference in report.differences:
        console.print(f"[red]not idempotent[/]: {difference.describe()}", highlight=False)
    if report.idempotent:
        console.print(
            f"[green]idempotent[/]: {shown}{where}, run twice, wrote the same "
            f"({report.compared} compared)",
            highlight=False,
        )
    return 0 if report.idempotent else 1
