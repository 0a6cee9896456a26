"""The tables. Stored names are a contract: change them only with a migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


pipelines = sa.Table(
    "pipelines",
    metadata,
    sa.Column("pipeline_id", sa.String(250), primary_key=True),
    sa.Column("source_file", sa.Text),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("schedule", sa.String(250)),
    sa.Column("timezone", sa.String(100), nullable=False),
    sa.Column("graph", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    # when the loader found its file without it (migration 0007); NULL while defined
    sa.Column("removed_at", UTCDateTime),
)

runs = sa.Table(
    "runs",
    metadata,
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
    sa.Column("owner", sa.String(250)),  # the process driving it, while it runs
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("backfill_id", sa.String(250)),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    # incremented by every claim: a driver's writes carry the generation it claimed, and
    # are refused once another claim made a newer one (fencing)
    sa.Column("lease_generation", sa.Integer, nullable=False, server_default="0"),
    # a cancel asked for (by the API or CLI): the driver stops the run's tries and fails it
    sa.Column("cancel_requested_at", UTCDateTime),
    sa.Column("note", sa.Text),  # why the run ended as it did, when not a task's error
    sa.UniqueConstraint("pipeline_id", "logical_date", name="uq_runs_pipeline_logical_date"),
    # the partition an asset pipeline's run materializes (migration 0005)
    sa.Column("partition_key", sa.String(250)),
    sa.Index("ix_runs_pipeline_partition", "pipeline_id", "partition_key"),
    sa.Index("ix_runs_created_at", "created_at"),
    sa.Index("ix_runs_state", "state"),
    sa.Index("ix_runs_owner", "owner"),
    # the newest successful interval of a pipeline (freshness), without a scan
    sa.Index("ix_runs_pipeline_state_end", "pipeline_id", "state", "data_interval_end"),
)

task_instances = sa.Table(
    "task_instances",
    metadata,
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

task_tries = sa.Table(
    "task_tries",
    metadata,
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

pools = sa.Table(
    "pools",
    metadata,
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# One row per try holding slots of a pool; a row whose lease expired holds nothing.
pool_slots = sa.Table(
    "pool_slots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pool", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("map_index", sa.Integer, nullable=False),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(250), nullable=False),
    sa.Column("lease_expires_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "task_id", "map_index", name="uq_pool_slots_instance"),
    sa.Index("ix_pool_slots_pool", "pool"),
)

backfills = sa.Table(
    "backfills",
    metadata,
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
    # a backfill of asset partitions (migration 0006): JSON lists, NULL for one of intervals
    sa.Column("partitions", sa.Text),
    sa.Column("asset_selection", sa.Text),
)

# Events a pipeline reacted to (a new file, an upstream run), so none is lost or
# handled twice across scheduler restarts.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline_id", sa.String(250), nullable=False),
    sa.Column("event_key", sa.String(1000), nullable=False),
    sa.Column("seen_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.String(250)),
    sa.UniqueConstraint("pipeline_id", "event_key", name="uq_events_pipeline_key"),
)

# Observability (migration 0004): who may see and act, what alerts are owed, who is alive.

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),  # viewer, operator or admin
    sa.Column("password_hash", sa.Text),  # None: the user signs in with tokens only
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Bearer tokens: only a hash is kept; token_id is the public part that finds the row.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.ForeignKeyConstraint(["user_name"], ["users.name"], ondelete="CASCADE"),
    sa.Index("ix_api_tokens_user", "user_name"),
)

# Failed sign-ins, counted per key (a user name with a client address, or a client alone)
# in a window, so that every server behind a load balancer sees the same counts.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_started_at", UTCDateTime, nullable=False),
)

# The alert outbox: a row is written in the same transaction as the change that causes
# it, then delivered (with retries) by a sender holding a lease on it.
alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(500), nullable=False),
    sa.Column("channel", sa.String(250), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("pipeline_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("logical_date", UTCDateTime),
    sa.Column("payload", sa.Text, nullable=False),  # JSON: what the message says
    sa.Column("state", sa.String(20), nullable=False),  # pending, sent or dead
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(250)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("idempotency_key", name="uq_alert_outbox_key"),
    sa.Index("ix_alert_outbox_due", "state", "next_attempt_at"),
    sa.Index("ix_alert_outbox_created", "created_at"),
)

# What happened that may deserve an alert (a run failed, a deadline passed...): written in
# the same transaction as the change that causes it, then routed by a sender to the
# channels whose rules match, as rows of alert_outbox. The unique key makes it once-only.
alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(500), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("pipeline_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("logical_date", UTCDateTime),
    sa.Column("payload", sa.Text, nullable=False),  # JSON: the facts a message tells
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("routed_at", UTCDateTime),  # None until a sender made its outbox rows
    sa.UniqueConstraint("event_key", name="uq_alert_events_key"),
    sa.Index("ix_alert_events_routed", "routed_at"),
    # a run's success asks whether it failed before (outbox._failed_before)
    sa.Index("ix_alert_events_run", "run_id", "event"),
)

# Conditions that alert once while they hold (a missed deadline per interval, a stale
# pipeline, no scheduler): a row per open condition; resolved_at set when it clears.
alert_conditions = sa.Table(
    "alert_conditions",
    metadata,
    sa.Column("condition_key", sa.String(500), primary_key=True),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("pipeline_id", sa.String(250)),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
)

# One row per scheduler process, renewed every tick: `health` and `scheduler_down` read it.
scheduler_heartbeats = sa.Table(
    "scheduler_heartbeats",
    metadata,
    sa.Column("owner", sa.String(250), primary_key=True),
    sa.Column("hostname", sa.String(250), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_heartbeat", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime),
)


# Assets (migration 0005): what each asset is, each materialization and check result,
# and the keys of dynamic partitions.

assets = sa.Table(
    "assets",
    metadata,
    sa.Column("asset_key", sa.String(250), primary_key=True),
    sa.Column("group_name", sa.String(250), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("source_file", sa.Text),
    sa.Column("definition", sa.Text, nullable=False),  # JSON: deps, partitions, checks...
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # when the loader found the asset's file without it (migration 0007); NULL while defined
    sa.Column("removed_at", UTCDateTime),
)

asset_materializations = sa.Table(
    "asset_materializations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asset_key", sa.String(250), nullable=False),
    sa.Column("partition_key", sa.String(250), nullable=False, server_default=""),
    # "materialized", or "failed" when a blocking check refused the value
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("run_id", sa.String(250)),
    sa.Column("task_id", sa.String(250)),
    sa.Column("try_number", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_asset_materializations_key", "asset_key", "partition_key", "id"),
    sa.Index("ix_asset_materializations_run", "run_id"),
    sa.Index("ix_asset_materializations_created", "created_at"),
)

asset_check_results = sa.Table(
    "asset_check_results",
    metadata,
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
    sa.Index("ix_asset_check_results_key", "asset_key", "check_name", "id"),
    sa.Index("ix_asset_check_results_materialization", "materialization_id"),
)

dynamic_partitions = sa.Table(
    "dynamic_partitions",
    metadata,
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("partition_key", sa.String(250), primary_key=True),
    sa.Column("added_at", UTCDateTime, nullable=False),
)
