"""Signing in and out of the web UI, and sending a browser without a session to sign in.

- ``GET /login`` shows the form; ``POST /login`` checks the password (failures limited
  per name and client, see ``accounts.sign_in``), sets the session cookie and goes on to
  a local ``next``. The form carries a nonce also set as a cookie, and must come from
  this server's own page, so that no other site can sign a browser in (login CSRF).
- ``GET /login?token=TOKEN`` trades a valid API token for a session: the login URL that
  ``headwater dev`` prints. The token never reaches a page, and the access log shows
  ``token=[redacted]``.
- ``POST /logout`` (with the session's CSRF token) clears the cookie.
- ``install_ui_auth(app)`` adds these routes and turns a 401 on a UI page into a
  redirect to ``/login?next=...``; the API and /metrics keep their 401.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.accounts import LoginThrottled, Principal, authenticate_token, sign_in
from headwater.errors import AuthError
from headwater.server.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Unauthorized,
    check_csrf,
    context_of,
    encode_session,
    new_session,
    request_session,
    same_origin,
    session_stamp,
)
from headwater.store.sql import auth as queries
from headwater.store.sql.store import SqlStore

LOGIN_COOKIE = "headwater_login"
LOGIN_COOKIE_MAX_AGE = 3600
MAX_FORM_BYTES = 16 * 1024
MAX_NEXT_LENGTH = 2000
# The UI's paths that answer 401 as they are (machines, not people, ask for them).
API_PREFIXES = ("/api/", "/metrics", "/ui/data/")  # answered 401, never redirected
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this server, else ``/``: never another site.

    Refuses absolute URLs, protocol-relative ones (``//evil.example``), backslashes
    (which browsers read as slashes), control characters (which they drop) and the
    login and logout pages themselves.
    """
    if not value or len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return "/"
    if value.startswith("//") or "\\" in value or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in {"/login", "/logout"}:
        return "/"
    return value


def install_ui_auth(app: FastAPI) -> None:
    """Add /login and /logout to ``app``, and send browsers without a session there."""
    app.include_router(router)
    app.add_exception_handler(Unauthorized, _unauthorized)
    redact_tokens_in_access_log()


async def _unauthorized(request: Request, exc: Exception) -> Response:
    path = request.url.path
    if path.startswith(API_PREFIXES) or path == "/api":
        # the API's own handler for HTTP errors (problem+json, say), else FastAPI's
        handler: Any = request.app.exception_handlers[StarletteHTTPException]
        response: Response = await handler(request, exc)
        return response
    target = path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in {"GET", "HEAD"}:  # a form posted after the session ended
        target = "/"
    location = "/login?" + urlencode({"next": safe_next(target)})
    if request.headers.get("hx-request"):  # htmx: swap in no fragment, go to the page
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


@router.get("/login")
async def login_page(
    request: Request,
    next_path: Annotated[str, Query(alias="next")] = "/",
    token: str | None = None,
) -> Response:
    if token is not None:
        return await _login_with_token(request, token, safe_next(next_path))
    return _form(request, next=safe_next(next_path))


@router.post("/login")
async def login(request: Request) -> Response:
    length = request.headers.get("content-length", "")
    if not length.isdigit():  # a body of unknown size is never read
        return _form(request, error="send the form with a Content-Length", status=411)
    if int(length) > MAX_FORM_BYTES:
        return _form(request, error="the form is too large", status=413)
    form = await request.form()
    name, password, next_path, nonce = (
        str(form.get(field) or "") for field in ("name", "password", "next", CSRF_FIELD)
    )
    next_path = safe_next(next_path)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not same_origin(request) or not cookie or not hmac.compare_digest(cookie, nonce):
        return _form(
            request,
            name=name,
            next=next_path,
            error="this sign-in form has expired; sign in again",
            status=403,
        )
    context = context_of(request)
    client = request.client.host if request.client is not None else "unknown"
    try:
        principal = await run_in_threadpool(
            sign_in, context.store, name, password, client=client, now=context.clock.now()
        )
    except LoginThrottled as exc:
        response = _form(request, name=name, next=next_path, error=str(exc), status=429)
        response.headers["Retry-After"] = str(int(exc.retry_after.total_seconds()))
        return response
    except AuthError:
        return _form(
            request, name=name, next=next_path, error="unknown user or wrong password", status=401
        )
    return await _signed_in(request, principal, next_path)


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = request_session(request)
    if session is not None:
        await check_csrf(request, session)  # Forbidden: no one logs another out
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


async def _login_with_token(request: Request, token: str, next_path: str) -> Response:
    context = context_of(request)
    now = context.clock.now()
    try:
        principal = await run_in_threadpool(authenticate_token, context.store, token, now)
    except AuthError:
        return _form(
            request, next=next_path, error="this login link is invalid or has expired", status=401
        )
    token_id = token.removeprefix("hw_").partition("_")[0]
    return await _signed_in(request, principal, next_path, token_id=token_id)


async def _signed_in(
    request: Request, principal: Principal, next_path: str, *, token_id: str | None = None
) -> Response:
    context = context_of(request)
    key: bytes = request.app.state.session_key
    now = context.clock.now()
    stamp, expires_at = await run_in_threadpool(
        _stamp_and_end, context.store, key, principal.name, token_id
    )
    session = new_session(
        principal.name, now, stamp=stamp, token_id=token_id, expires_at=expires_at
    )
    response = RedirectResponse(next_path, status_code=303, headers=_PAGE_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        encode_session(session, key),
        max_age=max(1, int((session.expires_at - now).total_seconds())),
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="lax")
    return response


def _stamp_and_end(
    store: SqlStore, key: bytes, name: str, token_id: str | None
) -> tuple[str, datetime | None]:
    with store.engine.connect() as connection:
        user, password_hash = queries.get_user(connection, name)
        expires_at = None
        if token_id is not None:
            expires_at = queries.find_token(connection, token_id)[0].expires_at
    return session_stamp(key, user, password_hash), expires_at


def _form(
    request: Request, *, name: str = "", next: str = "/", error: str = "", status: int = 200
) -> HTMLResponse:
    """The sign-in page, with the same nonce in its form and in the login cookie (the
    browser's nonce is kept, so that two open sign-in tabs both work)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not _NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(24)
    html = _templates.get_template("login.html").render(
        name=name, next=next, error=error, csrf_field=CSRF_FIELD, csrf_token=nonce
    )
    response = HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_COOKIE_MAX_AGE,
        path="/login",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


def _secure(request: Request) -> bool:
    """Whether cookies get ``Secure``: the request came over https, or the server's
    public address is https (TLS ended at a proxy that did not say so)."""
    return request.url.scheme == "https" or context_of(request).base_url.startswith("https:")


_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")
_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s\"]*")


class RedactTokens(logging.Filter):
    """Replaces ``token=...`` in access-log lines by ``token=[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


def redact_tokens_in_access_log() -> None:
    """Keep login-URL tokens out of uvicorn's access log (installed once per process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactTokens) for existing in access.filters):
        access.addFilter(RedactTokens())
