"""Who is asking: bearer tokens for the API, signed session cookies for the UI.

``require(Role.X)`` is the FastAPI dependency every protected route takes. A request
with ``Authorization: Bearer TOKEN`` is the token's user; otherwise the session cookie
(HttpOnly, SameSite=Lax, signed with a key derived from the secret key) names the user,
whose role is read from the store on every request, so a disabled user or a changed role
takes effect at once; a new password ends the user's sessions, and a session opened with
a token (the ``headwater dev`` login URL) ends when that token is revoked or expires.
A state-changing request made with a session must also carry the session's CSRF token
(header ``X-CSRF-Token`` or form field ``csrf_token``) and come from a page of this
server (``Origin``, or ``Sec-Fetch-Site`` without it). 401 without valid credentials,
403 when the role is too low or the CSRF check fails.
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
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from headwater.accounts import Principal, Role, authenticate_token
from headwater.accounts import require_users_for_host as require_users_for_host
from headwater.config import Settings, key_from_file
from headwater.errors import AuthError, NotFoundError
from headwater.server.context import ServerContext
from headwater.store.records import UserRecord
from headwater.store.sql import auth as queries
from headwater.store.sql.store import SqlStore

SESSION_COOKIE = "headwater_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_COOKIE_LENGTH = 4096


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
    """What the session cookie says: who, until when, and the CSRF token of its forms.

    Attributes:
        stamp: a digest of the user's creation time and password hash when the session
            began: a new password (or a user deleted and made again) ends the session.
        token_id: the token the session was opened with, if any; it ends with the token.
    """

    user: str
    expires_at: datetime
    csrf: str
    stamp: str
    token_id: str | None = None


def session_key(settings: Settings) -> bytes:
    """The key signing session cookies, derived from the secret key (not the key itself)."""
    root = (
        settings.secret_key.encode()
        if settings.secret_key is not None
        else key_from_file(settings.secret_key_file)
    )
    return hmac.new(root, b"headwater session cookie", hashlib.sha256).digest()


def session_stamp(key: bytes, user: UserRecord, password_hash: str | None) -> str:
    material = f"{user.name}\0{user.created_at.timestamp()}\0{password_hash or ''}"
    return _sign(material, key)[:22]


def new_session(
    user: str,
    now: datetime,
    *,
    stamp: str,
    token_id: str | None = None,
    expires_at: datetime | None = None,
) -> Session:
    """A session of ``user`` from ``now``, ending after SESSION_LIFETIME or at ``expires_at``."""
    end = now + SESSION_LIFETIME
    return Session(
        user=user,
        expires_at=end if expires_at is None else min(end, expires_at),
        csrf=secrets.token_urlsafe(24),
        stamp=stamp,
        token_id=token_id,
    )


def encode_session(session: Session, key: bytes) -> str:
    data: dict[str, object] = {
        "u": session.user,
        "e": int(session.expires_at.timestamp()),
        "c": session.csrf,
        "s": session.stamp,
    }
    if session.token_id is not None:
        data["t"] = session.token_id
    payload = json.dumps(data, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(body, key)}"


def decode_session(cookie: str, key: bytes, now: datetime) -> Session | None:
    """The session in ``cookie`` if its signature is good and it has not expired."""
    body, _, signature = cookie.partition(".")
    if len(cookie) > MAX_COOKIE_LENGTH or not hmac.compare_digest(
        signature.encode(), _sign(body, key).encode()
    ):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        token_id = data.get("t")
        session = Session(
            user=str(data["u"]),
            expires_at=datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo),
            csrf=str(data["c"]),
            stamp=str(data["s"]),
            token_id=None if token_id is None else str(token_id),
        )
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, OSError):
        return None
    return session if session.expires_at > now else None


def _sign(body: str, key: bytes) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def context_of(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.context
    return context


def request_session(request: Request) -> Session | None:
    """The request's session if its cookie is signed by us and unexpired (cached on the
    request). Pages read ``request_session(request).csrf`` for their forms' ``csrf_token``.

    Whether its user may still sign in is checked by ``require``, not here.
    """
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


def session_user(store: SqlStore, session: Session, key: bytes, now: datetime) -> UserRecord | None:
    """The session's user if they may still use it: enabled, with the same password, and
    (for a session opened with a token) holding a token that is neither revoked nor expired.
    """
    with store.engine.connect() as connection:
        try:
            user, password_hash = queries.get_user(connection, session.user)
            if session.token_id is not None:
                token, _, _ = queries.find_token(connection, session.token_id)
                if (
                    token.user_name != user.name
                    or token.revoked_at is not None
                    or (token.expires_at is not None and token.expires_at <= now)
                ):
                    return None
        except NotFoundError:
            return None
    if user.disabled or not hmac.compare_digest(
        session.stamp.encode(), session_stamp(key, user, password_hash).encode()
    ):
        return None
    return user


async def authenticate(request: Request) -> Principal | None:
    """The request's principal, or None without credentials.

    The store is read on a worker thread, never on the event loop: a slow database must
    not stall every other request. Raises Unauthorized for a bad token and Forbidden for
    a failed CSRF check.
    """
    context = context_of(request)
    now = context.clock.now()
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must read: Bearer TOKEN")
        try:
            return await run_in_threadpool(authenticate_token, context.store, token.strip(), now)
        except AuthError:
            raise Unauthorized("invalid, expired or revoked token") from None
    session = request_session(request)
    if session is None:
        return None
    key: bytes = request.app.state.session_key
    user = await run_in_threadpool(session_user, context.store, session, key, now)
    if user is None:
        return None
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session)
    return Principal(name=user.name, role=Role(user.role), via="session")


def same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from a page of this server.

    ``Origin`` must be this server (as the request addressed it, or as
    ``HEADWATER_BASE_URL`` names it); without ``Origin``, ``Sec-Fetch-Site`` must not say
    cross-site. A client that sends neither (curl, an old browser) passes: the CSRF token
    is what protects the request then.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site", "same-origin") in {
            "same-origin",
            "none",
        }
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    configured = urlsplit(context_of(request).base_url)
    allowed = {own, f"{configured.scheme}://{configured.netloc}".lower()}
    return origin.rstrip("/").lower() in allowed


async def check_csrf(request: Request, session: Session) -> None:
    """Refuse a state-changing request made with a session but without its CSRF token."""
    if not same_origin(request):
        origin = request.headers.get("origin", "another site")
        raise Forbidden(f"cross-site request from {origin!r} refused")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting requests whose principal has at least ``role``."""

    async def dependency(request: Request) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            principal = await authenticate(request)
        if principal is None:
            raise Unauthorized()
        request.state.principal = principal
        if not principal.role.allows(role):
            raise Forbidden(
                f"{principal.name} is {principal.role.value}; this needs {role.value} or above"
            )
        return principal

    return dependency
