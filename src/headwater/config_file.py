"""The optional TOML config file, read by ``headwater scheduler`` and ``headwater dev``.

``--config PATH`` or ``HEADWATER_CONFIG`` names it; otherwise ``HEADWATER_HOME/headwater.toml``
is read if it exists. Today it declares pools, applied to the store when the scheduler
starts::

    [pools]
    warehouse = 4                 # name = slots

    [pools.source_db]
    slots = 2
    description = "the orders replica: at most 2 connections"

and alerts (see docs/alerts.md)::

    [alerts.channels.oncall]
    type = "webhook"
    url = "https://hooks.example.com/headwater"
    secret = "env:HOOK_SECRET"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.alerts.config import AlertsConfig, parse_alerts
from headwater.authoring.retry import check_identifier
from headwater.errors import ConfigError, DefinitionError

CONFIG_FILE_NAME = "headwater.toml"
MAX_POOL_SLOTS = 1_000_000
_SECTIONS = ("pools", "alerts")
_POOL_KEYS = ("slots", "description")


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    """A pool as declared: its name, number of slots and description."""

    name: str
    slots: int
    description: str | None = None  # None: left as it is in the store


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigFile:
    """What a config file declares (nothing, when there is no file)."""

    path: Path | None = None
    pools: tuple[PoolConfig, ...] = ()
    alerts: AlertsConfig = field(default_factory=AlertsConfig)


def check_pool_name(name: object, where: str) -> str:
    """``name`` if it is a valid pool name, else raise ConfigError naming ``where``."""
    try:
        return check_identifier("pool name", name, where)
    except DefinitionError as exc:
        raise ConfigError(str(exc)) from None


def check_pool_slots(slots: object, where: str) -> int:
    """``slots`` if it is a whole number from 0 to MAX_POOL_SLOTS, else raise ConfigError."""
    if isinstance(slots, bool) or not isinstance(slots, int) or not 0 <= slots <= MAX_POOL_SLOTS:
        raise ConfigError(
            f"{where}: slots must be a whole number from 0 to {MAX_POOL_SLOTS} "
            f"(0 holds the pool's tasks in queued), got {slots!r}"
        )
    return slots


def load_config(path: Path | None, home: Path) -> ConfigFile:
    """Read ``path``, or ``home/headwater.toml`` if ``path`` is None and that file exists.

    Raises:
        ConfigError: ``path`` does not exist, or the file is not valid TOML or declares
            something invalid; the message names the file and the value.
    """
    if path is None:
        path = home / CONFIG_FILE_NAME
        if not path.is_file():
            return ConfigFile()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(path)!r} does not exist (given by --config or HEADWATER_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path) -> ConfigFile:
    """The declarations of a parsed config file."""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"known sections are {', '.join(f'[{name}]' for name in _SECTIONS)}"
        )
    pools = data.get("pools", {})
    if not isinstance(pools, dict):
        raise ConfigError(
            f"{path}: [pools] must be a table of 'name = slots' or [pools.NAME] tables, "
            f"got {pools!r}"
        )
    return ConfigFile(
        path=path,
        pools=tuple(_pool(name, value, path) for name, value in pools.items()),
        alerts=parse_alerts(data["alerts"], path) if "alerts" in data else AlertsConfig(),
    )


def _pool(name: str, value: object, path: Path) -> PoolConfig:
    where = f"{path}: pool {name!r}"
    check_pool_name(name, f"{path}: [pools]")
    if not isinstance(value, dict):
        return PoolConfig(name=name, slots=check_pool_slots(value, where))
    unknown = sorted(set(value) - set(_POOL_KEYS))
    if unknown or "slots" not in value:
        problem = f"unknown key(s) {', '.join(map(repr, unknown))}" if unknown else "no slots"
        raise ConfigError(
            f"{where}: {problem}; a [pools.{name}] table takes slots (required) and description"
        )
    description = value.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string, got {description!r}")
    return PoolConfig(
        name=name, slots=check_pool_slots(value["slots"], where), description=description
    )
