"""The alert sender and watchers as a background job of ``headwater server``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from headwater.alerts.config import AlertsConfig
from headwater.alerts.service import AlertService
from headwater.config_file import load_config
from headwater.server.context import ServerContext


def start_alerting(
    context: ServerContext, config: AlertsConfig | None = None
) -> Callable[[], None]:
    """Start delivering alerts and watching deadlines, freshness and heartbeats.

    A ``BackgroundJob`` for ``create_app``: returns the function that stops it. The
    alerts config is read from ``HEADWATER_CONFIG`` or ``HEADWATER_HOME/headwater.toml``
    unless given.
    """
    config = server_alerts_config(context) if config is None else _linked(context, config)
    service = AlertService(
        context.store,
        config,
        lambda: {} if context.registry is None else context.registry.pipelines,
        owner=f"server-{os.getpid()}",
        clock=context.clock,
    )
    service.start()
    return service.stop


def server_alerts_config(context: ServerContext) -> AlertsConfig:
    """The ``[alerts]`` section the server uses: from ``HEADWATER_CONFIG`` or
    ``HEADWATER_HOME/headwater.toml``, linking to this server unless a base URL is set.

    Raises:
        ConfigError: the file cannot be read or declares something invalid.
    """
    path = os.environ.get("HEADWATER_CONFIG")
    config = load_config(Path(path) if path else None, context.settings.home).alerts
    return _linked(context, config)


def _linked(context: ServerContext, config: AlertsConfig) -> AlertsConfig:
    if config.base_url is None and "HEADWATER_BASE_URL" not in os.environ:
        return replace(config, base_url=context.base_url)
    return config
