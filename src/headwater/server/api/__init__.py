"""The REST API under ``/api/v1``: one module per resource, errors as problem+json.

``add_api(app)`` is the one line the application factory needs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from headwater.accounts import Principal, Role
from headwater.server.api import assets, backfills, events, health, logs, pipelines, pools, runs
from headwater.server.auth import require
from headwater.server.problems import install_problem_handlers

PREFIX = "/api/v1"
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]


def api_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    for module in (health, pipelines, runs, logs, backfills, pools, assets, events):
        router.include_router(module.router)
    return router


def add_api(app: FastAPI) -> None:
    """Serve the REST API from ``app``, its errors as problem+json."""
    install_problem_handlers(app)
    app.include_router(api_router())
    app.include_router(description_router(app))
    app.state.event_hub = events.EventHub(app.state.context)


def description_router(app: FastAPI) -> APIRouter:
    """The OpenAPI document and its browsable docs, for signed-in users only (like every
    route but health): the document lists what the server can do."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/openapi.json")
    def openapi(_who: Viewer) -> dict[str, Any]:
        return app.openapi()

    @router.get("/docs")
    def docs(_who: Viewer) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{PREFIX}/openapi.json", title="headwater API")

    return router


__all__ = ["PREFIX", "add_api", "api_router"]
