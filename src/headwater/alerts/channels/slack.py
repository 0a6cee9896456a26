"""Slack incoming webhooks: a text message (Slack keeps no dedup key: see docs)."""

from __future__ import annotations

import json

from headwater.alerts.channels.base import post_json
from headwater.alerts.config import ChannelConfig
from headwater.alerts.message import Message


def send(channel: ChannelConfig, message: Message) -> None:
    text = f"*{message.title}*\n" + "\n".join(message.lines)
    if message.link:
        text += f"\n<{message.link}|Open in headwater>"
    body = json.dumps({"text": text}).encode()
    post_json(channel, channel.value("webhook_url"), body)
