"""``/api/v1/backfills``: plan (dry run), record and list backfills.

A backfill recorded here is detached, as ``headwater backfill --detach`` makes it: a
running scheduler takes it and makes its runs, a few at a time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from headwater.authoring.params import convert_params
from headwater.errors import ConfigError
from headwater.reporting import backfill_json
from headwater.scheduling.backfill import (
    DEFAULT_MAX_ACTIVE_RUNS,
    BackfillState,
    Reprocess,
    plan_backfill,
    range_bounds,
    record_backfill,
    step_json,
)
from headwater.server.api.deps import AUTH_ERRORS, Context, Operator, Viewer, definition, iso_key
from headwater.server.paging import CursorQuery, LimitQuery, Page, decode_cursor, page_of
from headwater.server.problems import problem_responses
from headwater.store.sql import api_queries

router = APIRouter(tags=["backfills"])


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: str = Field(min_length=1, max_length=250)
    start: str = Field(min_length=1, max_length=100, description="First logical date (included).")
    end: str = Field(min_length=1, max_length=100, description="Last logical date (included).")
    reprocess: Reprocess = Field(
        default=Reprocess.FAILED,
        description="Which intervals that have a finished run to run again.",
    )
    max_active_runs: int = Field(default=DEFAULT_MAX_ACTIVE_RUNS, ge=1, le=10_000)
    reverse: bool = Field(default=False, description="Newest interval first.")
    params: dict[str, Any] | None = None
    dry_run: bool = Field(default=False, description="Return the plan; change nothing.")


@router.post(
    "/backfills",
    status_code=201,
    responses={
        **problem_responses(*AUTH_ERRORS, 404, 409, 422),
        200: {"description": "The plan of a dry run: one object per interval."},
        201: {"description": "The recorded backfill, and its plan."},
    },
)
def create_backfill(context: Context, _who: Operator, request: BackfillRequest) -> JSONResponse:
    """Plan a backfill (``dry_run``: 200 with the objects of ``backfill --dry-run --json``)
    or record it for a scheduler (201)."""
    pipeline = definition(context, request.pipeline)
    params = convert_params(pipeline.pipeline_id, pipeline.params, request.params or {})
    first, last = range_bounds(request.start, request.end, pipeline.zone)
    now = context.clock.now()
    steps = plan_backfill(
        pipeline, context.store, first, last, request.reprocess, now=now, reverse=request.reverse
    )
    if not steps:
        raise ConfigError(
            f"no interval of pipeline {pipeline.pipeline_id!r} has a logical date from "
            f"{request.start} to {request.end}; check the range, and the pipeline's schedule, "
            "start and end"
        )
    plan = [step_json(step) for step in steps]
    if request.dry_run:
        return JSONResponse(plan)
    record = record_backfill(
        context.store,
        pipeline,
        first,
        last,
        now=now,
        max_active_runs=request.max_active_runs,
        reprocess=request.reprocess,
        reverse=request.reverse,
        params=params,
    )
    return JSONResponse({**backfill_json(record), "intervals": plan}, status_code=201)


@router.get("/backfills", response_model=Page, responses=problem_responses(*AUTH_ERRORS, 422))
def list_backfills(
    context: Context,
    _who: Viewer,
    pipeline: Annotated[str | None, Query(max_length=250)] = None,
    state: BackfillState | None = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page:
    """Backfills, newest first."""
    key = decode_cursor(cursor, 2)
    after = None if key is None else (iso_key(key[0]), str(key[1]))
    with context.store.engine.connect() as connection:
        found = api_queries.backfills_page(
            connection,
            limit=limit + 1,
            after=after,
            pipeline_id=pipeline,
            state=None if state is None else state.value,
        )
    items = [backfill_json(record) for record in found]
    return page_of(items, limit, lambda item: [item["created_at"], item["backfill_id"]])


class BackfillCancel(BaseModel):
    """What to cancel besides the backfill itself."""

    model_config = ConfigDict(extra="forbid")

    runs: bool = Field(
        default=False,
        description="Also cancel the backfill's running runs (its queued ones always are).",
    )
    reason: str | None = Field(default=None, max_length=1000)


BackfillId = Annotated[str, Path(max_length=250)]


@router.post(
    "/backfills/{backfill_id}/cancel", responses=problem_responses(*AUTH_ERRORS, 404, 409, 422)
)
def cancel_backfill(
    context: Context,
    who: Operator,
    backfill_id: BackfillId,
    request: Annotated[BackfillCancel | None, Body()] = None,
) -> dict[str, Any]:
    """End the backfill as ``cancelled``: it starts no more runs, and its queued runs are
    cancelled (its running ones too with ``runs``). 409 if it already ended."""
    request = request or BackfillCancel()
    note = f"cancelled by {who.name} through the API" + (
        f": {request.reason}" if request.reason else ""
    )
    cancelled = context.store.cancel_backfill(
        backfill_id, context.clock.now(), note, with_runs=request.runs
    )
    return {**backfill_json(context.store.get_backfill(backfill_id)), "cancelled_runs": cancelled}
