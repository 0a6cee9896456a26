"""What an alert says: built from an outbox row's facts when it is sent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

_VERBS = {
    "run_failed": "failed",
    "run_succeeded": "succeeded",
    "run_recovered": "recovered",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """An alert ready for any channel.

    Attributes:
        key: the idempotency key (the same for every attempt of one delivery).
        event: run_failed, task_failed, stale...; ``test`` for ``headwater alerts test``.
        title: one line.
        lines: the details, one fact per line.
        link: the run's (or pipeline's) page in the UI, or None.
        facts: the stored facts, for channels that send structured data.
    """

    key: str
    event: str
    title: str
    lines: tuple[str, ...]
    link: str | None
    attempted_at: datetime  # when this attempt is made (the webhook timestamp)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        """A short stable id derived from the key (Standard Webhooks' ``webhook-id``)."""
        return "msg_" + hashlib.sha256(self.key.encode()).hexdigest()[:32]

    @property
    def is_resolution(self) -> bool:
        return self.event in ("run_recovered", "run_succeeded")

    def text(self) -> str:
        """Title, details and link as plain text."""
        parts = [self.title, *self.lines]
        if self.link:
            parts.append(self.link)
        return "\n".join(parts)


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return str(timedelta(seconds=round(seconds)))


def _date(text: str | None) -> str:
    if not text:
        return "-"
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")


def build_message(
    key: str, event: str, facts: dict[str, Any], base_url: str, now: datetime
) -> Message:
    """The message of ``event`` with stored ``facts``; links point under ``base_url``."""
    pipeline = facts.get("pipeline_id")
    run_id = facts.get("run_id")
    asset_key = facts.get("asset_key")
    link = f"{base_url}/runs/{run_id}" if run_id else None
    if link is None and asset_key:
        link = f"{base_url}/assets/{asset_key}"
    if link is None and pipeline:
        link = f"{base_url}/pipelines/{pipeline}"
    if link is None and base_url:
        link = base_url
    lines: list[str] = []
    if asset_key:
        lines.append(f"Asset: {asset_key}")
    if pipeline:
        lines.append(f"Pipeline: {pipeline}")
    if run_id:
        lines.append(f"Run: {run_id}")
    if facts.get("logical_date"):
        lines.append(f"Logical date: {_date(facts['logical_date'])}")
    duration = _duration(facts.get("duration"))
    if duration:
        lines.append(f"Duration: {duration}")
    for task in facts.get("tasks", []):
        name = task["task_id"] + (
            f"[{task['map_index']}]" if task.get("map_index", -1) >= 0 else ""
        )
        attempt = f" (try {task['try_number']})" if task.get("try_number") else ""
        lines.append(f"Failed task: {name}{attempt}: {task.get('error') or 'no error recorded'}")
    if facts.get("note"):
        lines.append(f"Note: {facts['note']}")
    title = _title(event, facts)
    if event in ("deadline_missed", "stale", "scheduler_down"):
        lines.extend(facts.get("details", []))
    return Message(
        key=key,
        event=event,
        title=title,
        lines=tuple(lines),
        link=link,
        attempted_at=now,
        facts=facts,
    )


def _title(event: str, facts: dict[str, Any]) -> str:
    pipeline = facts.get("pipeline_id")
    date = _date(facts.get("logical_date"))
    if event in _VERBS:
        return f"headwater: run of {pipeline} for {date} {_VERBS[event]}"
    task = (facts.get("tasks") or [{}])[0]
    if event == "task_failed":
        return f"headwater: task {task.get('task_id')} of {pipeline} failed for {date}"
    if event == "task_retry":
        return (
            f"headwater: task {task.get('task_id')} of {pipeline} failed try "
            f"{task.get('try_number')} for {date}; it will retry"
        )
    if event == "deadline_missed":
        return f"headwater: {pipeline} missed its deadline for {date}"
    if event == "stale" and facts.get("asset_key"):
        return f"headwater: asset {facts['asset_key']} is stale"
    if event == "stale":
        return f"headwater: {pipeline} is stale"
    if event == "scheduler_down":
        return "headwater: no scheduler is running"
    if event == "test":
        return f"headwater: test message to channel {facts.get('channel')}"
    return f"headwater: {event} ({pipeline})"
