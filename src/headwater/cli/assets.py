"""``headwater assets list|show|lineage``: the asset graph and what the store says of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.tree import Tree

from headwater.asset_status import PartitionStatus, data_ends, freshness, partition_statuses
from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.selection import select
from headwater.cli.console import console, print_json
from headwater.cli.materialize import load_catalog
from headwater.cli.options import pipelines_option
from headwater.cli.run import json_option
from headwater.engine.assets import asset_definition, asset_records, dynamic_names
from headwater.runtime import Runtime
from headwater.store.sql import assets as asset_queries

STATUS_STYLE = {"materialized": "green", "failed": "red", "missing": "grey50", "stale": "yellow"}
MATRIX_ROWS = 60  # partitions shown in the terminal; --json has them all


@click.group("assets")
def assets_group() -> None:
    """List assets, show one with its partitions and checks, or its lineage."""


def _one(graph: AssetGraph, key: str) -> AssetKey:
    keys = select(graph, key, where="assets")
    if len(keys) != 1:
        raise click.UsageError(f"{key!r} names {len(keys)} assets; name one")
    return keys[0]


@assets_group.command("list")
@json_option
@pipelines_option
def list_command(json_output: bool, pipelines_dir: Path) -> int:
    """Every asset: group, partitions, newest materialization, freshness."""
    catalog = load_catalog(pipelines_dir)
    graph = catalog.graph
    runtime = Runtime()
    try:
        now = runtime.clock.now()
        runtime.store.upsert_assets(asset_records(graph, now))
        names = [key_string(k) for k in graph.order]
        with runtime.store.asset_connection() as connection:
            newest = asset_queries.newest_materialized(connection, names)
            ends = data_ends(
                connection, {graph.assets[k].name: graph.assets[k].partitions for k in graph.order}
            )
    finally:
        runtime.close()
    rows: list[dict[str, Any]] = []
    for key in graph.order:
        item = graph.assets[key]
        record = newest.get(item.name)
        at = record.created_at if record else None
        data_at = ends.get(item.name)
        rows.append(
            {
                "key": item.name,
                "group": item.group,
                "partitions": item.partitions.describe() if item.partitions else None,
                "last_materialized_at": at.isoformat() if at else None,
                "last_partition": record.partition_key if record else None,
                "freshness": freshness(data_at, item.freshness, now),
            }
        )
    if json_output:
        print_json({"assets": rows})
        return 0
    table = Table("asset", "group", "partitions", "last materialized", "fresh")
    for row in rows:
        fresh = row["freshness"]
        mark = (
            "-"
            if fresh["limit_seconds"] is None
            else ("[red]stale[/]" if fresh["stale"] else "[green]yes[/]")
        )
        last = row["last_materialized_at"] or "never"
        if row["last_partition"]:
            last += f" ({row['last_partition']})"
        table.add_row(row["key"], row["group"], row["partitions"] or "-", last, mark)
    console.print(table)
    return 0


def _status_json(status: PartitionStatus) -> dict[str, Any]:
    return {
        "partition": status.partition_key,
        "status": status.status,
        "materialized_at": status.materialized_at.isoformat() if status.materialized_at else None,
        "run_id": status.run_id,
    }


@assets_group.command("show")
@click.argument("key")
@json_option
@pipelines_option
def show_command(key: str, json_output: bool, pipelines_dir: Path) -> int:
    """One asset: its definition, partition status matrix, materializations and checks."""
    catalog = load_catalog(pipelines_dir)
    graph = catalog.graph
    asset_key = _one(graph, key)
    item = graph.assets[asset_key]
    runtime = Runtime()
    try:
        now = runtime.clock.now()
        with runtime.store.asset_connection() as connection:
            dynamic = asset_queries.dynamic_keys(connection, dynamic_names(item.partitions))
            statuses = partition_statuses(connection, graph, asset_key, now=now, dynamic=dynamic)
            history = asset_queries.materializations(connection, item.name, limit=20)
            checks = asset_queries.check_results(connection, item.name, limit=50)
    finally:
        runtime.close()
    document = {
        **asset_definition(graph, asset_key),
        "description": item.description,
        "partitions_status": [_status_json(s) for s in statuses],
        "materializations": [
            {
                "id": m.id,
                "partition": m.partition_key,
                "status": m.status,
                "run_id": m.run_id,
                "created_at": m.created_at.isoformat(),
                "metadata": m.metadata,
            }
            for m in history
        ],
        "checks_history": [
            {
                "check": c.check_name,
                "partition": c.partition_key,
                "passed": c.passed,
                "blocking": c.blocking,
                "description": c.description,
                "materialization_id": c.materialization_id,
                "created_at": c.created_at.isoformat(),
            }
            for c in checks
        ],
    }
    if json_output:
        print_json(document)
        return 0
    _print_show(document, statuses)
    return 0


def _print_show(document: dict[str, Any], statuses: list[PartitionStatus]) -> None:
    console.print(f"[bold]{document['key']}[/]  group {document['group']}", highlight=False)
    if document["description"]:
        console.print(document["description"], highlight=False)
    console.print(
        f"upstream: {', '.join(document['upstream']) or '-'}   "
        f"downstream: {', '.join(document['downstream']) or '-'}",
        highlight=False,
    )
    if document["partitions_description"]:
        console.print(f"partitions: {document['partitions_description']}", highlight=False)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.status] = counts.get(status.status, 0) + 1
    console.print(
        "status: " + ", ".join(f"[{STATUS_STYLE[k]}]{n} {k}[/]" for k, n in sorted(counts.items())),
        highlight=False,
    )
    table = Table("partition", "status", "materialized at", "run")
    shown = statuses[-MATRIX_ROWS:]
    for status in shown:
        style = STATUS_STYLE[status.status]
        table.add_row(
            status.partition_key or "(all)",
            f"[{style}]{status.status}[/]",
            status.materialized_at.isoformat(timespec="seconds") if status.materialized_at else "-",
            status.run_id or "-",
        )
    if len(statuses) > len(shown):
        console.print(f"(newest {len(shown)} of {len(statuses)} partitions; --json for all)")
    console.print(table)
    if document["checks_history"]:
        checks = Table("check", "partition", "result", "description")
        for check in document["checks_history"][:20]:
            verdict = (
                "[green]passed[/]"
                if check["passed"]
                else ("[red]failed[/]" if check["blocking"] else "[yellow]warned[/]")
            )
            checks.add_row(check["check"], check["partition"] or "-", verdict, check["description"])
        console.print(checks)


@assets_group.command("lineage")
@click.argument("key")
@json_option
@pipelines_option
def lineage_command(key: str, json_output: bool, pipelines_dir: Path) -> int:
    """What an asset reads from (upstream) and what reads it (downstream), as trees."""
    catalog = load_catalog(pipelines_dir)
    graph = catalog.graph
    asset_key = _one(graph, key)
    upstream = _tree(graph, asset_key, graph.upstream)
    downstream = _tree(graph, asset_key, graph.downstream)
    if json_output:
        print_json({"key": key_string(asset_key), "upstream": upstream, "downstream": downstream})
        return 0
    for title, nodes in (("upstream", upstream), ("downstream", downstream)):
        tree = Tree(f"[bold]{key_string(asset_key)}[/] {title}")
        _fill(tree, nodes)
        console.print(tree)
    return 0


def _tree(
    graph: AssetGraph, key: AssetKey, edges: Any, seen: set[AssetKey] | None = None
) -> list[dict[str, Any]]:
    """The assets reached along ``edges``, each listed once (a diamond is not repeated)."""
    seen = {key} if seen is None else seen
    nodes = []
    for other in edges.get(key, ()):
        if other in seen:
            nodes.append({"key": key_string(other), "children": [], "repeated": True})
            continue
        seen.add(other)
        nodes.append({"key": key_string(other), "children": _tree(graph, other, edges, seen)})
    return nodes


def _fill(tree: Tree, nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        label = node["key"] + (" [grey50](above)[/]" if node.get("repeated") else "")
        _fill(tree.add(label), node["children"])
