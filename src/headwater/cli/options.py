"""Parsing of command-line values shared by several commands."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from headwater.errors import ConfigError
from headwater.scheduling.intervals import parse_logical_date

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


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; ``v`` is read as JSON when it is valid JSON, else kept as text."""
    params: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"malformed --param {item!r}; expected KEY=VALUE, e.g. full_refresh=true"
            )
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def parse_date(value: str | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    moment, _ = parse_logical_date(value, zone)
    return moment
