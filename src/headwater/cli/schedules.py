"""``headwater next``: the data intervals a pipeline's schedule will run next."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from headwater.authoring.pipeline import Pipeline
from headwater.cli.console import print_json
from headwater.cli.options import pipelines_option
from headwater.cli.output import utc_minutes
from headwater.cli.run import json_option
from headwater.clock import SystemClock
from headwater.errors import ConfigError
from headwater.loader import find_pipeline
from headwater.schedules.intervals import parse_logical_date
from headwater.schedules.timetables import DataInterval


def interval_json(interval: DataInterval) -> dict[str, str]:
    """An interval as ISO 8601 strings in UTC."""
    return {
        "logical_date": interval.logical_date.isoformat(),
        "data_interval_start": interval.start.isoformat(),
        "data_interval_end": interval.end.isoformat(),
        "run_after": interval.run_after.isoformat(),
    }


def _local(moment: datetime, zone: ZoneInfo) -> str:
    try:
        local = moment.astimezone(zone)
    except OverflowError:  # its local time is past year 9999: show it in UTC
        local = moment.astimezone(UTC)
    return local.isoformat(sep=" ", timespec="minutes")


def interval_rows(intervals: list[DataInterval], zone: ZoneInfo) -> list[str]:
    """Aligned lines: each interval's start and end in ``zone`` (with offset) and in UTC."""
    header = [f"start ({zone.key})", f"end ({zone.key})", "start (UTC)", "end (UTC)"]
    cells = [
        [_local(i.start, zone), _local(i.end, zone), utc_minutes(i.start), utc_minutes(i.end)]
        for i in intervals
    ]
    widths = [max(len(row[c]) for row in [header, *cells]) for c in range(len(header))]
    return [
        "   ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *cells]
    ]


def _parse_after(value: str, zone: ZoneInfo) -> datetime:
    try:
        return parse_logical_date(value, zone)[0]
    except ConfigError as exc:
        raise ConfigError(f"--after: {exc}") from None


def _report(pipeline: Pipeline, intervals: list[DataInterval], after: datetime) -> None:
    timetable = pipeline.timetable
    if timetable is None:
        click.echo(
            f"pipeline {pipeline.pipeline_id} has no schedule: it runs only when started by "
            "hand or by an event"
        )
        return
    where = (
        f"pipeline {pipeline.pipeline_id}, schedule {timetable.description} in {pipeline.timezone}"
    )
    if not intervals:
        click.echo(f"{where}: no data interval starts at or after {_local(after, pipeline.zone)}")
        return
    click.echo(f"{where}: the next {len(intervals)} data interval(s)")
    for line in interval_rows(intervals, pipeline.zone):
        click.echo(line)
    click.echo(
        "Each run covers [start, end): its logical date is the start, and it is created "
        "once the end has passed."
    )


@click.command("next")
@click.argument("pipeline_spec", metavar="PIPELINE")
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many intervals to list.",
)
@click.option(
    "--after",
    metavar="DATETIME",
    help="List intervals starting at or after this ISO date or datetime (naive: in the "
    "pipeline's time zone; default: now).",
)
@pipelines_option
@json_option
def next_command(
    pipeline_spec: str, count: int, after: str | None, pipelines_dir: Path, json_output: bool
) -> int:
    """List the next data intervals of a pipeline's schedule.

    PIPELINE is FILE[:PIPELINE], or the id of a pipeline defined under the pipelines folder.
    """
    pipeline = find_pipeline(pipeline_spec, pipelines_dir)
    moment = SystemClock().now() if after is None else _parse_after(after, pipeline.zone)
    timetable = pipeline.timetable
    intervals = [] if timetable is None else list(islice(timetable.intervals_from(moment), count))
    if json_output:
        print_json([interval_json(interval) for interval in intervals])
    else:
        _report(pipeline, intervals, moment)
    return 0
