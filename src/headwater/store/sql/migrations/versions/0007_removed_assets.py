"""Assets removed from the code: when the loader found an asset's file without it.

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
    # an added nullable column: SQLite keeps the table (no copy, so no cascade)
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("removed_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("removed_at")
