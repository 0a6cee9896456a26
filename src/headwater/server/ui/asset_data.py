"""Compact data the asset page's canvases draw: one request per view, never per partition.

- ``/ui/data/assets/{key}/matrix``: every partition's key and one character per status
  (``m`` materialized, ``f`` failed, ``.`` missing, ``s`` stale), in order; 3,650 daily
  partitions are about 50 KB.
- ``/ui/data/assets/{key}/lineage``: the asset's neighbourhood (everything above and
  below it, or the whole graph when it is small), laid out on the server as a pipeline's
  graph is, with one state character per asset (its latest materialization).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Connection

from headwater.accounts import Principal
from headwater.server.asset_documents import STATUS_CODES, get_record, status_counts, statuses
from headwater.server.layout import layout
from headwater.server.ui.assets import loaded_graph
from headwater.server.ui.common import context, found, viewer
from headwater.store.records import MaterializationRecord
from headwater.store.sql import asset_reads

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(viewer)]

WHOLE_GRAPH = 150  # a registry of at most this many assets is drawn whole
NEIGHBOURHOOD = 400  # otherwise, at most this many assets around the one shown


@router.get("/ui/data/assets/{key:path}/matrix")
def matrix(request: Request, key: str, _principal: Viewer) -> dict[str, Any]:
    ctx = context(request)
    with ctx.store.engine.connect() as connection:
        record = found(lambda: get_record(connection, key))
        every = statuses(connection, record, loaded_graph(ctx), ctx.clock.now())
    return {
        "key": key,
        "partitioned": bool(record.definition.get("partitions")),
        "keys": [status.partition_key or "" for status in every],
        "states": "".join(STATUS_CODES[status.status] for status in every),
        # the run of each partition that has one, by position (a click opens it)
        "runs": {str(i): status.run_id for i, status in enumerate(every) if status.run_id},
        "counts": status_counts(every),
    }


def neighbourhood(connection: Connection, key: str) -> dict[str, dict[str, Any]]:
    """The recorded definitions of the assets above and below ``key`` (breadth first,
    up to ``NEIGHBOURHOOD``), or of every asset in a small registry; ``key`` first."""
    if asset_reads.asset_count(connection) <= WHOLE_GRAPH:
        every = asset_reads.all_definitions(connection)
        return {key: every[key], **every} if key in every else every
    reached = asset_reads.definitions_of(connection, [key])
    for direction in ("upstream", "downstream"):
        frontier = [key] if key in reached else []
        while frontier and len(reached) < NEIGHBOURHOOD:
            wanted = [
                other
                for item in frontier
                for other in reached[item].get(direction, [])
                if other not in reached
            ]
            new = asset_reads.definitions_of(connection, wanted[: NEIGHBOURHOOD - len(reached)])
            reached.update(new)
            frontier = list(new)
    return reached


def state_code(attempt: MaterializationRecord | None) -> str:
    """An asset's colour in the lineage: its latest materialization's outcome."""
    if attempt is None:
        return "n"  # never materialized
    return "s" if attempt.status == "materialized" else "f"


@router.get("/ui/data/assets/{key:path}/lineage")
def lineage(request: Request, key: str, _principal: Viewer) -> dict[str, Any]:
    ctx = context(request)
    with ctx.store.engine.connect() as connection:
        found(lambda: get_record(connection, key))
        definitions = neighbourhood(connection, key)
        attempts = asset_reads.latest_attempts(connection, list(definitions))
    description = {
        "tasks": [
            {
                "task_id": name,
                "upstream": [up for up in item.get("upstream", []) if up in definitions],
            }
            for name, item in definitions.items()
        ]
    }
    laid_out = layout(description)
    return {
        **laid_out,
        "states": "".join(state_code(attempts.get(name)) for name in laid_out["ids"]),
        "total": len(definitions),
    }
