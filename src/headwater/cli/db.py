"""``headwater db``: the metadata database."""

from __future__ import annotations

import click

from headwater.cli.console import console
from headwater.config import Settings
from headwater.store.sql.migrate import HEAD_REVISION
from headwater.store.sql.store import SqlStore


@click.group("db")
def db_group() -> None:
    """Manage the metadata database."""


@db_group.command("upgrade")
def upgrade_command() -> int:
    """Apply the schema migrations (also done automatically on first use)."""
    # opening the store migrates it, under the lock that keeps two processes from
    # migrating at once, with database errors made into one-line messages
    SqlStore.from_settings(Settings.from_env()).close()
    console.print(f"database at revision {HEAD_REVISION}", highlight=False)
    return 0
