"""``headwater pools``: named numbers of slots shared by every run of every pipeline."""

from __future__ import annotations

import click
from rich.table import Table

from headwater.cli.console import console, print_json
from headwater.cli.output import id_column, text_column
from headwater.cli.run import json_option
from headwater.config_file import check_pool_name, check_pool_slots
from headwater.runtime import Runtime


@click.group("pools")
def pools_group() -> None:
    """Limit how many tries of the tasks using a pool run at once, across all runs."""


# SLOTS is read as text so that "-1" reaches the check below instead of being taken for
# an option, and so that every bad value gets the same message.
@pools_group.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("slots")
@click.option("--description", help="What the pool protects (kept if not given).")
def set_command(name: str, slots: str, description: str | None) -> int:
    """Create pool NAME with SLOTS slots, or change its number of slots."""
    check_pool_name(name, "headwater pools set")
    count = check_pool_slots(_whole_number(slots), f"pool {name!r}")
    runtime = Runtime()
    try:
        runtime.store.set_pool(name, count, description, runtime.clock.now())
    finally:
        runtime.close()
    console.print(f"pool {name}: {count} slot(s)", highlight=False, soft_wrap=True)
    return 0


def _whole_number(text: str) -> int | str:
    """``text`` as an int if it is one ("-1", "+3", " 2 "), else unchanged for the message."""
    try:
        return int(text)
    except ValueError:
        return text


@pools_group.command("list")
@json_option
def list_command(json_output: bool) -> int:
    """The pools, with the slots that running tries hold now."""
    runtime = Runtime()
    try:
        pools = runtime.store.list_pools(runtime.clock.now())
    finally:
        runtime.close()
    if json_output:
        print_json(
            [
                {
                    "name": pool.name,
                    "slots": pool.slots,
                    "in_use": pool.in_use,
                    "description": pool.description,
                    "updated_at": pool.updated_at.isoformat(),
                }
                for pool in pools
            ]
        )
        return 0
    if not pools:
        console.print("no pools; create one with 'headwater pools set NAME SLOTS'")
        return 0
    table = Table()
    id_column(table, "pool")
    text_column(table, "slots", justify="right")
    text_column(table, "in use", justify="right")
    text_column(table, "description")
    for pool in pools:
        table.add_row(pool.name, str(pool.slots), str(pool.in_use), pool.description)
    console.print(table)
    return 0


@pools_group.command("delete")
@click.argument("name")
def delete_command(name: str) -> int:
    """Delete pool NAME. Tasks still asking for it fail when they would start."""
    runtime = Runtime()
    try:
        runtime.store.delete_pool(name)
    finally:
        runtime.close()
    console.print(f"deleted pool {name}", highlight=False, soft_wrap=True)
    return 0
