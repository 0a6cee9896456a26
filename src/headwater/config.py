"""Settings read from the environment: where state, logs and results live."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from headwater.errors import ConfigError

SQLITE_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


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
    """

    home: Path
    database_url: str
    results_url: str
    logs_dir: Path
    sqlite_synchronous: str = "NORMAL"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("HEADWATER_HOME") or ".headwater").absolute()
        return cls.for_home(
            home,
            database_url=env.get("HEADWATER_DATABASE_URL") or None,
            results_url=env.get("HEADWATER_RESULTS_URL") or None,
            sqlite_synchronous=env.get("HEADWATER_SQLITE_SYNCHRONOUS") or "NORMAL",
        )

    @classmethod
    def for_home(
        cls,
        home: Path,
        *,
        database_url: str | None = None,
        results_url: str | None = None,
        sqlite_synchronous: str = "NORMAL",
    ) -> Settings:
        synchronous = sqlite_synchronous.upper()
        if synchronous not in SQLITE_SYNCHRONOUS_MODES:
            raise ConfigError(
                f"HEADWATER_SQLITE_SYNCHRONOUS must be one of "
                f"{', '.join(SQLITE_SYNCHRONOUS_MODES)}, got {sqlite_synchronous!r}"
            )
        return cls(
            home=home,
            database_url=database_url or f"sqlite:///{home / 'headwater.db'}",
            results_url=results_url or str(home / "results"),
            logs_dir=home / "logs",
            sqlite_synchronous=synchronous,
        )
