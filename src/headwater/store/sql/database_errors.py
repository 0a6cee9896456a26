"""Database failures as ``StoreError``: one line naming the database and what to do.

SQLAlchemy and driver errors stop at the store's edge. The message names the database by
its URL without its password, gives the first line of the driver's message and the fix.
Integrity errors are left alone: the store turns the ones it expects (a run that already
exists, an event already seen) into their own errors.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, ExceptionContext

from headwater.errors import StoreError

EXAMPLE_URLS = "sqlite:////absolute/path/headwater.db or postgresql+psycopg://user@host/dbname"
_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def shown_url(url: URL | str) -> str:
    """The URL as messages show it: without its password, even when it does not parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1***@", url)


def url_error(raw_url: str, exc: Exception) -> StoreError:
    """The error for a database URL that names no usable database (bad text, no driver)."""
    shown = shown_url(raw_url)
    if isinstance(exc, sa.exc.NoSuchModuleError):
        return StoreError(
            f"no database driver for {shown!r} ({exc}); check HEADWATER_DATABASE_URL: "
            f"expected e.g. {EXAMPLE_URLS}"
        )
    if isinstance(exc, ImportError):
        return StoreError(
            f"the database driver for {shown!r} is not installed ({exc}); install it "
            "(pip install 'headwater[postgres]' for postgresql+psycopg://) or change "
            "HEADWATER_DATABASE_URL"
        )
    if isinstance(exc, OSError):
        return StoreError(
            f"cannot create the folder of the metadata database {shown!r}: {exc.strerror}: "
            f"{exc.filename!r}; check HEADWATER_HOME and HEADWATER_DATABASE_URL"
        )
    return StoreError(
        f"HEADWATER_DATABASE_URL {shown!r} is not a database URL; expected e.g. {EXAMPLE_URLS}"
    )


def database_error(url: URL, exc: sa.exc.DBAPIError, *, connecting: bool) -> StoreError:
    """The error for a failure the database reported, opening it or using it."""
    shown = shown_url(url)
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    head = (
        f"cannot open the metadata database {shown}"
        if connecting
        else f"the metadata database {shown} failed"
    )
    return StoreError(f"{head}: {reason}; {_remedy(url, exc)}")


def _remedy(url: URL, exc: sa.exc.DBAPIError) -> str:
    sqlite = url.get_backend_name() == "sqlite"
    if isinstance(exc, sa.exc.DataError):
        return "a value does not fit its column (ids are at most 200 characters)"
    if isinstance(exc, sa.exc.OperationalError):
        if sqlite:
            return (
                "check HEADWATER_DATABASE_URL (or HEADWATER_HOME) and that the file can be "
                "read and written"
            )
        return "check HEADWATER_DATABASE_URL and that the server is running"
    if sqlite:
        # sqlite3.DatabaseError: "file is not a database", "database disk image is malformed"
        return (
            "the file is damaged or not a headwater database: restore it from a backup, "
            "move it away to start afresh, or point HEADWATER_DATABASE_URL (or "
            "HEADWATER_HOME) at another file"
        )
    return (
        "check that HEADWATER_DATABASE_URL names a headwater database and run "
        "'headwater db upgrade'"
    )


def translate_errors(engine: Engine) -> None:
    """Make every database failure on ``engine`` raise a ``StoreError`` instead."""

    @sa.event.listens_for(engine, "handle_error")
    def _to_store_error(context: ExceptionContext) -> BaseException | None:
        error = context.sqlalchemy_exception
        if (
            context.is_pre_ping  # the pool reconnects on its own
            or not isinstance(error, sa.exc.DBAPIError)
            or isinstance(error, sa.exc.IntegrityError)
        ):
            return None
        return database_error(engine.url, error, connecting=context.connection is None)
