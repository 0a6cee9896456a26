"""The FastAPI application: the REST API under /api/v1, the web UI, and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from headwater.server.api import add_api
from headwater.server.auth import session_key
from headwater.server.context import ServerContext
from headwater.server.metrics import metrics_router
from headwater.server.ui import install_ui
from headwater.server.ui_auth import install_ui_auth

# Things that run beside the server while it serves (re-reading the pipelines folder,
# watching scheduler heartbeats): each starts with the context and returns its stop.
BackgroundJob = Callable[[ServerContext], Callable[[], None]]


def create_app(context: ServerContext, *, background: tuple[BackgroundJob, ...] = ()) -> FastAPI:
    """The application serving ``context``; ``background`` jobs run while it serves."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stops = [job(context) for job in background]
        try:
            yield
        finally:
            for stop in reversed(stops):
                stop()

    app = FastAPI(
        title="headwater",
        version="1",
        openapi_url=None,  # served by the API for signed-in users (see add_api)
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.session_key = session_key(context.settings)
    # routers: each part of the server adds its own here
    add_api(app)
    install_ui(app)
    install_ui_auth(app)
    app.include_router(metrics_router())
    return app
