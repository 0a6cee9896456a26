"""Email over SMTP (smtplib), with STARTTLS or SSL and a login.

The Message-ID is derived from the alert's idempotency key, so a resend after a crash
carries the same id and mail clients thread or drop it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from headwater.alerts.channels.base import DeliveryFailed, scrub
from headwater.alerts.config import ChannelConfig
from headwater.alerts.message import Message


def build_email(channel: ChannelConfig, message: Message) -> EmailMessage:
    recipients = channel.value("to")
    email = EmailMessage()
    email["Subject"] = message.title
    email["From"] = channel.value("from")
    email["To"] = ", ".join(recipients) if isinstance(recipients, list) else recipients
    email["Message-ID"] = f"<{message.message_id}@headwater>"
    email.set_content(message.text() + "\n")
    return email


def _tls_context(channel: ChannelConfig) -> ssl.SSLContext:
    ca_file = channel.value("ca_file")
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def send(channel: ChannelConfig, message: Message) -> None:
    host = channel.value("host")
    use_ssl = bool(channel.value("ssl", False))
    starttls = bool(channel.value("starttls", False))
    port = int(channel.value("port", 465 if use_ssl else 587 if starttls else 25))
    email = build_email(channel, message)
    username, password = channel.value("username"), channel.value("password")
    try:
        smtp: smtplib.SMTP
        if use_ssl:
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=channel.timeout, context=_tls_context(channel)
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=channel.timeout)
        with smtp:
            if starttls and not use_ssl:
                smtp.starttls(context=_tls_context(channel))
            if username:
                smtp.login(username, password or "")
            smtp.send_message(email)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryFailed(
            f"email channel {channel.name!r}: the SMTP server refused the login of "
            f"{username!r}; check username and password",
            permanent=True,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        text = scrub(str(exc), channel.secrets())
        raise DeliveryFailed(
            f"email channel {channel.name!r}: could not deliver through {host}:{port} "
            f"({type(exc).__name__}: {text})"
        ) from None
