"""The sender: routes new alert events to channels and delivers the outbox.

A round (``AlertSender.run_once``) routes the events no one routed yet (one outbox row
per matching channel, idempotently), then leases the due deliveries and sends each:
sent, retried later with exponential backoff and jitter, or ``dead`` past the maximum
age or when the receiver refuses it for good. Every attempt is recorded (``attempts``,
``last_error``, ``sent_at``). Several senders may run at once (schedulers, servers): the
leases and the unique keys keep each delivery with one of them at a time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from headwater.alerts.channels import DeliveryFailed, sender_for
from headwater.alerts.config import AlertsConfig, ChannelConfig
from headwater.alerts.message import Message, build_message
from headwater.clock import Clock
from headwater.errors import ConfigError
from headwater.store.sql import assets as asset_queries
from headwater.store.sql import outbox
from headwater.store.sql.store import SqlStore

logger = logging.getLogger("headwater.alerts")

LEASE = timedelta(seconds=60)  # longer than any channel's timeout
MAX_BACKOFF = timedelta(minutes=10)
ROUTE_LIMIT = 200
CLAIM_LIMIT = 50
_RECOVERY_TRIGGERS = ("run_failed", "task_failed", "deadline_missed")


def backoff(attempts: int, first: timedelta, rng: random.Random) -> timedelta:
    """The wait after failed attempt number ``attempts`` (1, 2...): doubling from
    ``first`` up to MAX_BACKOFF, then scaled by a random 50–100% (jitter)."""
    base: timedelta = min(MAX_BACKOFF, first * (2 ** min(attempts - 1, 30)))
    jitter: float = 0.5 + rng.random() / 2
    return base * jitter


@dataclass(slots=True)
class _RateLimit:
    """At most ``rate`` messages per second to one channel, from this process."""

    rate: float
    next_free: float = 0.0

    def wait(self, monotonic: float) -> float:
        """Seconds until the next message may go (0: now, and the slot is taken)."""
        if monotonic < self.next_free:
            return self.next_free - monotonic
        self.next_free = monotonic + 1.0 / self.rate
        return 0.0


def _asset_alerts(connection: Connection, asset_key: str) -> tuple[str, ...]:
    """The channels of ``@asset(alerts=...)``, read from the stored definition."""
    record = asset_queries.get_asset(connection, asset_key)
    return () if record is None else tuple(record.definition.get("alerts") or ())


class AlertSender:
    """Routes and delivers alerts of one store, with one config."""

    def __init__(
        self,
        store: SqlStore,
        config: AlertsConfig,
        *,
        owner: str,
        clock: Clock,
        rng: random.Random | None = None,
        send: Callable[[ChannelConfig, Message], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.owner = owner
        self.clock = clock
        self.rng = rng or random.Random()
        self._send = send
        self._limits: dict[str, _RateLimit] = {}

    def run_once(self) -> int:
        """Route new events, then deliver what is due; returns the attempts made."""
        self.route()
        now = self.clock.now()
        with self.store.engine.connect() as connection:
            if not outbox.has_due(connection, now):
                return 0
        with self.store.engine.begin() as connection:
            deliveries = outbox.claim_deliveries(
                connection, self.owner, now, now + LEASE, CLAIM_LIMIT
            )
        for delivery in deliveries:
            self._deliver(delivery)
        return len(deliveries)

    def route(self) -> int:
        """Give each new event its outbox rows; returns how many events were routed."""
        now = self.clock.now()
        with self.store.engine.connect() as connection:
            if not outbox.has_unrouted(connection):
                return 0
        with self.store.engine.begin() as connection:
            events = outbox.unrouted_events(connection, ROUTE_LIMIT)
            alerts_of: dict[str, tuple[str, ...]] = {}
            for event in events:
                asset_key = event.payload.get("asset_key") if event.pipeline_id is None else None
                if asset_key:
                    channels = self.config.asset_channels_for(
                        event.event, _asset_alerts(connection, asset_key)
                    )
                else:
                    channels = self.config.channels_for(
                        event.event, event.pipeline_id, self._pipeline_alerts(event, alerts_of)
                    )
                channels |= self._resolutions(connection, event)
                outbox.route(connection, event, channels, now)
        return len(events)

    def _pipeline_alerts(
        self, event: outbox.AlertEventRow, cache: dict[str, tuple[str, ...]]
    ) -> tuple[str, ...]:
        """The channels of ``@pipeline(alerts=...)``, read from the stored description."""
        pipeline_id = event.pipeline_id
        if pipeline_id is None:
            return ()
        if pipeline_id not in cache:
            try:
                graph = self.store.get_pipeline(pipeline_id).graph
            except Exception:  # not recorded: no channels of its own
                graph = {}
            alerting = graph.get("alerting") or {}
            cache[pipeline_id] = tuple(alerting.get("alerts") or ())
        return cache[pipeline_id]

    def _resolutions(self, connection: Connection, event: outbox.AlertEventRow) -> set[str]:
        """PagerDuty channels told of this interval's failure hear of its recovery."""
        if event.event != "run_recovered" or not event.payload.get("resolves_interval"):
            return set()
        if event.pipeline_id is None or event.logical_date is None:
            return set()
        told = outbox.delivered_channels(
            connection,
            event.pipeline_id,
            event.logical_date,
            _RECOVERY_TRIGGERS,
        )
        return {
            name
            for name in told
            if name in self.config.channels and self.config.channels[name].type == "pagerduty"
        }

    def _deliver(self, delivery: outbox.DeliveryRow) -> None:
        now = self.clock.now()
        channel = self.config.channels.get(delivery.channel)
        if now - delivery.created_at >= self.config.max_age:
            error = f"not sent within {self.config.max_age}"
            if delivery.last_error:
                error += f"; last error: {delivery.last_error}"
            self._finish(delivery, outbox.DEAD, now, error=error)
            return
        if channel is None:
            self._retry(delivery, now, f"channel {delivery.channel!r} is no longer declared")
            return
        limit = self._limits.setdefault(channel.name, _RateLimit(channel.rate_limit))
        wait = limit.wait(self.clock.monotonic())
        if wait > 0:  # give it back, not counted as an attempt
            with self.store.engine.begin() as connection:
                outbox.release_delivery(
                    connection, delivery.id, self.owner, now + timedelta(seconds=wait)
                )
            return
        message = build_message(
            delivery.idempotency_key,
            delivery.event,
            delivery.payload,
            self.config.link_base(),
            now,
        )
        try:
            (self._send or sender_for(channel))(channel, message)
        except DeliveryFailed as exc:
            if exc.permanent:
                self._finish(delivery, outbox.DEAD, self.clock.now(), error=str(exc))
            else:
                self._retry(delivery, self.clock.now(), str(exc))
            return
        except ConfigError as exc:  # a secret that cannot be read: fixable, so retried
            self._retry(delivery, self.clock.now(), str(exc))
            return
        except Exception as exc:  # a bug in a channel: recorded, never the secret itself
            logger.exception("alert %s to %s: unexpected failure", delivery.id, channel.name)
            error = f"{type(exc).__name__} while sending (see the sender's log)"
            self._retry(delivery, self.clock.now(), error)
            return
        self._finish(delivery, outbox.SENT, self.clock.now())
        logger.info("alert %s (%s) sent to %s", delivery.id, delivery.event, channel.name)

    def _retry(self, delivery: outbox.DeliveryRow, now: datetime, error: str) -> None:
        attempts = delivery.attempts + 1
        due = now + backoff(attempts, self.config.retry_delay, self.rng)
        if due - delivery.created_at >= self.config.max_age:  # no retry left in its age
            self._finish(delivery, outbox.DEAD, now, error=error)
            return
        logger.warning(
            "alert %s to %s: attempt %d failed (%s); next at %s",
            delivery.id,
            delivery.channel,
            attempts,
            error,
            due.isoformat(),
        )
        self._finish(delivery, outbox.PENDING, now, error=error, next_attempt_at=due)

    def _finish(
        self,
        delivery: outbox.DeliveryRow,
        state: str,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        if state == outbox.DEAD:
            logger.error("alert %s to %s is dead: %s", delivery.id, delivery.channel, error)
        with self.store.engine.begin() as connection:
            outbox.finish_delivery(
                connection,
                delivery.id,
                self.owner,
                state=state,
                now=now,
                next_attempt_at=next_attempt_at,
                error=error,
            )
