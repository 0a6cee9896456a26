"""Errors of the REST API as ``application/problem+json`` (RFC 9457).

Every error under ``/api`` is a problem document: ``{"type", "title", "status",
"detail"}``, plus ``errors`` for invalid input and ``run_id`` for a run that exists
already. Errors of other paths (the web UI's pages) keep FastAPI's own handling.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.errors import (
    AlreadyExistsError,
    ConfigError,
    HeadwaterError,
    NotFoundError,
    RunExistsError,
    TransitionRejected,
)

logger = logging.getLogger("headwater.server")

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/"


class Problem(BaseModel):
    """An error, as RFC 9457 describes it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
    run_id: str | None = None


def _problem_response(status: int, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem response; ``extra`` members (``run_id``...) are added when not None."""
    return _problem_response(status, detail, **extra)


class ApiProblem(Exception):
    """Raised by a handler to answer with a problem of ``status``."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def status_of(error: HeadwaterError) -> int:
    """The HTTP status of one of headwater's errors."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, (RunExistsError, AlreadyExistsError, TransitionRejected)):
        return 409
    if isinstance(error, ConfigError):
        return 422
    return 409


def _under_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _field(location: Any) -> str:
    return ".".join(str(part) for part in location)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error under ``/api`` with a problem document."""

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _under_api(request):
            return await http_exception_handler(request, exc)
        response = _problem_response(exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _under_api(request):
            return await request_validation_exception_handler(request, exc)
        errors = [
            {"field": _field(error.get("loc", ())), "message": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or "invalid"
        return _problem_response(422, f"invalid request: {detail}", errors=errors)

    @app.exception_handler(ApiProblem)
    async def on_problem(_request: Request, exc: ApiProblem) -> Response:
        return _problem_response(exc.status, exc.detail, **exc.extra)

    @app.exception_handler(HeadwaterError)
    async def on_headwater_error(request: Request, exc: HeadwaterError) -> Response:
        run_id = getattr(exc, "run_id", None) if isinstance(exc, RunExistsError) else None
        return _problem_response(status_of(exc), str(exc), run_id=run_id)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting the problems a route may answer."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
