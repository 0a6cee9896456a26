"""The web UI: server-rendered pages (Jinja2 + htmx) and three canvas views.

``install_ui(app)`` adds its pages, its data routes (``/ui/data/...``), its actions
and its static files (``/ui/static``) to the application.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from headwater.server.ui import actions, alerts, asset_actions, asset_data, assets, data, pages
from headwater.server.ui.common import STATIC_DIR


def install_ui(app: FastAPI) -> None:
    """Serve the web UI from ``app``."""
    app.include_router(pages.router)
    app.include_router(data.router)
    app.include_router(actions.router)
    app.include_router(alerts.router)
    for module in (assets, asset_data, asset_actions):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
