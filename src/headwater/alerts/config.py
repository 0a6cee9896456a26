"""The ``[alerts]`` section of headwater.toml: channels, rules and delivery settings.

Secrets are referenced, not written: ``"env:VAR"`` reads an environment variable and
``"file:PATH"`` a file, when the value is used (so a rotated secret needs no restart).
No secret is ever put in a message, a log line or an error: errors name the channel and
the key, never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError

CHANNEL_TYPES = ("slack", "email", "pagerduty", "webhook")
EVENTS = (
    "run_failed",
    "task_failed",
    "run_recovered",
    "deadline_missed",
    "stale",
    "scheduler_down",
    "task_retry",
    "run_succeeded",
)
# what a channel named in @pipeline(alerts=[...]) hears of that pipeline
PIPELINE_EVENTS = ("run_failed", "deadline_missed", "stale")
RULE_DEFAULT_EVENTS = ("run_failed",)
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_BASE_URL = "http://127.0.0.1:8787"

_COMMON_KEYS = ("type", "rate_limit", "timeout")
_REQUIRED = {
    "slack": ("webhook_url",),
    "email": ("host", "from", "to"),
    "pagerduty": ("routing_key",),
    "webhook": ("url",),
}
_OPTIONAL = {
    "slack": (),
    "email": ("port", "username", "password", "starttls", "ssl", "ca_file"),
    "pagerduty": ("url",),
    "webhook": ("secret",),
}
SECRET_KEYS = {
    "slack": ("webhook_url",),
    "email": ("password",),
    "pagerduty": ("routing_key",),
    "webhook": ("secret",),
}
_DEFAULT_RATE = {"slack": 1.0}  # messages per second; Slack's incoming webhooks allow 1/s
_SETTINGS = (
    "channels",
    "rules",
    "scheduler_down_after",
    "send_delay",
    "max_age",
    "retry_delay",
    "base_url",
)
_RULE_KEYS = ("pipelines", "events", "channels")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConfig:
    """A channel as declared; ``options`` may hold ``env:``/``file:`` references."""

    name: str
    type: str
    options: Mapping[str, Any]
    rate_limit: float  # messages per second, per sending process
    timeout: float  # seconds a delivery may take
    source: str = "headwater.toml"  # where it was declared, for messages

    def value(self, key: str, default: Any = None) -> Any:
        """Option ``key`` with its secret reference resolved (ConfigError if unresolvable)."""
        raw = self.options.get(key, default)
        if not isinstance(raw, str):
            return raw
        return resolve_reference(raw, self.name, key, self.source)

    def secrets(self) -> list[str]:
        """The resolvable secret values of this channel, to scrub from any text."""
        found = []
        for key in SECRET_KEYS[self.type]:
            try:
                value = self.value(key)
            except ConfigError:
                continue
            if isinstance(value, str) and len(value) >= 4:
                found.append(value)
        return found

    def describe(self) -> dict[str, Any]:
        """What may be shown of the channel: its type and options, secrets masked."""
        shown: dict[str, Any] = {"name": self.name, "type": self.type}
        for key, raw in sorted(self.options.items()):
            if key in SECRET_KEYS[self.type]:
                shown[key] = _masked(raw)
            elif key == "url" and isinstance(raw, str) and not raw.startswith(("env:", "file:")):
                shown[key] = _origin(raw)
            else:
                shown[key] = raw
        return shown


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleConfig:
    """Which events of which pipelines go to which channels."""

    pipelines: tuple[str, ...]  # ids, or "*" for every pipeline
    events: tuple[str, ...]
    channels: tuple[str, ...]

    def matches(self, event: str, pipeline_id: str | None) -> bool:
        if event not in self.events:
            return False
        return pipeline_id is None or "*" in self.pipelines or pipeline_id in self.pipelines


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """The alert settings of a config file (nothing declared: no channel, no rule)."""

    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    rules: tuple[RuleConfig, ...] = ()
    scheduler_down_after: timedelta = timedelta(minutes=2)
    send_delay: timedelta = timedelta(0)  # before a process's first delivery round
    max_age: timedelta = timedelta(hours=24)  # past it an undelivered alert is dead
    retry_delay: timedelta = timedelta(seconds=1)  # the first retry's delay (doubles)
    base_url: str | None = None  # HEADWATER_BASE_URL wins over it

    def channels_for(
        self, event: str, pipeline_id: str | None, pipeline_alerts: tuple[str, ...] = ()
    ) -> set[str]:
        """The declared channels ``event`` of ``pipeline_id`` goes to."""
        names = {
            name
            for rule in self.rules
            if rule.matches(event, pipeline_id)
            for name in rule.channels
        }
        if pipeline_id is not None and event in PIPELINE_EVENTS:
            names.update(pipeline_alerts)
        return {name for name in names if name in self.channels}

    def asset_channels_for(self, event: str, asset_alerts: tuple[str, ...] = ()) -> set[str]:
        """The declared channels an asset's ``event`` goes to: those of the rules for
        every pipeline (``pipelines = ["*"]``) and those of ``@asset(alerts=[...])``."""
        names = {
            name
            for rule in self.rules
            if event in rule.events and "*" in rule.pipelines
            for name in rule.channels
        }
        if event in PIPELINE_EVENTS:
            names.update(asset_alerts)
        return {name for name in names if name in self.channels}

    def link_base(self) -> str:
        """Where the UI is, for links in messages."""
        base = os.environ.get("HEADWATER_BASE_URL") or self.base_url or DEFAULT_BASE_URL
        return base.rstrip("/")

    def channel(self, name: str) -> ChannelConfig:
        """Channel ``name``; ConfigError naming the declared ones if there is none."""
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels)) or "none"
            raise ConfigError(
                f"no alert channel {name!r}; declared channels: {known} "
                "(declare one under [alerts.channels.NAME] in headwater.toml)"
            ) from None


def resolve_reference(raw: str, channel: str, key: str, source: str) -> str:
    """``raw`` with an ``env:``/``file:`` reference replaced by what it names."""
    where = f"alert channel {channel!r}, key {key!r} (in {source})"
    if raw.startswith("env:"):
        variable = raw[4:]
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(
                f"{where} reads environment variable {variable!r}, which is not set; "
                "set it for this process or change the key"
            )
        return value
    if raw.startswith("file:"):
        path = Path(raw[5:]).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{where} reads file {str(path)!r}, which cannot be read ({exc.strerror}); "
                "create it or change the key"
            ) from None
    return raw


def _masked(raw: object) -> str:
    if isinstance(raw, str) and raw.startswith(("env:", "file:")):
        return raw  # the reference, not the secret
    return "***"


def _origin(url: str) -> str:
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@]*@?[^/?#]*)", url)
    origin = match.group(1) if match else "***"
    if "@" in origin:  # credentials in the URL
        scheme, _, rest = origin.partition("://")
        origin = f"{scheme}://***@{rest.rsplit('@', 1)[-1]}"
    return origin + "/…" if origin != url else origin


def parse_duration(value: object, where: str) -> timedelta:
    """``"2m"``, ``"30s"``, ``"1.5h"``, ``"1d"`` or a number of seconds, as a timedelta."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(
            f"{where} must be a duration such as '30s', '2m', '1h' or '1d' "
            f"(or a number of seconds), got {value!r}"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_alerts(data: object, path: Path) -> AlertsConfig:
    """The ``[alerts]`` table of config file ``path``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [alerts] must be a table, got {data!r}")
    unknown = sorted(set(data) - set(_SETTINGS))
    if unknown:
        raise ConfigError(
            f"{path}: [alerts] has unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"known settings are {', '.join(_SETTINGS)}"
        )
    channels_data = data.get("channels", {})
    if not isinstance(channels_data, dict):
        raise ConfigError(f"{path}: [alerts.channels] must be a table of [alerts.channels.NAME]")
    channels = {name: _channel(name, value, path) for name, value in channels_data.items()}
    rules_data = data.get("rules", [])
    if not isinstance(rules_data, list):
        raise ConfigError(
            f"{path}: alerts rules must be [[alerts.rules]] tables, got {rules_data!r}"
        )
    rules = tuple(
        _rule(number, value, channels, path) for number, value in enumerate(rules_data, 1)
    )
    base_url = data.get("base_url")
    if base_url is not None and not (
        isinstance(base_url, str) and base_url.startswith(("http://", "https://"))
    ):
        raise ConfigError(f"{path}: [alerts] base_url must be an http(s) URL, got {base_url!r}")
    settings = {
        key: parse_duration(data[key], f"{path}: [alerts] {key}")
        for key in ("scheduler_down_after", "send_delay", "max_age", "retry_delay")
        if key in data
    }
    return AlertsConfig(channels=channels, rules=rules, base_url=base_url, **settings)


def _channel(name: str, value: object, path: Path) -> ChannelConfig:
    where = f"{path}: alert channel {name!r}"
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", name):
        raise ConfigError(f"{where}: invalid name; use letters, digits, '_', '.' or '-'")
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table [alerts.channels.{name}] with a type")
    kind = value.get("type")
    if kind not in CHANNEL_TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
    known = _COMMON_KEYS + _REQUIRED[kind] + _OPTIONAL[kind]
    unknown = sorted(set(value) - set(known))
    missing = [key for key in _REQUIRED[kind] if key not in value]
    if unknown or missing:
        problem = (
            f"unknown key(s) {', '.join(map(repr, unknown))}"
            if unknown
            else f"missing key(s) {', '.join(map(repr, missing))}"
        )
        raise ConfigError(
            f"{where}: {problem}; a {kind} channel takes {', '.join(_REQUIRED[kind])} "
            f"(required) and {', '.join(_OPTIONAL[kind] + _COMMON_KEYS[1:])}"
        )
    for key in SECRET_KEYS[kind]:
        if key in value and not isinstance(value[key], str):
            raise ConfigError(f"{where}: {key} must be a string (or 'env:VAR' / 'file:PATH')")
    rate = value.get("rate_limit", _DEFAULT_RATE.get(kind, 10.0))
    timeout = value.get("timeout", 10.0)
    for key, number in (("rate_limit", rate), ("timeout", timeout)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
            raise ConfigError(f"{where}: {key} must be a positive number, got {number!r}")
    options = {key: item for key, item in value.items() if key not in _COMMON_KEYS}
    return ChannelConfig(
        name=name,
        type=kind,
        options=options,
        rate_limit=float(rate),
        timeout=float(timeout),
        source=str(path),
    )


def _rule(
    number: int, value: object, channels: Mapping[str, ChannelConfig], path: Path
) -> RuleConfig:
    where = f"{path}: [[alerts.rules]] number {number}"
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table with pipelines, events and channels")
    unknown = sorted(set(value) - set(_RULE_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"a rule takes {', '.join(_RULE_KEYS)}"
        )
    lists = {}
    for key, default in (
        ("pipelines", ["*"]),
        ("events", list(RULE_DEFAULT_EVENTS)),
        ("channels", None),
    ):
        items = value.get(key, default)
        if (
            items is None
            or not isinstance(items, list)
            or not all(isinstance(i, str) for i in items)
            or not items
        ):
            raise ConfigError(f"{where}: {key} must be a non-empty list of names, got {items!r}")
        lists[key] = tuple(items)
    bad_events = [event for event in lists["events"] if event not in EVENTS]
    if bad_events:
        raise ConfigError(
            f"{where}: unknown event(s) {', '.join(map(repr, bad_events))}; "
            f"events are {', '.join(EVENTS)}"
        )
    bad_channels = [name for name in lists["channels"] if name not in channels]
    if bad_channels:
        raise ConfigError(
            f"{where}: unknown channel(s) {', '.join(map(repr, bad_channels))}; "
            "declare them under [alerts.channels.NAME]"
        )
    return RuleConfig(
        pipelines=lists["pipelines"], events=lists["events"], channels=lists["channels"]
    )
