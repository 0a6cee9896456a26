"""``headwater db``: the metadata database."""

from __future__ import annotations

import click

from headwater.cli.console import console
from headwater.config import Settings
from headwater.store.sql.migrate import HEAD_REVISION, upgrade
from headwater.store.sql.store import create_engine


@click.group("db")
def db_group() -> None:
    """Manage the metadata database."""


@db_group.command("upgrade")
def upgrade_command() -> int:
    """Apply the schema migrations (also done automatically on first use)."""
    settings = Settings.from_env()
    engine = create_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    console.print(f"database at revision {HEAD_REVISION}", highlight=False)
    return 0
