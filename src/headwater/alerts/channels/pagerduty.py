"""PagerDuty Events API v2: trigger, and resolve when the interval later succeeds.

The dedup key is per pipeline and logical date (``headwater/PIPELINE/DATE``), so every
alert about one interval lands on one incident, and a resend is dropped by PagerDuty.
"""

from __future__ import annotations

import json

from headwater.alerts.channels.base import post_json
from headwater.alerts.config import PAGERDUTY_URL, ChannelConfig
from headwater.alerts.message import Message


def dedup_key(message: Message) -> str:
    facts = message.facts
    pipeline = facts.get("pipeline_id")
    if message.event == "scheduler_down":
        return "headwater/scheduler_down"
    if message.event == "stale" and facts.get("asset_key"):
        return f"headwater/asset/{facts['asset_key']}/stale"
    if message.event == "stale":
        return f"headwater/{pipeline}/stale"
    if message.event == "test":
        return f"headwater/test/{message.message_id}"
    return f"headwater/{pipeline}/{facts.get('logical_date')}"


def body_of(message: Message, routing_key: str) -> dict[str, object]:
    action = "resolve" if message.is_resolution else "trigger"
    body: dict[str, object] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(message),
    }
    if action == "trigger":
        body["payload"] = {
            "summary": message.title[:1024],
            "source": "headwater",
            "severity": "warning" if message.event in ("stale", "test") else "error",
            "component": message.facts.get("pipeline_id")
            or message.facts.get("asset_key")
            or "headwater",
            "custom_details": {"details": list(message.lines), "event": message.event},
        }
        if message.link:
            body["links"] = [{"href": message.link, "text": "Open in headwater"}]
    return body


def send(channel: ChannelConfig, message: Message) -> None:
    body = body_of(message, channel.value("routing_key"))
    post_json(channel, channel.value("url", PAGERDUTY_URL), json.dumps(body).encode())
