"""``/api/v1/runs``: list and show runs; retry, clear and cancel them.

Retry and clear reset a finished run to ``queued`` without claiming it, so that a
running scheduler picks it up and drives it (as it does a triggered run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from headwater.engine.runs import prepare_clear, prepare_retry
from headwater.engine.states import RunState
from headwater.errors import ConfigError
from headwater.reporting import iso_or_none, run_document, run_json
from headwater.server.api.deps import (
    AUTH_ERRORS,
    Context,
    Operator,
    Viewer,
    as_utc,
    definition,
    iso_key,
)
from headwater.server.context import ServerContext
from headwater.server.paging import CursorQuery, LimitQuery, Page, decode_cursor, page_of
from headwater.server.problems import ApiProblem, problem_responses
from headwater.store.records import RunRecord
from headwater.store.sql import api_queries

router = APIRouter(tags=["runs"])

RunId = Annotated[str, Path(min_length=1, max_length=250)]
MAX_CLEARED_TASKS = 1000


def run_item(run: RunRecord) -> dict[str, Any]:
    """A run in lists and in the answers of actions: ``runs list --json``'s fields."""
    return {
        **run_json(run),
        "cancel_requested_at": iso_or_none(run.cancel_requested_at),
        "note": run.note,
    }


@router.get("/runs", response_model=Page, responses=problem_responses(*AUTH_ERRORS, 422))
def list_runs(
    context: Context,
    _who: Viewer,
    pipeline: Annotated[str | None, Query(max_length=250)] = None,
    state: RunState | None = None,
    since: Annotated[
        datetime | None, Query(description="Logical dates from this one (included).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Logical dates before this one (excluded).")
    ] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page:
    """Runs, newest first; ``since`` and ``until`` bound the logical date (UTC if no zone)."""
    key = decode_cursor(cursor, 2)
    after = None if key is None else (iso_key(key[0]), str(key[1]))
    with context.store.engine.connect() as connection:
        found = api_queries.runs_page(
            connection,
            limit=limit + 1,
            after=after,
            pipeline_id=pipeline,
            state=None if state is None else state.value,
            since=as_utc(since),
            until=as_utc(until),
        )
    items = [run_item(run) for run in found]
    return page_of(items, limit, lambda item: [item["created_at"], item["run_id"]])


def _document(context: ServerContext, run_id: str) -> dict[str, Any]:
    store = context.store
    run = store.get_run(run_id)
    return run_document(run, store.get_task_instances(run_id), store.get_tries(run_id))


@router.get("/runs/{run_id}", responses=problem_responses(*AUTH_ERRORS, 404, 422))
def get_run(context: Context, _who: Viewer, run_id: RunId) -> dict[str, Any]:
    """The run, its tasks and their tries: the document of ``headwater runs show --json``."""
    return _document(context, run_id)


def _not_running(exc: ConfigError) -> ApiProblem:
    return ApiProblem(409, str(exc))


@router.post("/runs/{run_id}/retry", responses=problem_responses(*AUTH_ERRORS, 404, 409, 422))
def retry(context: Context, _who: Operator, run_id: RunId) -> dict[str, Any]:
    """Reset the failed and upstream-failed tasks of a finished run, and what is below them;
    the run is queued for a scheduler. 409 if it is still running or nothing failed."""
    run = context.store.get_run(run_id)
    pipeline = definition(context, run.pipeline_id)
    try:
        reset = prepare_retry(context.store, pipeline.plan, run_id)
    except ConfigError as exc:
        raise _not_running(exc) from None
    if not reset:
        raise ApiProblem(
            409, f"run {run_id!r} has no failed task to retry; clear tasks to run them again"
        )
    return {**run_item(context.store.get_run(run_id)), "reset": reset}


class ClearRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=1,
        max_length=MAX_CLEARED_TASKS,
        description="Task ids, or task[i] for one instance of a mapped task.",
    )
    downstream: bool = Field(default=False, description="Also reset every task below them.")
    dry_run: bool = Field(default=False, description="Only say what would be reset.")


@router.post("/runs/{run_id}/clear", responses=problem_responses(*AUTH_ERRORS, 404, 409, 422))
def clear(context: Context, _who: Operator, run_id: RunId, request: ClearRequest) -> dict[str, Any]:
    """Reset tasks of a finished run to run again (as ``headwater clear --no-run``); the
    run is queued for a scheduler. With ``dry_run``, only ``reset`` is computed."""
    run = context.store.get_run(run_id)
    pipeline = definition(context, run.pipeline_id)
    try:
        reset = prepare_clear(
            context.store,
            pipeline.plan,
            run_id,
            list(request.tasks),
            downstream=request.downstream,
            dry_run=request.dry_run,
        )
    except ConfigError as exc:
        raise _not_running(exc) from None
    return {**run_item(context.store.get_run(run_id)), "reset": reset, "dry_run": request.dry_run}


@router.post("/runs/{run_id}/cancel", responses=problem_responses(*AUTH_ERRORS, 404, 409, 422))
def cancel(context: Context, who: Operator, run_id: RunId) -> dict[str, Any]:
    """Ask for the run to be cancelled: its driver stops its tries and fails it, with the
    reason recorded as its note. Asking again is a no-op; 409 if it already ended."""
    context.store.request_cancel(
        run_id, context.clock.now(), f"cancelled by {who.name} through the API"
    )
    return run_item(context.store.get_run(run_id))
