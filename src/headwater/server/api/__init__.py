"""The REST API under ``/api/v1``: one module per resource, errors as problem+json.

``add_api(app)`` is the one line the application factory needs.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from headwater.server.api import backfills, events, health, logs, pipelines, pools, runs
from headwater.server.problems import install_problem_handlers

PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for module in (health, pipelines, runs, logs, backfills, pools, events):
        router.include_router(module.router)
    return router


def add_api(app: FastAPI) -> None:
    """Serve the REST API from ``app``, its errors as problem+json."""
    install_problem_handlers(app)
    app.include_router(api_router())
    app.state.event_hub = events.EventHub(app.state.context)


__all__ = ["PREFIX", "add_api", "api_router"]
