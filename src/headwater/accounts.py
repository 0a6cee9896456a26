"""Users, roles, passwords and API tokens: who may see and do what.

Passwords are kept as scrypt hashes; tokens as SHA-256 hashes of their secret part (a
token carries 256 random bits, so a slow hash adds nothing). A token reads
``hw_<token_id>_<secret>``: the id finds its row, the secret proves it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from headwater.errors import AlreadyExistsError, AuthError, ConfigError, NotFoundError
from headwater.store.records import TokenRecord, UserRecord
from headwater.store.sql import auth as queries
from headwater.store.sql.store import SqlStore

TOKEN_PREFIX = "hw_"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 500
MAX_TOKEN_LIFETIME = timedelta(days=3650)
# Failed sign-ins: at most this many per user name and client, and per client over all
# names, in a window; the counts live in the store so every server behind a load balancer
# sees them (a count in memory would let an attacker spread guesses over the servers).
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER_AND_CLIENT = 5
MAX_FAILURES_PER_CLIENT = 50
# scrypt at n=2**14, r=8: ~16 MiB and ~50 ms per check, the interactive-login setting
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# Checked against when there is no hash to check (an unknown or token-only user), so
# that such a refusal costs what a wrong password does. A constant, not made at first
# use: the first refusal would otherwise cost twice as much as the later ones.
_STAND_IN_HASH = (
    "scrypt$16384$8$1$mC+cF3v7tihApSS75djxdw==$H4EX+1BPSr9wV3ankRsNyGED49DG1qaD4Y9vmSY3R38="
)
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


class Role(StrEnum):
    """What a user may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"  # reads
    OPERATOR = "operator"  # also triggers, retries, clears, cancels, pauses, backfills
    ADMIN = "admin"  # also manages pools, users, tokens and alert channels

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class LoginThrottled(AuthError):
    """Too many failed sign-ins from this client (for this name): try again later."""

    def __init__(self, retry_after: timedelta) -> None:
        minutes = max(1, round(retry_after.total_seconds() / 60))
        super().__init__(f"too many failed sign-ins; try again in {minutes} minute(s)")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who made a request: a user with a role, signed in by a token or a session."""

    name: str
    role: Role
    via: str  # "token" or "session"


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ConfigError(
            f"unknown role {value!r}; choose one of {', '.join(role.value for role in Role)}"
        ) from None


def check_user_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable() or name != name.strip():
        raise ConfigError(
            f"user name {name!r} must be 1 to {MAX_NAME_LENGTH} printable characters without "
            "surrounding spaces"
        )
    return name


def hash_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ConfigError(
            f"a password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, "
            f"got {len(password)}"
        )
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches the ``stored`` hash (False for no or a bad hash)."""
    if stored is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(
    store: SqlStore, name: str, role: Role, password: str | None, now: datetime
) -> UserRecord:
    """Add a user; with ``password`` None they sign in with tokens only.

    Raises:
        ConfigError: a bad name or password.
        AlreadyExistsError: the name is taken.
    """
    check_user_name(name)
    password_hash = None if password is None else hash_password(password)
    with store.engine.begin() as connection:
        return queries.create_user(connection, name, role.value, password_hash, now)


def get_user(store: SqlStore, name: str) -> UserRecord:
    """The user ``name``. Raises NotFoundError."""
    with store.engine.connect() as connection:
        return queries.get_user(connection, name)[0]


def set_role(store: SqlStore, name: str, role: Role) -> None:
    """Give ``name`` another role; it applies to their next request. Raises NotFoundError."""
    with store.engine.begin() as connection:
        queries.update_user(connection, name, role=role.value)


def set_disabled(store: SqlStore, name: str, disabled: bool) -> None:
    """Disable (or enable again) ``name``: their tokens and sessions stop working at once.

    Raises NotFoundError.
    """
    with store.engine.begin() as connection:
        queries.update_user(connection, name, disabled=disabled)


def set_password(store: SqlStore, name: str, password: str) -> None:
    """Replace ``name``'s password; their sessions end. Raises ConfigError, NotFoundError."""
    password_hash = hash_password(password)
    with store.engine.begin() as connection:
        queries.update_user(connection, name, password_hash=password_hash)


def list_users(store: SqlStore) -> list[UserRecord]:
    with store.engine.connect() as connection:
        return queries.list_users(connection)


def count_users(store: SqlStore) -> int:
    with store.engine.connect() as connection:
        return queries.count_users(connection)


def authenticate_password(store: SqlStore, name: str, password: str) -> Principal:
    """The user ``name`` if ``password`` is theirs. Raises AuthError otherwise."""
    try:
        with store.engine.connect() as connection:
            user, password_hash = queries.get_user(connection, name)
    except NotFoundError:
        verify_password(password, _STAND_IN_HASH)  # as slow whether or not the user exists
        raise AuthError("unknown user or wrong password") from None
    if password_hash is None:  # a token-only user: as slow as the others, and refused
        verify_password(password, _STAND_IN_HASH)
        raise AuthError("unknown user or wrong password")
    if not verify_password(password, password_hash) or user.disabled:
        raise AuthError("unknown user or wrong password")
    return Principal(name=user.name, role=Role(user.role), via="session")


def sign_in(store: SqlStore, name: str, password: str, *, client: str, now: datetime) -> Principal:
    """``authenticate_password`` with a limit on failures per name and client.

    Each attempt is counted before the password is checked (and taken back when it was
    right), so that many attempts sent at once cannot all slip under the limit.

    Raises:
        LoginThrottled: too many failures lately; the password was not even checked.
        AuthError: an unknown user, a wrong password or a disabled user (never says which).
    """
    pair, alone = _failure_key("user", name, client), _failure_key("client", client)
    since = now - LOGIN_WINDOW
    with store.engine.begin() as connection:
        for_pair = queries.count_attempt(connection, pair, now, since)
        for_client = queries.count_attempt(connection, alone, now, since)
    if for_pair > MAX_FAILURES_PER_USER_AND_CLIENT or for_client > MAX_FAILURES_PER_CLIENT:
        raise LoginThrottled(LOGIN_WINDOW)
    principal = authenticate_password(store, name, password)
    with store.engine.begin() as connection:
        queries.clear_failures(connection, pair)
        queries.forget_attempt(connection, alone)
    return principal


def _failure_key(*parts: str) -> str:
    # hashed: names and addresses of any length fit the column, and none is kept in clear
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def create_token(
    store: SqlStore,
    user_name: str,
    now: datetime,
    *,
    expires_in: timedelta | None = None,
    description: str = "",
) -> tuple[str, TokenRecord]:
    """A new token for ``user_name``: the token (shown once, never stored) and its record.

    Raises NotFoundError for an unknown user.
    """
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ConfigError(
            f"a token's description must be at most {MAX_DESCRIPTION_LENGTH} characters, "
            f"got {len(description)}"
        )
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME:
        raise ConfigError(
            f"a token must expire after more than 0 and at most {MAX_TOKEN_LIFETIME.days} "
            f"days, got {expires_in}"
        )
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with store.engine.begin() as connection:
        record = queries.create_token(
            connection,
            token_id=token_id,
            user_name=user_name,
            token_hash=_token_hash(secret),
            description=description,
            now=now,
            expires_at=None if expires_in is None else now + expires_in,
        )
    return f"{TOKEN_PREFIX}{token_id}_{secret}", record


def authenticate_token(store: SqlStore, token: str, now: datetime) -> Principal:
    """The user holding ``token``. Raises AuthError if it is unknown, wrong, expired or
    revoked, or its user is disabled (the message never says which)."""
    token_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
    if not token.startswith(TOKEN_PREFIX) or not token_id or not secret or len(token) > 200:
        raise AuthError("invalid token")
    try:
        with store.engine.connect() as connection:
            record, token_hash, user = queries.find_token(connection, token_id)
    except NotFoundError:
        raise AuthError("invalid token") from None
    if (
        not hmac.compare_digest(token_hash, _token_hash(secret))
        or record.revoked_at is not None
        or (record.expires_at is not None and record.expires_at <= now)
        or user.disabled
    ):
        raise AuthError("invalid token")
    if record.last_used_at is None or now - record.last_used_at >= _TOUCH_EVERY:
        with store.engine.begin() as connection:
            queries.touch_token(connection, token_id, now)
    return Principal(name=user.name, role=Role(user.role), via="token")


def revoke_token(store: SqlStore, token_id: str, now: datetime) -> None:
    """Revoke a token by its id (the part after ``hw_``, or the whole token)."""
    if token_id.startswith(TOKEN_PREFIX):
        token_id = token_id.removeprefix(TOKEN_PREFIX).partition("_")[0]
    with store.engine.begin() as connection:
        queries.revoke_token(connection, token_id, now)


def list_tokens(store: SqlStore, user_name: str | None = None) -> list[TokenRecord]:
    with store.engine.connect() as connection:
        return queries.list_tokens(connection, user_name)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_users_for_host(store: SqlStore, host: str) -> None:
    """Refuse to serve on a host others can reach while nobody could sign in.

    Raises:
        ConfigError: ``host`` is not a loopback address and the store has no enabled user.
    """
    if is_loopback(host):
        return
    with store.engine.connect() as connection:
        if queries.count_users(connection, enabled_only=True) > 0:
            return
    raise ConfigError(
        f"refusing to serve on {host!r} without users: anyone who reaches it could use it; "
        "create one first with 'headwater users create NAME --role admin', "
        "or serve on 127.0.0.1"
    )


DEV_USER = "local-admin"


def create_dev_token(store: SqlStore, now: datetime, *, expires_in: timedelta) -> str:
    """A token of the local admin (created token-only if missing), for a login URL.

    Only for a server on a loopback address: whoever holds the URL is an admin.
    """
    with contextlib.suppress(AlreadyExistsError):
        create_user(store, DEV_USER, Role.ADMIN, None, now)
    token, _ = create_token(
        store, DEV_USER, now, expires_in=expires_in, description="headwater dev login"
    )
    return token


_DURATION = re.compile(r"(\d{1,7})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d`` or ``2w`` as a timedelta. Raises ConfigError."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match[1]) == 0:
        raise ConfigError(
            f"bad duration {text!r}; write a whole number and a unit, e.g. 90m, 12h, 30d or 2w"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
