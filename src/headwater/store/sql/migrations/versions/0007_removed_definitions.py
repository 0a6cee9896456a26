"""Pipelines and assets removed from the code: when the loader found their file without
them.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from headwater.store.sql.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # added nullable columns: SQLite keeps the tables (no copy, so no cascade)
    for table in ("pipelines", "assets"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("removed_at", UTCDateTime))


def downgrade() -> None:
    for table in ("assets", "pipelines"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("removed_at")
