"""What the UI, the REST API and the CLI read and do about alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from headwater.alerts.channels import sender_for
from headwater.alerts.config import AlertsConfig, ChannelConfig
from headwater.alerts.message import Message, build_message
from headwater.store.sql import outbox
from headwater.store.sql.store import SqlStore


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """One alert owed to one channel and what became of it (no secret in it)."""

    id: int
    channel: str
    event: str
    pipeline_id: str | None
    run_id: str | None
    logical_date: datetime | None
    state: str  # pending, sent or dead
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    title: str

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "channel": self.channel,
            "event": self.event,
            "pipeline": self.pipeline_id,
            "run_id": self.run_id,
            "logical_date": None if self.logical_date is None else self.logical_date.isoformat(),
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "title": self.title,
        }


def recent_deliveries(
    store: SqlStore, limit: int = 50, channel: str | None = None
) -> list[DeliveryRecord]:
    """The newest deliveries first, of every channel or of ``channel``."""
    with store.engine.connect() as connection:
        rows = outbox.recent_deliveries(connection, limit, channel)
    return [
        DeliveryRecord(
            id=row.id,
            channel=row.channel,
            event=row.event,
            pipeline_id=row.pipeline_id,
            run_id=row.run_id,
            logical_date=row.logical_date,
            state=row.state,
            attempts=row.attempts,
            created_at=row.created_at,
            sent_at=row.sent_at,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            title=build_message(
                row.idempotency_key, row.event, row.payload, "", row.created_at
            ).title,
        )
        for row in rows
    ]


def test_message(channel: ChannelConfig, config: AlertsConfig, now: datetime) -> Message:
    """The message ``headwater alerts test`` sends."""
    facts = {"channel": channel.name, "observed_at": now.isoformat()}
    lines = ["This is a test message from headwater: the channel works."]
    message = build_message(
        f"test|{channel.name}|{now.isoformat()}", "test", facts, config.link_base(), now
    )
    return Message(
        key=message.key,
        event="test",
        title=message.title,
        lines=tuple(lines),
        link=config.link_base(),
        attempted_at=now,
        facts=facts,
    )


def send_test(channel: ChannelConfig, config: AlertsConfig, now: datetime) -> None:
    """Send a test message to ``channel`` now (not through the outbox).

    Raises:
        DeliveryFailed: the receiver could not be reached or refused it.
        ConfigError: a secret of the channel cannot be read.
    """
    sender_for(channel)(channel, test_message(channel, config, now))
