"""Backfills of asset partitions: the partitions a backfill covers and the assets it
materializes.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # added nullable columns: SQLite keeps the table (no copy, so no cascade)
    with op.batch_alter_table("backfills") as batch:
        batch.add_column(sa.Column("partitions", sa.Text))
        batch.add_column(sa.Column("asset_selection", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("backfills") as batch:
        batch.drop_column("asset_selection")
        batch.drop_column("partitions")
