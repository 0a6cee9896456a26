"""Observability: users and tokens, the alert outbox, alert conditions, scheduler
heartbeats, paused pipelines and cancel requests.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from headwater.store.sql.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipelines") as batch:
        batch.add_column(sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cancel_requested_at", UTCDateTime))
        batch.add_column(sa.Column("note", sa.Text))
        batch.create_index(
            "ix_runs_pipeline_state_end", ["pipeline_id", "state", "data_interval_end"]
        )
    _users()
    _alerts()
    op.create_table(
        "scheduler_heartbeats",
        sa.Column("owner", sa.String(250), primary_key=True),
        sa.Column("hostname", sa.String(250), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("last_heartbeat", UTCDateTime, nullable=False),
        sa.Column("stopped_at", UTCDateTime),
    )


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.ForeignKeyConstraint(["user_name"], ["users.name"], ondelete="CASCADE"),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_name"])
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", UTCDateTime, nullable=False),
    )


def _alerts() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(500), nullable=False),
        sa.Column("channel", sa.String(250), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("pipeline_id", sa.String(250)),
        sa.Column("run_id", sa.String(250)),
        sa.Column("logical_date", UTCDateTime),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_owner", sa.String(250)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("idempotency_key", name="uq_alert_outbox_key"),
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["state", "next_attempt_at"])
    op.create_index("ix_alert_outbox_created", "alert_outbox", ["created_at"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(500), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("pipeline_id", sa.String(250)),
        sa.Column("run_id", sa.String(250)),
        sa.Column("logical_date", UTCDateTime),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("routed_at", UTCDateTime),
        sa.UniqueConstraint("event_key", name="uq_alert_events_key"),
    )
    op.create_index("ix_alert_events_routed", "alert_events", ["routed_at"])
    op.create_index("ix_alert_events_run", "alert_events", ["run_id", "event"])
    op.create_table(
        "alert_conditions",
        sa.Column("condition_key", sa.String(500), primary_key=True),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("pipeline_id", sa.String(250)),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
    )


def downgrade() -> None:
    for table in (
        "scheduler_heartbeats",
        "alert_conditions",
        "alert_events",
        "alert_outbox",
        "login_failures",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_pipeline_state_end")
        batch.drop_column("note")
        batch.drop_column("cancel_requested_at")
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("paused")
