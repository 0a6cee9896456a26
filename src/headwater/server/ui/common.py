"""What every page of the web UI shares: templates, who is asking, and small formatters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from headwater.accounts import Principal, Role
from headwater.errors import NotFoundError
from headwater.server.auth import context_of, request_session, require
from headwater.server.context import ServerContext

T = TypeVar("T")

SERVER_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = SERVER_DIR / "templates"
STATIC_DIR = SERVER_DIR / "static"

STATE_NAMES = (
    "success",
    "failed",
    "running",
    "queued",
    "upstream_failed",
    "skipped",
    "up_for_retry",
    "up_for_reschedule",
    "none",
)


def when(moment: datetime | None, zone: str | None = None) -> str:
    """``2026-01-05 02:00`` in UTC (or ``zone``), ``-`` for None."""
    if moment is None:
        return "-"
    shown = moment.astimezone(ZoneInfo(zone) if zone else UTC)
    return shown.strftime("%Y-%m-%d %H:%M") + ("" if zone else "Z")


def seconds(value: float | None) -> str:
    """A duration as people read it: ``0.42s``, ``3m 05s``, ``2h 01m``."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return seconds((end - start).total_seconds())


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["when"] = when
templates.env.filters["seconds"] = seconds
templates.env.globals["duration"] = duration
templates.env.globals["STATE_NAMES"] = STATE_NAMES


# Without a session a page sends the browser to /login and a /ui/data route answers 401:
# server/ui_auth.py decides by the path, so one dependency per role serves both.
viewer = require(Role.VIEWER)
operator = require(Role.OPERATOR)


def render(
    request: Request, name: str, principal: Principal, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """A page (or fragment) with who is asking, what they may do, and the CSRF token."""
    session = request_session(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "can_operate": principal.role.allows(Role.OPERATOR),
            "csrf": session.csrf if session is not None else "",
            **values,
        },
        status_code=status_code,
    )


def done(request: Request, location: str) -> Response:
    """After an action: htmx follows ``HX-Redirect``; a plain form gets a 303."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


class NotFound(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(404, detail)


def found(read: Callable[[], T]) -> T:
    """``read()``, with the store's NotFoundError as a 404 naming what is missing."""
    try:
        return read()
    except NotFoundError as exc:
        raise NotFound(str(exc)) from None


def context(request: Request) -> ServerContext:
    return context_of(request)
