"""Each channel against a real local receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from headwater.alerts.channels import DeliveryFailed, sender_for
from headwater.alerts.config import AlertsConfig, parse_alerts
from headwater.alerts.message import Message, build_message
from headwater.errors import ConfigError
from tests.alerts.receivers import HttpReceiver

NOW = datetime(2026, 1, 5, 2, 0, 30, tzinfo=UTC)
FACTS = {
    "pipeline_id": "orders",
    "run_id": "scheduled__20260104T000000__abc123",
    "logical_date": "2026-01-04T00:00:00+00:00",
    "duration": 125.0,
    "ended_at": "2026-01-05T02:00:05+00:00",
    "tasks": [{"task_id": "extract", "map_index": -1, "try_number": 4, "error": "HTTP 503"}],
}


def channel_config(name: str, options: dict[str, Any]) -> AlertsConfig:
    return parse_alerts({"channels": {name: options}}, Path("headwater.toml"))


def message(event: str = "run_failed", key: str = "run_failed|r1|t|oncall") -> Message:
    return build_message(key, event, FACTS, "http://ui.example", NOW)


def test_the_message_names_pipeline_run_date_tasks_duration_and_link() -> None:
    text = message().text()
    assert "headwater: run of orders for 2026-01-04 00:00 UTC failed" in text
    assert "Run: scheduled__20260104T000000__abc123" in text
    assert "Failed task: extract (try 4): HTTP 503" in text
    assert "Duration: 0:02:05" in text
    assert "http://ui.example/runs/scheduled__20260104T000000__abc123" in text


def test_webhook_is_signed_per_standard_webhooks(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    monkeypatch.setenv("HOOK_SECRET", secret)
    config = channel_config(
        "oncall", {"type": "webhook", "url": receiver.url + "/hook", "secret": "env:HOOK_SECRET"}
    )
    channel = config.channels["oncall"]
    sender_for(channel)(channel, message())
    (got,) = receiver.received
    msg_id, timestamp = got.headers["webhook-id"], got.headers["webhook-timestamp"]
    assert timestamp == str(int(NOW.timestamp()))
    # the receiver recomputes the signature from the raw body
    signed = f"{msg_id}.{timestamp}.".encode() + got.body
    expected = hmac.new(b"0123456789abcdef0123456789abcdef", signed, hashlib.sha256).digest()
    assert got.headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
    assert got.json()["type"] == "run_failed"
    assert got.json()["data"]["pipeline_id"] == "orders"
    # the id is stable: a resend of the same alert carries the same id
    sender_for(channel)(channel, message())
    assert receiver.received[1].headers["webhook-id"] == msg_id


def test_slack_posts_text_to_the_incoming_webhook(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK", receiver.url + "/services/T000/B000/XXXXSECRET")
    config = channel_config("team", {"type": "slack", "webhook_url": "env:SLACK_WEBHOOK"})
    channel = config.channels["team"]
    sender_for(channel)(channel, message())
    (got,) = receiver.received
    assert got.path == "/services/T000/B000/XXXXSECRET"
    assert "*headwater: run of orders for 2026-01-04 00:00 UTC failed*" in got.json()["text"]


def test_pagerduty_triggers_and_resolves_with_one_dedup_key_per_interval(
    receiver: HttpReceiver,
) -> None:
    config = channel_config(
        "pager",
        {"type": "pagerduty", "routing_key": "R0UT1NGKEY", "url": receiver.url + "/v2/enqueue"},
    )
    channel = config.channels["pager"]
    sender_for(channel)(channel, message())
    sender_for(channel)(channel, message("run_recovered", "run_recovered|r1|t|pager"))
    trigger, resolve = (got.json() for got in receiver.received)
    assert trigger["event_action"] == "trigger"
    assert trigger["routing_key"] == "R0UT1NGKEY"
    assert trigger["payload"]["severity"] == "error"
    assert trigger["links"][0]["href"].endswith("/runs/scheduled__20260104T000000__abc123")
    assert resolve["event_action"] == "resolve"
    assert (
        trigger["dedup_key"] == resolve["dedup_key"] == "headwater/orders/2026-01-04T00:00:00+00:00"
    )


def test_a_failed_delivery_never_shows_the_secret(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK", receiver.url + "/services/T000/B000/XXXXSECRET")
    channel = channel_config(
        "team", {"type": "slack", "webhook_url": "env:SLACK_WEBHOOK"}
    ).channels["team"]
    receiver.statuses = [500]
    with pytest.raises(DeliveryFailed) as failed:
        sender_for(channel)(channel, message())
    assert str(failed.value) == "slack channel 'team': the receiver answered HTTP 500: server error"
    assert not failed.value.permanent
    receiver.stop()  # nobody listens: a connection error names no URL either
    with pytest.raises(DeliveryFailed) as unreachable:
        sender_for(channel)(channel, message())
    assert "XXXXSECRET" not in str(unreachable.value)
    assert "could not deliver (ConnectError" in str(unreachable.value)
    assert "XXXXSECRET" not in str(channel.describe())


def test_a_missing_secret_is_an_error_naming_channel_and_key(receiver: HttpReceiver) -> None:
    channel = channel_config(
        "oncall", {"type": "webhook", "url": receiver.url, "secret": "env:HW_TEST_UNSET_SECRET"}
    ).channels["oncall"]
    with pytest.raises(ConfigError) as missing:
        sender_for(channel)(channel, message())
    assert str(missing.value) == (
        "alert channel 'oncall', key 'secret' (in headwater.toml) reads environment variable "
        "'HW_TEST_UNSET_SECRET', which is not set; set it for this process or change the key"
    )


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = data.login == b"alerts" and data.password == b"s3cret-pass"
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Controller, Mailbox]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[1]), str(certificate[0]))
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port: the controller checks it by connecting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield controller, mailbox
    controller.stop()


def test_email_logs_in_over_starttls_and_sends(
    smtp_server: tuple[Controller, Mailbox],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, mailbox = smtp_server
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-pass")
    options = {
        "type": "email",
        "host": "127.0.0.1",
        "port": controller.port,
        "starttls": True,
        "ca_file": str(certificate[1]),
        "username": "alerts",
        "password": "env:SMTP_PASSWORD",
        "from": "headwater@example.com",
        "to": ["oncall@example.com", "data@example.com"],
    }
    channel = channel_config("mail", options).channels["mail"]
    sender_for(channel)(channel, message())
    assert mailbox.logins == ["alerts"]
    (raw,) = mailbox.messages
    email = message_from_bytes(raw)
    assert email["Subject"] == "headwater: run of orders for 2026-01-04 00:00 UTC failed"
    assert email["To"] == "oncall@example.com, data@example.com"
    assert email["Message-ID"] == f"<{message().message_id}@headwater>"


def test_channel_describe_masks_secrets() -> None:
    config = channel_config(
        "team", {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/SECRET"}
    )
    assert config.channels["team"].describe() == {
        "name": "team",
        "type": "slack",
        "webhook_url": "***",
    }
    hook = channel_config(
        "hook", {"type": "webhook", "url": "https://u:pw@hooks.example.com/p/TOKEN", "secret": "x"}
    ).channels["hook"]
    assert hook.describe() == {
        "name": "hook",
        "type": "webhook",
        "url": "https://***@hooks.example.com/…",
        "secret": "***",
    }
