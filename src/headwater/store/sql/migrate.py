"""Schema migrations with Alembic, applied on first use.

The fast path reads the recorded revision with one query and imports Alembic only when
the schema is behind, so opening an up-to-date store costs no Alembic import.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

HEAD_REVISION = "0003"  # kept equal to the newest file in migrations/versions (tested)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database, or None for an empty database."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_schema(engine: Engine) -> None:
    """Upgrade the schema when it is behind; a no-op query when it is current."""
    with engine.connect() as connection:
        if current_revision(connection) == HEAD_REVISION:
            return
    upgrade(engine)
