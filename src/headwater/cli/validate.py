"""``headwater validate``: import pipeline files in isolation and check their graphs.

It needs no database: it never imports the store.
"""

from __future__ import annotations

from pathlib import Path

import click

from headwater.cli.console import console
from headwater.loader import find_files, load_file


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(paths: tuple[Path, ...]) -> int:
    """Import pipeline files or folders and check their graphs. Exit 1 if any is broken."""
    broken = 0
    for missing in (p for p in paths if not p.exists()):
        console.print(
            f"[red]error[/] {missing}: no such file or folder", highlight=False, soft_wrap=True
        )
        broken += 1
    files = find_files([p for p in paths if p.exists()])
    for path in files:
        loaded = load_file(path)
        if loaded.error is not None:
            broken += 1
            console.print(f"[red]error[/] {loaded.error}", highlight=False, soft_wrap=True)
            continue
        if not loaded.pipelines:
            console.print(
                f"[grey50]skip[/]  {path}: no pipeline defined", highlight=False, soft_wrap=True
            )
            continue
        described = ", ".join(
            f"{pid} ({len(p.plan.nodes)} tasks)" for pid, p in sorted(loaded.pipelines.items())
        )
        console.print(f"[green]ok[/]    {path}: {described}", highlight=False, soft_wrap=True)
    console.print(
        f"{len(files)} file(s) checked, {broken} broken",
        style="red" if broken else "green",
        highlight=False,
    )
    return 1 if broken else 0
