"""Scheduling: one run per pipeline and logical date, run leases, pools, backfills, events.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from headwater.store.sql.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(250)))
        batch.add_column(sa.Column("lease_expires_at", UTCDateTime))
        batch.add_column(sa.Column("backfill_id", sa.String(250)))
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.drop_index("ix_runs_pipeline_logical_date")
        batch.create_unique_constraint(
            "uq_runs_pipeline_logical_date", ["pipeline_id", "logical_date"]
        )
        batch.create_index("ix_runs_state", ["state"])
    op.create_table(
        "pools",
        sa.Column("name", sa.String(250), primary_key=True),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "pool_slots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pool", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(250), nullable=False),
        sa.Column("lease_expires_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("run_id", "task_id", "map_index", name="uq_pool_slots_instance"),
    )
    op.create_index("ix_pool_slots_pool", "pool_slots", ["pool"])
    op.create_table(
        "backfills",
        sa.Column("backfill_id", sa.String(250), primary_key=True),
        sa.Column("pipeline_id", sa.String(250), nullable=False),
        sa.Column("start_date", UTCDateTime, nullable=False),
        sa.Column("end_date", UTCDateTime, nullable=False),
        sa.Column("max_active_runs", sa.Integer, nullable=False),
        sa.Column("reprocess", sa.String(20), nullable=False),
        sa.Column("reverse", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("owner", sa.String(250)),
        sa.Column("lease_expires_at", UTCDateTime),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline_id", sa.String(250), nullable=False),
        sa.Column("event_key", sa.String(1000), nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.UniqueConstraint("pipeline_id", "event_key", name="uq_events_pipeline_key"),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("backfills")
    op.drop_index("ix_pool_slots_pool", "pool_slots")
    op.drop_table("pool_slots")
    op.drop_table("pools")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_state")
        batch.drop_constraint("uq_runs_pipeline_logical_date", type_="unique")
        batch.create_index("ix_runs_pipeline_logical_date", ["pipeline_id", "logical_date"])
        batch.drop_column("priority")
        batch.drop_column("backfill_id")
        batch.drop_column("lease_expires_at")
        batch.drop_column("owner")
