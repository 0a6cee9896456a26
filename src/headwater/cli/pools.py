"""``headwater pools``: named numbers of slots shared by every run of every pipeline."""

from __future__ import annotations

import click
from rich.table import Table

from headwater.cli.console import console, print_json
from headwater.cli.run import json_option
from headwater.config_file import check_pool_name, check_pool_slots
from headwater.runtime import Runtime


@click.group("pools")
def pools_group() -> None:
    """Limit how many tries of the tasks using a pool run at once, across all runs."""


@pools_group.command("set")
@click.argument("name")
@click.argument("slots", type=int)
@click.option("--description", help="What the pool protects (kept if not given).")
def set_command(name: str, slots: int, description: str | None) -> int:
    """Create pool NAME with SLOTS slots, or change its number of slots."""
    check_pool_name(name, "headwater pools set")
    check_pool_slots(slots, f"pool {name!r}")
    runtime = Runtime()
    try:
        runtime.store.set_pool(name, slots, description, runtime.clock.now())
    finally:
        runtime.close()
    console.print(f"pool {name}: {slots} slot(s)", highlight=False, soft_wrap=True)
    return 0


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
    for column in ("pool", "slots", "in use", "description"):
        table.add_column(column, justify="right" if column in ("slots", "in use") else "left")
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
