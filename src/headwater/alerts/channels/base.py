"""What the channels share: the failure they raise and an HTTP POST that hides secrets."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from headwater.alerts.config import ChannelConfig


class DeliveryFailed(Exception):
    """A delivery attempt failed. The message holds no secret.

    Attributes:
        permanent: retrying cannot help (the receiver refused the alert itself).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def post_json(
    channel: ChannelConfig,
    url: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> None:
    """POST ``body`` (JSON) to ``url``; DeliveryFailed unless the answer is 2xx.

    4xx answers other than 408 and 429 are permanent: the receiver refuses this alert
    (a revoked webhook, a bad routing key) and would refuse it again.
    """
    all_headers = {"content-type": "application/json", "user-agent": "headwater-alerts"}
    all_headers.update(headers or {})
    try:
        response = httpx.post(url, content=body, headers=all_headers, timeout=channel.timeout)
    except httpx.HTTPError as exc:
        # the exception's text may hold the URL (and with it a token): name only its kind
        raise DeliveryFailed(
            f"{channel.type} channel {channel.name!r}: could not deliver "
            f"({type(exc).__name__}: {scrub(str(exc), [url, *channel.secrets()])})"
        ) from None
    if 200 <= response.status_code < 300:
        return
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    reply = scrub(response.text[:200].strip(), [url, *channel.secrets()])
    raise DeliveryFailed(
        f"{channel.type} channel {channel.name!r}: the receiver answered "
        f"HTTP {response.status_code}" + (f": {reply}" if reply else ""),
        permanent=permanent,
    )
