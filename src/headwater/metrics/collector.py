"""Gauges read from the metadata store at scrape time: one collector, a few grouped queries.

Whatever process serves them (the server, a scheduler) reads the same store, so they
say the same thing everywhere: runs and active task instances by state, pool slots,
data freshness (of pipelines and of assets), the alert outbox, and the schedulers'
heartbeats. Each query is grouped
and bounded by an index or by the runs in progress, so a scrape stays cheap with
10,000 runs and 1,000,000 task instances (docs/metrics.md gives the measured cost).

A scrape that cannot read the store still answers, with ``headwater_store_up 0`` and
without the store's gauges, so that the process's own metrics are not lost with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection

from headwater.asset_status import NewestByAsset, PartitionsByAsset, data_ends
from headwater.clock import Clock
from headwater.errors import StoreError
from headwater.store.sql import asset_reads
from headwater.store.sql.pools import list_pools
from headwater.store.sql.schema import (
    alert_outbox,
    pipelines,
    runs,
    scheduler_heartbeats,
    task_instances,
)
from headwater.store.sql.store import SqlStore

logger = logging.getLogger("headwater.metrics")

ACTIVE_RUN_STATES = ("queued", "running")
_r, _ti, _o, _hb = runs.c, task_instances.c, alert_outbox.c, scheduler_heartbeats.c

RUNS_BY_STATE = sa.select(_r.pipeline_id, _r.state, sa.func.count()).group_by(
    _r.pipeline_id, _r.state
)
# Only the task instances of runs in progress: found through the runs' state index and
# the instances' primary key (run id first), however many finished runs there are.
ACTIVE_INSTANCES = (
    sa.select(_r.pipeline_id, _ti.state, sa.func.count())
    .select_from(runs.join(task_instances, _ti.run_id == _r.run_id))
    .where(_r.state.in_(ACTIVE_RUN_STATES))
    .group_by(_r.pipeline_id, _ti.state)
)
NEWEST_SUCCESS = (
    sa.select(_r.pipeline_id, sa.func.max(_r.data_interval_end))
    .where(_r.state == "success")
    .group_by(_r.pipeline_id)
)
# the pipelines the code defines: one removed from it has no freshness or paused gauge
PIPELINES = sa.select(pipelines.c.pipeline_id, pipelines.c.paused).where(
    pipelines.c.removed_at.is_(None)
)
REMOVED_PIPELINES = sa.select(pipelines.c.pipeline_id).where(pipelines.c.removed_at.is_not(None))
OUTBOX = sa.select(_o.channel, _o.state, sa.func.count(), sa.func.min(_o.created_at)).group_by(
    _o.channel, _o.state
)
ALIVE_WITHIN = timedelta(minutes=2)  # a heartbeat older than this: the scheduler is silent
HEARTBEATS = sa.select(
    sa.func.sum(sa.case((_hb.last_heartbeat >= sa.bindparam("b_since"), 1), else_=0)),
    sa.func.max(_hb.last_heartbeat),
).where(_hb.stopped_at.is_(None))


class StoreCollector(Collector):
    """The store's gauges, read at each scrape in one read of the store."""

    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        # the assets' partitions definitions and newest data, kept between scrapes: a
        # scrape reads only the definitions and materializations recorded since the last
        self._partitions = PartitionsByAsset()
        self._newest = NewestByAsset()

    def collect(self) -> Iterable[Metric]:
        started = self.clock.monotonic()
        try:
            with self.store.engine.connect() as connection:
                families = list(self._read(connection, self.clock.now()))
        except (sa.exc.SQLAlchemyError, StoreError) as exc:  # the database is down
            logger.warning("metrics: cannot read the metadata store: %s", exc)
            families = []
        up = GaugeMetricFamily(
            "headwater_store_up", "1 when this scrape could read the metadata store, else 0."
        )
        up.add_metric([], 1.0 if families else 0.0)
        took = GaugeMetricFamily(
            "headwater_store_scrape_duration_seconds",
            "Seconds this scrape took to read the store's gauges.",
        )
        took.add_metric([], self.clock.monotonic() - started)
        return [*families, up, took]

    def _read(self, connection: Connection, now: datetime) -> Iterator[Metric]:
        yield from self._runs(connection)
        yield from self._freshness(connection, now)
        yield from self._pools(connection, now)
        yield from self._outbox(connection, now)
        yield from self._heartbeats(connection, now)

    def _runs(self, connection: Connection) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "headwater_runs", "Runs in the store, by state.", labels=["pipeline", "state"]
        )
        for pipeline_id, state, count in connection.execute(RUNS_BY_STATE):
            family.add_metric([pipeline_id, state], count)
        yield family
        family = GaugeMetricFamily(
            "headwater_task_instances_active",
            "Task instances of the runs in progress, by state (queued: waiting for pool "
            "slots; up_for_retry: waiting for a retry's delay).",
            labels=["pipeline", "state"],
        )
        for pipeline_id, state, count in connection.execute(ACTIVE_INSTANCES):
            family.add_metric([pipeline_id, state], count)
        yield family

    def _freshness(self, connection: Connection, now: datetime) -> Iterator[Metric]:
        newest = {
            pipeline_id: end for pipeline_id, end in connection.execute(NEWEST_SUCCESS) if end
        }
        # (not dict(result): a Result has keys(), the column names)
        paused = dict(connection.execute(PIPELINES).all())
        freshness = GaugeMetricFamily(
            "headwater_data_freshness_seconds",
            "Seconds since the end of the newest data interval a run processed successfully "
            "(+Inf for a pipeline without a successful run); with an asset label, since "
            "the asset's newest materialization (for time partitions, since the end of "
            "the newest materialized partition's window).",
            labels=["pipeline"],
        )
        removed = set(connection.execute(REMOVED_PIPELINES).scalars())
        for pipeline_id in sorted((newest.keys() | paused.keys()) - removed):
            end = newest.get(pipeline_id)
            age = math.inf if end is None else (now - _aware(end)).total_seconds()
            freshness.add_metric([pipeline_id], age)
        for asset_key, age in self._asset_ages(connection, now):
            freshness.add_sample(freshness.name, {"asset": asset_key}, age)
        yield freshness
        family = GaugeMetricFamily(
            "headwater_pipeline_paused",
            "1 when the pipeline is paused (it gets no scheduled runs), else 0.",
            labels=["pipeline"],
        )
        for pipeline_id, is_paused in sorted(paused.items()):
            family.add_metric([pipeline_id], 1.0 if is_paused else 0.0)
        yield family

    def _asset_ages(self, connection: Connection, now: datetime) -> list[tuple[str, float]]:
        """Each asset's freshness: the registry's assets, and any other materialized (a
        task's outlet), but not those removed from the code."""
        definitions = self._partitions.read(connection)
        ends = data_ends(connection, definitions, newest=self._newest.read(connection, now))
        shown = (definitions.keys() | ends.keys()) - asset_reads.removed_keys(connection)
        return [
            # a partition still in progress (end_offset) ends after now: as fresh as can be
            (key, math.inf if key not in ends else max(0.0, (now - ends[key]).total_seconds()))
            for key in sorted(shown)
        ]

    def _pools(self, connection: Connection, now: datetime) -> Iterator[Metric]:
        total = GaugeMetricFamily("headwater_pool_slots", "Slots of the pool.", labels=["pool"])
        in_use = GaugeMetricFamily(
            "headwater_pool_slots_in_use",
            "Slots of the pool held by running tries, over every process.",
            labels=["pool"],
        )
        for pool in list_pools(connection, now):
            total.add_metric([pool.name], pool.slots)
            in_use.add_metric([pool.name], pool.in_use)
        yield from (total, in_use)

    def _outbox(self, connection: Connection, now: datetime) -> Iterator[Metric]:
        rows = connection.execute(OUTBOX).all()
        family = GaugeMetricFamily(
            "headwater_alert_outbox",
            "Alerts in the outbox by channel and state: pending (waiting to be sent), sent "
            "(delivered), dead (given up on).",
            labels=["channel", "state"],
        )
        oldest = GaugeMetricFamily(
            "headwater_alert_outbox_oldest_pending_seconds",
            "Age of the oldest alert of the channel waiting to be sent.",
            labels=["channel"],
        )
        for channel, state, count, first in rows:
            family.add_metric([channel, state], count)
            if state == "pending" and first is not None:
                oldest.add_metric([channel], max(0.0, (now - _aware(first)).total_seconds()))
        yield from (family, oldest)

    def _heartbeats(self, connection: Connection, now: datetime) -> Iterator[Metric]:
        alive, newest = connection.execute(HEARTBEATS, {"b_since": now - ALIVE_WITHIN}).one()
        running = GaugeMetricFamily(
            "headwater_schedulers_alive",
            "Scheduler processes that sent a heartbeat in the last 2 minutes.",
        )
        running.add_metric([], alive or 0)
        yield running
        if newest is not None:
            age = GaugeMetricFamily(
                "headwater_scheduler_heartbeat_age_seconds",
                "Seconds since the newest heartbeat of a scheduler that did not stop cleanly.",
            )
            age.add_metric([], max(0.0, (now - _aware(newest)).total_seconds()))
            yield age


def _aware(moment: datetime) -> datetime:
    """A stored time as aware UTC (aggregates keep the column's type; this is a guard)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
