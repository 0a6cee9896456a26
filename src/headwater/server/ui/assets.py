"""The assets pages of the web UI: the list (``/assets``) and an asset (``/assets/KEY``).

Both are read from the store, a keyset page at a time: the list costs three grouped
queries for the 200 assets shown however many there are, and an asset's partition
matrix and lineage are canvases fed by ``asset_data``'s compact endpoints.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from headwater.accounts import Principal
from headwater.assets.graph import AssetGraph
from headwater.server.asset_documents import (
    asset_document,
    check_json,
    get_record,
    key_of,
    materialization_json,
    summaries,
)
from headwater.server.context import ServerContext
from headwater.server.ui.common import context, found, render, viewer
from headwater.store.records import CheckResultRecord
from headwater.store.sql import asset_reads
from headwater.store.sql import assets as asset_queries

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(viewer)]

PAGE = 200  # assets per page of the list
HISTORY = 20  # materializations per page of an asset
CHECK_HISTORY = 20  # results shown per check
MAX_SEARCH = 200


def loaded_graph(ctx: ServerContext) -> AssetGraph | None:
    return None if ctx.registry is None else ctx.registry.catalog.graph


@router.get("/assets", response_class=HTMLResponse)
def assets_page(
    request: Request,
    principal: Viewer,
    q: str = "",
    group: str = "",
    after: str | None = None,
) -> HTMLResponse:
    ctx = context(request)
    graph = loaded_graph(ctx)
    search = q.strip()[:MAX_SEARCH]
    with ctx.store.engine.connect() as connection:
        records = asset_reads.assets_page(
            connection, limit=PAGE + 1, after=after, search=search, group=group or None
        )
        shown = records[:PAGE]
        loaded = {r.asset_key for r in shown if graph and key_of(r.asset_key) in graph.assets}
        items = summaries(connection, shown, ctx.clock.now(), loaded)
        groups = asset_reads.group_counts(connection)
    return render(
        request,
        "assets.html",
        principal,
        items=items,
        groups=groups,
        q=search,
        group=group,
        next_after=shown[-1].asset_key if len(records) > PAGE else None,
    )


def check_history(results: list[CheckResultRecord]) -> dict[str, list[dict[str, Any]]]:
    """The newest results of each check (newest first), by check name."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        kept = by_name.setdefault(result.check_name, [])
        if len(kept) < CHECK_HISTORY:
            kept.append(check_json(result))
    return by_name


@router.get("/assets/{key:path}", response_class=HTMLResponse)
def asset_page(
    request: Request, key: str, principal: Viewer, before: int | None = None
) -> HTMLResponse:
    ctx = context(request)
    graph = loaded_graph(ctx)
    with ctx.store.engine.connect() as connection:
        record = found(lambda: get_record(connection, key))
        document = asset_document(connection, record, graph, ctx.clock.now())
        history = asset_queries.materializations(
            connection, key, before_id=before, limit=HISTORY + 1
        )
        shown = history[:HISTORY]
        results = asset_queries.check_results(
            connection, key, materialization_ids=[m.id for m in shown], limit=50 * HISTORY
        )
        checks = check_history(asset_queries.check_results(connection, key, limit=500))
    by_materialization: dict[int, list[CheckResultRecord]] = {}
    for result in results:
        by_materialization.setdefault(result.materialization_id, []).append(result)
    return render(
        request,
        "asset.html",
        principal,
        asset=document,
        partitioned=bool(document["partitions_definition"]),
        history=[materialization_json(m, by_materialization.get(m.id, [])) for m in shown],
        older=shown[-1].id if len(history) > HISTORY else None,
        newer=before is not None,
        check_history=checks,
    )
