"""The alerts page: the declared channels (never a secret), where events go, a test
message per channel for admins, and the recent deliveries with their outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from headwater.accounts import Principal, Role
from headwater.alerts.api import recent_deliveries, send_test
from headwater.alerts.channels import DeliveryFailed
from headwater.alerts.config import PIPELINE_EVENTS, SECRET_KEYS, AlertsConfig, ChannelConfig
from headwater.authoring.pipeline import Pipeline
from headwater.errors import ConfigError
from headwater.server.alerting import server_alerts_config
from headwater.server.auth import require
from headwater.server.ui.common import context, render, viewer

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(viewer)]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
DELIVERIES_SHOWN = 50


def destination(channel: ChannelConfig) -> list[tuple[str, str]]:
    """What may be shown of where a channel sends: its options as ``describe()`` masks
    them (secret keys as their ``env:``/``file:`` reference or ``***``, a URL as its
    origin only), without the keys that are secrets even when masked."""
    described = channel.describe()
    return [
        (key, str(value))
        for key, value in described.items()
        if key not in ("name", "type") and key not in SECRET_KEYS[channel.type]
    ]


def routes(config: AlertsConfig, name: str, definitions: Mapping[str, Pipeline]) -> list[str]:
    """Which events of which pipelines go to channel ``name``, one line per source."""
    lines = []
    for rule in config.rules:
        if name in rule.channels:
            which = "every pipeline" if "*" in rule.pipelines else ", ".join(rule.pipelines)
            lines.append(f"{', '.join(rule.events)} of {which} (rule)")
    declared = sorted(p for p, d in definitions.items() if name in getattr(d, "alerts", ()))
    if declared:
        lines.append(
            f"{', '.join(PIPELINE_EVENTS)} of {', '.join(declared)} (@pipeline(alerts=...))"
        )
    return lines


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, principal: Viewer) -> HTMLResponse:
    ctx = context(request)
    channels: list[dict[str, Any]] = []
    error = None
    try:
        config = server_alerts_config(ctx)
    except ConfigError as exc:
        config, error = AlertsConfig(), str(exc)
    definitions = {} if ctx.registry is None else ctx.registry.pipelines
    for name, channel in sorted(config.channels.items()):
        channels.append(
            {
                "name": name,
                "type": channel.type,
                "destination": destination(channel),
                "routes": routes(config, name, definitions),
            }
        )
    return render(
        request,
        "alerts.html",
        principal,
        channels=channels,
        config_error=error,
        deliveries=recent_deliveries(ctx.store, DELIVERIES_SHOWN),
        can_admin=principal.role.allows(Role.ADMIN),
    )


@router.post("/ui/alerts/channels/{name}/test", response_class=HTMLResponse)
def test_channel(request: Request, name: str, principal: Admin) -> HTMLResponse:
    """Send a test message to channel ``name`` now; the outcome as a fragment."""
    ctx = context(request)
    try:
        config = server_alerts_config(ctx)
        channel = config.channel(name)
        send_test(channel, config, ctx.clock.now())
    except (ConfigError, DeliveryFailed) as exc:
        return render(request, "_test_outcome.html", principal, delivered=False, error=str(exc))
    return render(request, "_test_outcome.html", principal, delivered=True, channel=channel)
