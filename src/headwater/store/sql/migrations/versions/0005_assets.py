"""Assets: their definitions, materializations, check results, dynamic partitions, and
the partition each run materializes.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from headwater.store.sql.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # an added column and an index: SQLite keeps the table (no copy, so no cascade)
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("partition_key", sa.String(250)))
        batch.create_index("ix_runs_pipeline_partition", ["pipeline_id", "partition_key"])
    op.create_table(
        "assets",
        sa.Column("asset_key", sa.String(250), primary_key=True),
        sa.Column("group_name", sa.String(250), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("source_file", sa.Text),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "asset_materializations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_key", sa.String(250), nullable=False),
        sa.Column("partition_key", sa.String(250), nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.Column("task_id", sa.String(250)),
        sa.Column("try_number", sa.Integer),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index(
        "ix_asset_materializations_key",
        "asset_materializations",
        ["asset_key", "partition_key", "id"],
    )
    op.create_index("ix_asset_materializations_run", "asset_materializations", ["run_id"])
    op.create_index("ix_asset_materializations_created", "asset_materializations", ["created_at"])
    op.create_table(
        "asset_check_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("materialization_id", sa.Integer, nullable=False),
        sa.Column("asset_key", sa.String(250), nullable=False),
        sa.Column("partition_key", sa.String(250), nullable=False, server_default=""),
        sa.Column("check_name", sa.String(250), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("blocking", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_asset_check_results_key", "asset_check_results", ["asset_key", "check_name", "id"]
    )
    op.create_index(
        "ix_asset_check_results_materialization", "asset_check_results", ["materialization_id"]
    )
    op.create_table(
        "dynamic_partitions",
        sa.Column("name", sa.String(250), primary_key=True),
        sa.Column("partition_key", sa.String(250), primary_key=True),
        sa.Column("added_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dynamic_partitions")
    op.drop_table("asset_check_results")
    op.drop_table("asset_materializations")
    op.drop_table("assets")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_pipeline_partition")
        batch.drop_column("partition_key")
