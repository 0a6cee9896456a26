"""Webhooks: a JSON POST signed per the Standard Webhooks specification.

Headers ``webhook-id`` (stable per alert: receivers drop duplicates by it),
``webhook-timestamp`` (seconds since the epoch) and ``webhook-signature``
(``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body``). A secret
``whsec_<base64>`` is decoded; any other secret is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from headwater.alerts.channels.base import post_json
from headwater.alerts.config import ChannelConfig
from headwater.alerts.message import Message
from headwater.errors import ConfigError


def secret_bytes(secret: str, channel: str = "?") -> bytes:
    """The HMAC key of a webhook secret."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except ValueError:
            raise ConfigError(
                f"alert channel {channel!r}: the secret starts with 'whsec_' but the rest "
                "is not base64; give a whsec_ secret as issued, or a plain one"
            ) from None
    return secret.encode()


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of ``body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_of(message: Message) -> bytes:
    payload = {
        "type": message.event,
        "timestamp": message.facts.get("ended_at") or message.facts.get("observed_at"),
        "data": {
            **message.facts,
            "title": message.title,
            "text": message.text(),
            "link": message.link,
        },
    }
    return json.dumps(payload, sort_keys=True, default=str).encode()


def send(channel: ChannelConfig, message: Message) -> None:
    body = body_of(message)
    headers = {"webhook-id": message.message_id}
    timestamp = int(message.attempted_at.timestamp())
    headers["webhook-timestamp"] = str(timestamp)
    secret = channel.value("secret")
    if secret:
        headers["webhook-signature"] = sign(
            secret_bytes(secret, channel.name), message.message_id, timestamp, body
        )
    post_json(channel, channel.value("url"), body, headers)
