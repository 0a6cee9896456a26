"""Settings read from the environment: where state, logs and results live, and the key."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from headwater.errors import ConfigError
from headwater.private_files import create_once, make_private_dir

SQLITE_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32
NEW_KEY_COMMAND = "python -c 'import secrets; print(secrets.token_hex(32))'"
DEFAULT_LEASE = timedelta(seconds=30)
MAX_LEASE_SECONDS = 86_400.0


# What a task must not see: the metadata store's URL (with its password) and the key that
# signs results. Worker processes and shell commands start without them.
SECRET_VARIABLES = frozenset({"HEADWATER_DATABASE_URL", "HEADWATER_SECRET_KEY"})


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without ``SECRET_VARIABLES``: the environment tasks get."""
    return {name: value for name, value in environ.items() if name not in SECRET_VARIABLES}


def check_secret_key(key: str, source: str) -> str:
    """``key`` if it can sign results, else a ConfigError naming ``source`` (never the key)."""
    if len(key) < MIN_SECRET_KEY_LENGTH or key != key.strip():
        raise ConfigError(
            f"{source} must be at least {MIN_SECRET_KEY_LENGTH} characters without "
            f"surrounding spaces, got {len(key)} characters; make one with: {NEW_KEY_COMMAND}"
        )
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Where headwater keeps its state.

    Attributes:
        home: ``HEADWATER_HOME``, default ``./.headwater``.
        database_url: ``HEADWATER_DATABASE_URL``, default SQLite at ``home/headwater.db``.
        results_url: ``HEADWATER_RESULTS_URL``: folder or fsspec URL for large results,
            default ``home/results``.
        logs_dir: ``home/logs``: one file per try.
        sqlite_synchronous: ``HEADWATER_SQLITE_SYNCHRONOUS``, default ``NORMAL``.
        secret_key: ``HEADWATER_SECRET_KEY``, the key that signs references to stored
            results; None to use (and create on first use) ``secret_key_file``.
        lease: ``HEADWATER_LEASE_SECONDS``, default 30 s: how long a process's hold on a
            run or a pool slot lasts without renewal (renewed every third of it).
    """

    home: Path
    database_url: str
    results_url: str
    logs_dir: Path
    sqlite_synchronous: str = "NORMAL"
    secret_key: str | None = field(default=None, repr=False)
    lease: timedelta = DEFAULT_LEASE

    @property
    def secret_key_file(self) -> Path:
        """``home/secret_key``: the key's file when ``HEADWATER_SECRET_KEY`` is not set."""
        return self.home / SECRET_KEY_FILE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("HEADWATER_HOME") or ".headwater").absolute()
        return cls.for_home(
            home,
            database_url=env.get("HEADWATER_DATABASE_URL") or None,
            results_url=env.get("HEADWATER_RESULTS_URL") or None,
            sqlite_synchronous=env.get("HEADWATER_SQLITE_SYNCHRONOUS") or "NORMAL",
            secret_key=env.get("HEADWATER_SECRET_KEY") or None,
            lease=parse_lease(env.get("HEADWATER_LEASE_SECONDS") or None),
        )

    @classmethod
    def for_home(
        cls,
        home: Path,
        *,
        database_url: str | None = None,
        results_url: str | None = None,
        sqlite_synchronous: str = "NORMAL",
        secret_key: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Settings:
        synchronous = sqlite_synchronous.upper()
        if synchronous not in SQLITE_SYNCHRONOUS_MODES:
            raise ConfigError(
                f"HEADWATER_SQLITE_SYNCHRONOUS must be one of "
                f"{', '.join(SQLITE_SYNCHRONOUS_MODES)}, got {sqlite_synchronous!r}"
            )
        if secret_key is not None:
            check_secret_key(secret_key, "HEADWATER_SECRET_KEY")
        return cls(
            home=home,
            database_url=database_url or f"sqlite:///{home / 'headwater.db'}",
            results_url=results_url or str(home / "results"),
            logs_dir=home / "logs",
            sqlite_synchronous=synchronous,
            secret_key=secret_key,
            lease=lease,
        )


def parse_lease(raw: str | None) -> timedelta:
    """``HEADWATER_LEASE_SECONDS`` as a timedelta (default 30 s)."""
    if raw is None:
        return DEFAULT_LEASE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_LEASE_SECONDS:
        raise ConfigError(
            f"HEADWATER_LEASE_SECONDS must be a number of seconds above 0 and at most "
            f"{MAX_LEASE_SECONDS}, got {raw!r}"
        )
    return timedelta(seconds=seconds)


def key_from_file(path: Path) -> bytes:
    """The key kept in ``path``, created (0600, random) on first use.

    Processes that start at once agree on one key: see ``create_once``.

    Raises:
        ConfigError: the file cannot be created or read, or holds no valid key.
    """
    try:
        make_private_dir(path.parent)
        content = create_once(path, secrets.token_hex(32).encode() + b"\n")
    except OSError as exc:
        raise ConfigError(
            f"cannot create or read the secret key file {path}: {exc}; fix its folder's "
            "permissions, or set HEADWATER_SECRET_KEY"
        ) from exc
    key = content.decode("utf-8", "replace").removesuffix("\n")
    if len(key) < MIN_SECRET_KEY_LENGTH or key != key.strip():
        raise ConfigError(
            f"the secret key file {path} holds no valid key ({len(key)} characters, at least "
            f"{MIN_SECRET_KEY_LENGTH} without spaces needed); restore it, or delete it to have "
            "a new one made (results stored with the old key can then no longer be read)"
        )
    return key.encode()
