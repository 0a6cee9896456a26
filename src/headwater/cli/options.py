"""Parsing of command-line values shared by several commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from headwater.authoring.params import convert_params
from headwater.authoring.pipeline import Pipeline
from headwater.errors import ConfigError
from headwater.schedules.intervals import parse_logical_date

pipelines_option = click.option(
    "--pipelines",
    "pipelines_dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="HEADWATER_PIPELINES",
    default="pipelines",
    show_default=True,
    show_envvar=True,
    help="The folder searched for a pipeline named by its id.",
)


def parse_params(values: list[str] | None, pipeline: Pipeline) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, checked against the pipeline's declared params and typed.

    Raises:
        ConfigError: a malformed pair, an undeclared param, or a value that does not fit
            its param's type (see ``headwater.authoring.params``).
    """
    given: dict[str, str] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"malformed --param {item!r}; expected KEY=VALUE, e.g. full_refresh=true"
            )
        given[key] = raw
    return convert_params(pipeline.pipeline_id, pipeline.params, given)


def parse_date(value: str | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    moment, _ = parse_logical_date(value, zone)
    return moment
