"""Initial schema: pipelines, runs, task instances and tries.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from headwater.store.sql.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("pipeline_id", sa.String(250), primary_key=True),
        sa.Column("source_file", sa.Text),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("schedule", sa.String(250)),
        sa.Column("timezone", sa.String(100), nullable=False),
        sa.Column("graph", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("pipeline_id", sa.String(250), nullable=False),
        sa.Column("logical_date", UTCDateTime, nullable=False),
        sa.Column("data_interval_start", UTCDateTime, nullable=False),
        sa.Column("data_interval_end", UTCDateTime, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("run_type", sa.String(20), nullable=False),
        sa.Column("triggered_by", sa.String(250), nullable=False),
        sa.Column("source_file", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
    )
    op.create_index("ix_runs_pipeline_logical_date", "runs", ["pipeline_id", "logical_date"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_table(
        "task_instances",
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("map_index", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("max_tries", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("duration", sa.Float),
        sa.Column("next_try_at", UTCDateTime),
        sa.Column("result", sa.Text),
        sa.Column("result_ref", sa.Text),
        sa.Column("error", sa.Text),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "task_tries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("duration", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("traceback", sa.Text),
        sa.Column("log_path", sa.Text),
        sa.Column("hostname", sa.String(250)),
        sa.UniqueConstraint("run_id", "task_id", "map_index", "try_number", name="uq_task_tries"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("task_tries")
    op.drop_table("task_instances")
    op.drop_index("ix_runs_created_at", "runs")
    op.drop_index("ix_runs_pipeline_logical_date", "runs")
    op.drop_table("runs")
    op.drop_table("pipelines")
