"""One module per channel type; each sends a Message or raises DeliveryFailed."""

from __future__ import annotations

from collections.abc import Callable

from headwater.alerts.channels.base import DeliveryFailed
from headwater.alerts.config import ChannelConfig
from headwater.alerts.message import Message

Send = Callable[[ChannelConfig, Message], None]


def sender_for(channel: ChannelConfig) -> Send:
    """The send function of ``channel``'s type (imported when first used)."""
    if channel.type == "slack":
        from headwater.alerts.channels.slack import send
    elif channel.type == "email":
        from headwater.alerts.channels.email import send
    elif channel.type == "pagerduty":
        from headwater.alerts.channels.pagerduty import send
    else:
        from headwater.alerts.channels.webhook import send
    return send


__all__ = ["DeliveryFailed", "Send", "sender_for"]
