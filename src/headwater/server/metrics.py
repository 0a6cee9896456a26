"""``GET /metrics``: the store's gauges (and, beside a scheduler, its counters) for Prometheus.

Open by default, as metrics endpoints usually are (they show names and counts, no
secret, no run id); with ``HEADWATER_METRICS_AUTH=1`` a scrape needs a viewer's
credentials (``Authorization: Bearer TOKEN``; Prometheus's ``authorization`` setting).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import APIRouter, Depends, Request, Response

from headwater.accounts import Role
from headwater.errors import ConfigError
from headwater.metrics.exposition import CONTENT_TYPE_LATEST, metrics_registry, render
from headwater.metrics.instruments import EngineMetrics
from headwater.server.auth import context_of, require

AUTH_VARIABLE = "HEADWATER_METRICS_AUTH"
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"", "0", "false", "no", "off"})


def metrics_auth_required(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``HEADWATER_METRICS_AUTH`` asks for credentials on ``/metrics``."""
    raw = (os.environ if environ is None else environ).get(AUTH_VARIABLE, "")
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"{AUTH_VARIABLE} must be 1 or 0 (true or false), got {raw!r}")
    return value in _TRUE


def metrics_router(*, auth: bool | None = None) -> APIRouter:
    """The ``/metrics`` route; ``auth`` None: as ``HEADWATER_METRICS_AUTH`` says.

    When the server runs in the same process as a scheduler (``headwater dev``), set
    ``app.state.engine_metrics`` to the scheduler's ``EngineMetrics`` and its counters
    are served here too.
    """
    required = metrics_auth_required() if auth is None else auth
    router = APIRouter(dependencies=[Depends(require(Role.VIEWER))] if required else [])

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        # a plain def: FastAPI runs it on a worker thread, so the store's queries do
        # not hold up the event loop
        context = context_of(request)
        engine: EngineMetrics | None = getattr(request.app.state, "engine_metrics", None)
        registry = metrics_registry(store=context.store, clock=context.clock, engine=engine)
        return Response(render(registry), media_type=CONTENT_TYPE_LATEST)

    return router
