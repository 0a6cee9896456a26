"""Users and API tokens on SQL. Only hashes of passwords and tokens are kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.errors import AlreadyExistsError, NotFoundError
from headwater.store.records import TokenRecord, UserRecord
from headwater.store.sql.schema import api_tokens, login_failures, users

_u = users.c
_t = api_tokens.c
_f = login_failures.c


def _user(row: Any) -> UserRecord:
    return UserRecord(
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        disabled=bool(row.disabled),
        has_password=row.password_hash is not None,
    )


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        token_id=row.token_id,
        user_name=row.user_name,
        description=row.description,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_user(
    connection: Connection, name: str, role: str, password_hash: str | None, now: datetime
) -> UserRecord:
    if connection.execute(sa.select(_u.name).where(_u.name == name)).first() is not None:
        raise AlreadyExistsError(f"user {name!r} exists already")
    try:
        with connection.begin_nested():
            connection.execute(
                users.insert().values(
                    name=name, role=role, password_hash=password_hash, created_at=now
                )
            )
    except sa.exc.IntegrityError:  # created by another process meanwhile
        raise AlreadyExistsError(f"user {name!r} exists already") from None
    return UserRecord(name=name, role=role, created_at=now, has_password=password_hash is not None)


def get_user(connection: Connection, name: str) -> tuple[UserRecord, str | None]:
    """The user and their password hash. Raises NotFoundError."""
    row = connection.execute(users.select().where(_u.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user {name!r}")
    return _user(row), row.password_hash


def list_users(connection: Connection) -> list[UserRecord]:
    return [_user(row) for row in connection.execute(users.select().order_by(_u.name))]


def count_users(connection: Connection, *, enabled_only: bool = False) -> int:
    query = sa.select(sa.func.count()).select_from(users)
    if enabled_only:
        query = query.where(_u.disabled.is_(False))
    return int(connection.execute(query).scalar_one())


def update_user(
    connection: Connection,
    name: str,
    *,
    role: str | None = None,
    password_hash: str | None = None,
    disabled: bool | None = None,
) -> None:
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = role
    if password_hash is not None:
        values["password_hash"] = password_hash
    if disabled is not None:
        values["disabled"] = disabled
    if connection.execute(users.update().where(_u.name == name).values(values)).rowcount != 1:
        raise NotFoundError(f"no user {name!r}; 'headwater users list' shows them")


def create_token(
    connection: Connection,
    *,
    token_id: str,
    user_name: str,
    token_hash: str,
    description: str,
    now: datetime,
    expires_at: datetime | None,
) -> TokenRecord:
    get_user(connection, user_name)  # NotFoundError for an unknown user
    connection.execute(
        api_tokens.insert().values(
            token_id=token_id,
            user_name=user_name,
            token_hash=token_hash,
            description=description,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return TokenRecord(
        token_id=token_id,
        user_name=user_name,
        description=description,
        created_at=now,
        expires_at=expires_at,
    )


def find_token(connection: Connection, token_id: str) -> tuple[TokenRecord, str, UserRecord]:
    """The token, its hash and its user. Raises NotFoundError."""
    row = connection.execute(
        sa.select(
            api_tokens,
            _u.role,
            _u.disabled,
            _u.password_hash,
            _u.name,
            _u.created_at.label("user_created_at"),
        )
        .join(users, _u.name == _t.user_name)
        .where(_t.token_id == token_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no token {token_id!r}")
    user = UserRecord(
        name=row.name,
        role=row.role,
        created_at=row.user_created_at,
        disabled=bool(row.disabled),
        has_password=row.password_hash is not None,
    )
    return _token(row), row.token_hash, user


def touch_token(connection: Connection, token_id: str, now: datetime) -> None:
    connection.execute(api_tokens.update().where(_t.token_id == token_id).values(last_used_at=now))


def revoke_token(connection: Connection, token_id: str, now: datetime) -> None:
    update = (
        api_tokens.update()
        .where(_t.token_id == token_id, _t.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if connection.execute(update).rowcount != 1:
        row = connection.execute(sa.select(_t.token_id).where(_t.token_id == token_id)).first()
        if row is None:
            raise NotFoundError(f"no token {token_id!r}; 'headwater tokens list' shows them")


def list_tokens(connection: Connection, user_name: str | None = None) -> list[TokenRecord]:
    query = api_tokens.select().order_by(_t.created_at)
    if user_name is not None:
        query = query.where(_t.user_name == user_name)
    return [_token(row) for row in connection.execute(query)]


def count_attempt(connection: Connection, key: str, now: datetime, since: datetime) -> int:
    """Count one more sign-in attempt for ``key`` and return the count of its window.

    A window that started by ``since`` is over, so its row is dropped first (with every
    other finished window). The row stays locked until the transaction ends, so attempts
    made at once on several servers each see their own count.
    """
    connection.execute(login_failures.delete().where(_f.window_started_at <= since))
    add_one = login_failures.update().where(_f.key == key).values(failures=_f.failures + 1)
    if connection.execute(add_one).rowcount != 1:
        try:
            with connection.begin_nested():
                connection.execute(
                    login_failures.insert().values(key=key, failures=1, window_started_at=now)
                )
        except sa.exc.IntegrityError:  # another server counted the first one meanwhile
            connection.execute(add_one)
    return int(connection.execute(sa.select(_f.failures).where(_f.key == key)).scalar_one())


def forget_attempt(connection: Connection, key: str) -> None:
    """Take back one attempt counted for ``key`` (it succeeded)."""
    connection.execute(
        login_failures.update()
        .where(_f.key == key, _f.failures > 0)
        .values(failures=_f.failures - 1)
    )


def clear_failures(connection: Connection, key: str) -> None:
    connection.execute(login_failures.delete().where(_f.key == key))
