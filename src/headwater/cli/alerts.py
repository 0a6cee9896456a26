"""``headwater alerts``: send a test message to a channel, list recent deliveries."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from headwater.alerts.api import recent_deliveries, send_test
from headwater.alerts.channels import DeliveryFailed
from headwater.cli.console import console, print_json
from headwater.cli.output import id_column, text_column, utc_minutes
from headwater.cli.run import json_option
from headwater.cli.scheduler import config_option
from headwater.config_file import load_config
from headwater.runtime import Runtime

EXIT_NOT_DELIVERED = 1


@click.group("alerts")
def alerts_group() -> None:
    """Alert channels (declared in headwater.toml) and the alerts sent to them."""


@alerts_group.command("test")
@click.argument("channel")
@config_option
def test_command(channel: str, config_path: Path | None) -> int:
    """Send a test message to CHANNEL now; exit 1 if it was not delivered."""
    runtime = Runtime()
    try:
        alerts = load_config(config_path, runtime.settings.home).alerts
        declared = alerts.channel(channel)
        try:
            send_test(declared, alerts, runtime.clock.now())
        except DeliveryFailed as exc:
            sys.stderr.write(f"headwater: error: {exc}\n")
            return EXIT_NOT_DELIVERED
    finally:
        runtime.close()
    console.print(
        f"test message delivered to {declared.type} channel {channel}",
        highlight=False,
        soft_wrap=True,
    )
    return 0


@alerts_group.command("list")
@click.option("--channel", help="Only the deliveries of this channel.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="How many."
)
@json_option
def list_command(channel: str | None, limit: int, json_output: bool) -> int:
    """Recent alert deliveries, newest first, with their outcome."""
    runtime = Runtime()
    try:
        deliveries = recent_deliveries(runtime.store, limit, channel)
    finally:
        runtime.close()
    if json_output:
        print_json([delivery.as_json() for delivery in deliveries])
        return 0
    if not deliveries:
        console.print("no alerts yet")
        return 0
    table = Table()
    text_column(table, "created")
    id_column(table, "channel")
    text_column(table, "event")
    id_column(table, "pipeline")
    text_column(table, "state")
    text_column(table, "attempts", justify="right")
    text_column(table, "last error")
    for delivery in deliveries:
        table.add_row(
            utc_minutes(delivery.created_at),
            delivery.channel,
            delivery.event,
            delivery.pipeline_id or "-",
            delivery.state,
            str(delivery.attempts),
            delivery.last_error or "",
        )
    console.print(table)
    return 0
