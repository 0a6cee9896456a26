"""Parsing of command-line values shared by several commands."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from headwater.errors import ConfigError
from headwater.scheduling.intervals import parse_logical_date


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
