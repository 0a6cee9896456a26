"""Who is asking: bearer tokens for the API, signed session cookies for the UI.

``require(Role.X)`` is the FastAPI dependency every protected route takes. A request
with ``Authorization: Bearer TOKEN`` is the token's user; otherwise the session cookie
(HttpOnly, SameSite=Lax, signed with a key derived from the secret key) names the user,
whose role is read from the store on every request, so a disabled user or a changed role
takes effect at once. A state-changing request made with a session must also carry the
session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``) and, when
the browser sends one, an ``Origin`` of this server. 401 without valid credentials, 403
when the role is too low or the CSRF check fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import HTTPException, Request

from headwater.accounts import Principal, Role, authenticate_token
from headwater.config import Settings, key_from_file
from headwater.errors import AuthError, NotFoundError
from headwater.server.context import ServerContext
from headwater.store.sql import auth as queries

SESSION_COOKIE = "headwater_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthorized(HTTPException):
    """No valid credentials: 401."""

    def __init__(self, detail: str = "sign in, or send Authorization: Bearer TOKEN") -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HTTPException):
    """Valid credentials, but not allowed: 403."""

    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """What the session cookie says: who, until when, and the CSRF token of its forms."""

    user: str
    expires_at: datetime
    csrf: str


def session_key(settings: Settings) -> bytes:
    """The key signing session cookies, derived from the secret key (not the key itself)."""
    root = (
        settings.secret_key.encode()
        if settings.secret_key is not None
        else key_from_file(settings.secret_key_file)
    )
    return hmac.new(root, b"headwater session cookie", hashlib.sha256).digest()


def new_session(user: str, now: datetime) -> Session:
    return Session(user=user, expires_at=now + SESSION_LIFETIME, csrf=secrets.token_urlsafe(24))


def encode_session(session: Session, key: bytes) -> str:
    payload = json.dumps(
        {"u": session.user, "e": int(session.expires_at.timestamp()), "c": session.csrf},
        separators=(",", ":"),
    ).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(body, key)}"


def decode_session(cookie: str, key: bytes, now: datetime) -> Session | None:
    """The session in ``cookie`` if its signature is good and it has not expired."""
    body, _, signature = cookie.partition(".")
    if len(cookie) > 4096 or not hmac.compare_digest(signature, _sign(body, key)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        session = Session(
            user=str(data["u"]),
            expires_at=datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo),
            csrf=str(data["c"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires_at > now else None


def _sign(body: str, key: bytes) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


def request_session(request: Request) -> Session | None:
    """The request's valid session, if it has one (cached on the request)."""
    if "headwater_session" in request.scope:
        cached: Session | None = request.scope["headwater_session"]
        return cached
    cookie = request.cookies.get(SESSION_COOKIE)
    session = None
    if cookie:
        context = context_of(request)
        key: bytes = request.app.state.session_key
        session = decode_session(cookie, key, context.clock.now())
    request.scope["headwater_session"] = session
    return session


async def authenticate(request: Request) -> Principal | None:
    """The request's principal, or None without credentials.

    Raises Unauthorized for a bad token and Forbidden for a failed CSRF check.
    """
    context = context_of(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must read: Bearer TOKEN")
        try:
            return authenticate_token(context.store, token.strip(), context.clock.now())
        except AuthError:
            raise Unauthorized("invalid, expired or revoked token") from None
    session = request_session(request)
    if session is None:
        return None
    try:
        with context.store.engine.connect() as connection:
            user, _ = queries.get_user(connection, session.user)
    except NotFoundError:
        return None
    if user.disabled:
        return None
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session)
    return Principal(name=user.name, role=Role(user.role), via="session")


async def check_csrf(request: Request, session: Session) -> None:
    """Refuse a state-changing request made with a session but without its CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise Forbidden(f"cross-site request from {origin!r} refused")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent, session.csrf):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting requests whose principal has at least ``role``."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal is None:
            raise Unauthorized()
        if not principal.role.allows(role):
            raise Forbidden(
                f"{principal.name} is {principal.role.value}; this needs {role.value} or above"
            )
        request.state.principal = principal
        return principal

    return dependency
