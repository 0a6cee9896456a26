"""``/api/v1/assets``: assets, their partitions, materializations and checks; materializing.

An asset key holds ``/`` (``sales/orders_raw``) and is written as is in the path. The
routes below an asset (``/partitions``, ``/materializations``, ``/materialize``) are
matched first, so an asset whose key ends with one of those names is read from the list.
Everything is read from the store; materializing needs the loaded definitions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from headwater.asset_status import PartitionStatus
from headwater.assets.graph import AssetGraph
from headwater.errors import ConfigError
from headwater.reporting import backfill_json
from headwater.scheduling.asset_backfill import AssetReprocess, Redo, step_json
from headwater.scheduling.backfill import DEFAULT_MAX_ACTIVE_RUNS
from headwater.server.api.deps import AUTH_ERRORS, Context, Operator, Viewer
from headwater.server.asset_documents import (
    asset_document,
    get_record,
    key_of,
    materialization_json,
    status_json,
    statuses,
    summaries,
)
from headwater.server.context import ServerContext
from headwater.server.materialize import (
    NotLoaded,
    action_counts,
    loaded_registry,
    plan_materialize,
    plan_steps,
    queue_run,
    record_backfill,
)
from headwater.server.paging import CursorQuery, LimitQuery, Page, decode_cursor, page_of
from headwater.server.problems import ApiProblem, problem_responses
from headwater.store.sql import asset_reads
from headwater.store.sql import assets as asset_queries

router = APIRouter(tags=["assets"])

AssetKeyPath = Annotated[
    str, Path(min_length=1, max_length=250, description="The asset key, parts joined by '/'.")
]
READ_ERRORS = problem_responses(*AUTH_ERRORS, 404, 422)


def loaded_graph(context: ServerContext) -> AssetGraph | None:
    return None if context.registry is None else context.registry.catalog.graph


@router.get("/assets", response_model=Page, responses=problem_responses(*AUTH_ERRORS, 422))
def list_assets(
    context: Context,
    _who: Viewer,
    q: Annotated[str, Query(max_length=200, description="Found in the key or description.")] = "",
    group: Annotated[str | None, Query(max_length=250)] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page:
    """Assets by key, each with its group, partitions, last materialization, freshness
    (``age_seconds``, ``stale``, ``limit_seconds``, ``data_until``) and a summary of its
    checks' latest results."""
    key = decode_cursor(cursor, 1)
    now = context.clock.now()
    graph = loaded_graph(context)
    with context.store.engine.connect() as connection:
        records = asset_reads.assets_page(
            connection,
            limit=limit + 1,
            after=None if key is None else str(key[0]),
            search=q.strip(),
            group=group,
        )
        loaded = {r.asset_key for r in records if graph and key_of(r.asset_key) in graph.assets}
        items = summaries(connection, records, now, loaded)
    return page_of(items, limit, lambda item: [item["key"]])


@router.get("/assets/{key:path}/partitions", response_model=Page, responses=READ_ERRORS)
def list_partitions(
    context: Context,
    _who: Viewer,
    key: AssetKeyPath,
    status: Annotated[str | None, Query(pattern="^(materialized|failed|missing|stale)$")] = None,
    limit: LimitQuery = 1000,
    cursor: CursorQuery = None,
) -> Page:
    """The status matrix: each partition (in the definition's order, oldest first for
    time partitions) with ``status`` (materialized, failed, missing, stale),
    ``materialized_at`` and ``run_id``. An unpartitioned asset has one, ``partition``
    null."""
    after = decode_cursor(cursor, 1)
    with context.store.engine.connect() as connection:
        record = get_record(connection, key)
        found = statuses(connection, record, loaded_graph(context), context.clock.now())
    start = 0
    if after is not None:
        start = _position(found, str(after[0])) + 1
    chosen = [s for s in found[start:] if status is None or s.status == status]
    items = [status_json(s) for s in chosen[: limit + 1]]
    return page_of(items, limit, lambda item: [item["partition"] or ""])


def _position(found: list[PartitionStatus], partition: str) -> int:
    for index, status in enumerate(found):
        if (status.partition_key or "") == partition:
            return index
    raise ApiProblem(422, "invalid cursor: no such partition; pass the next_cursor as is")


@router.get("/assets/{key:path}/materializations", response_model=Page, responses=READ_ERRORS)
def list_materializations(
    context: Context,
    _who: Viewer,
    key: AssetKeyPath,
    partition: Annotated[str | None, Query(max_length=250)] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page:
    """Materializations newest first (written, or ``failed``: refused by a blocking
    check), each with its metadata and the results of its checks."""
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], int):
        raise ApiProblem(422, "invalid cursor; pass the next_cursor of the previous page")
    with context.store.engine.connect() as connection:
        get_record(connection, key)
        found = asset_queries.materializations(
            connection,
            key,
            partition_key=partition,
            before_id=None if after is None else int(after[0]),
            limit=limit + 1,
        )
        checks = asset_queries.check_results(
            connection, key, materialization_ids=[m.id for m in found], limit=50 * len(found)
        )
    by_materialization: dict[int, list[Any]] = {}
    for result in checks:
        by_materialization.setdefault(result.materialization_id, []).append(result)
    items = [materialization_json(m, by_materialization.get(m.id, [])) for m in found]
    return page_of(items, limit, lambda item: [item["id"]])


class MaterializeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partition: str | None = Field(
        default=None, max_length=250, description="One partition: a run is queued."
    )
    partitions: str | None = Field(
        default=None,
        max_length=520,
        description="A range FIRST..LAST (both included; an end left out: the first or the "
        "last partition so far): a backfill is recorded.",
    )
    upstream: bool = Field(default=False, description="Also what the asset reads from.")
    downstream: bool = Field(default=False, description="Also what reads it.")
    reprocess: Redo = Field(
        default=Redo.ALL,
        description="For a range: which partitions materialized already to materialize "
        "again (missing: none; failed: those a blocking check refused; all: every one).",
    )
    stale: bool = Field(default=False, description="For a range: stale partitions too.")
    max_active_runs: int = Field(
        default=DEFAULT_MAX_ACTIVE_RUNS, ge=1, le=10_000, description="For a range."
    )
    dry_run: bool = Field(default=False, description="Return the plan; change nothing.")


@router.post(
    "/assets/{key:path}/materialize",
    status_code=201,
    responses={
        **problem_responses(*AUTH_ERRORS, 404, 409, 422),
        200: {"description": "The plan of a dry run: one object per partition."},
        201: {"description": "The run queued, or the backfill recorded and its plan."},
    },
)
def materialize(
    context: Context,
    who: Operator,
    key: AssetKeyPath,
    request: Annotated[MaterializeRequest | None, Body()] = None,
) -> JSONResponse:
    """Materialize the asset (with ``upstream``/``downstream``, what is above or below it
    too) as ``headwater materialize`` does, leaving the work to a running scheduler.

    One ``partition`` (or an unpartitioned asset): a run is queued (``run``, with
    ``outcome`` created; rerun, the finished run of the same time partition reset; or
    active, one already queued or running). A range of ``partitions``: a backfill of
    assets is recorded, as ``headwater backfill --asset --detach`` records it, and its
    plan returned. 409 when the server has not loaded the asset, or a running backfill
    has those partitions already; 422 for partitions the definition does not have.
    """
    asked = request or MaterializeRequest()
    store, now = context.store, context.clock.now()
    try:
        registry = loaded_registry(context.registry, store, key)
        plan = plan_materialize(
            registry,
            store,
            key,
            partition=asked.partition,
            partitions=asked.partitions,
            upstream=asked.upstream,
            downstream=asked.downstream,
            now=now,
        )
    except NotLoaded as exc:
        raise ApiProblem(409, str(exc)) from None
    reprocess = AssetReprocess(redo=asked.reprocess, stale=asked.stale)
    if asked.dry_run:
        steps = plan_steps(store, plan, reprocess, now)
        return JSONResponse({**plan.json(), "actions": action_counts(steps), "plan": steps})
    if not plan.is_range:
        queued = queue_run(store, context.clock, plan, triggered_by=f"api:{who.name}")
        return JSONResponse({**plan.json(), "run": queued.json()}, status_code=201)
    try:
        record, planned = record_backfill(
            store, plan, now=now, reprocess=reprocess, max_active_runs=asked.max_active_runs
        )
    except ConfigError as exc:  # a running backfill has some of these partitions
        raise ApiProblem(409, str(exc)) from None
    body = {
        **plan.json(),
        "backfill": backfill_json(record),
        "plan": [step_json(s) for s in planned],
    }
    return JSONResponse(body, status_code=201)


@router.get("/assets/{key:path}", responses=READ_ERRORS)
def get_asset(context: Context, _who: Viewer, key: AssetKeyPath) -> dict[str, Any]:
    """An asset: its definition (group, tags, upstream, downstream, partitions, checks,
    freshness, automation, IO manager), its partitions counted by status, its checks'
    latest results, its last materialization and its freshness."""
    with context.store.engine.connect() as connection:
        record = get_record(connection, key)
        return asset_document(connection, record, loaded_graph(context), context.clock.now())
