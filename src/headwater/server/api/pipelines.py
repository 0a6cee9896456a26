"""``/api/v1/pipelines``: pipelines, their graphs, pausing, and triggering runs."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from headwater.authoring.params import convert_params
from headwater.authoring.pipeline import Pipeline
from headwater.engine.runs import create_run
from headwater.errors import RunExistsError
from headwater.reporting import iso_or_none, run_json
from headwater.schedules.intervals import parse_logical_date
from headwater.server.api.deps import AUTH_ERRORS, Context, Operator, Viewer, definition
from headwater.server.context import ServerContext
from headwater.server.layout import layout
from headwater.server.paging import CursorQuery, LimitQuery, Page, decode_cursor, page_of
from headwater.server.problems import ApiProblem, problem_responses
from headwater.store.sql import api_queries

router = APIRouter(tags=["pipelines"])

LAST_RUNS_IN_LIST = 5
LAST_RUNS_IN_DETAIL = 25
PipelineId = Annotated[str, Path(min_length=1, max_length=250)]


class PausedChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paused: bool = Field(description="True: no scheduled runs until unpaused.")


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    logical_date: str | None = Field(
        default=None,
        max_length=100,
        description="An ISO date or datetime, in the pipeline's time zone if it has none "
        "(default: now).",
    )
    params: dict[str, Any] | None = Field(
        default=None, description="Overrides of declared params, checked as the CLI does."
    )


def next_run(pipeline: Pipeline | None, now: datetime) -> dict[str, str] | None:
    """The next scheduled interval: its logical date, data interval, and when it runs."""
    timetable = None if pipeline is None else pipeline.timetable
    if timetable is None:
        return None
    try:
        latest = timetable.latest_complete(now)
        upcoming = (
            timetable.next_after(latest.logical_date)
            if latest is not None
            else next(timetable.intervals_from(timetable.start or now), None)
        )
    except (OverflowError, ValueError):  # past the end of the calendar
        return None
    if upcoming is None:
        return None
    return {
        "logical_date": upcoming.logical_date.isoformat(),
        "data_interval_start": upcoming.start.isoformat(),
        "data_interval_end": upcoming.end.isoformat(),
        "run_after": upcoming.end.isoformat(),
    }


def freshness(limit: timedelta | None, newest: datetime | None, now: datetime) -> dict[str, Any]:
    """The age of the newest successfully processed interval (``newest``: its end), and
    whether it is stale: older than ``limit`` (``@pipeline(freshness=...)``), or never."""
    age = None if newest is None else (now - newest).total_seconds()
    return {
        "newest_interval_end": iso_or_none(newest),
        "age_seconds": age,
        "limit_seconds": None if limit is None else limit.total_seconds(),
        "stale": limit is not None and (newest is None or now - newest > limit),
    }


def _summary(
    context: ServerContext,
    row: Any,
    last: list[dict[str, Any]],
    newest: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    loaded = None if context.registry is None else context.registry.definition(row.pipeline_id)
    return {
        "pipeline_id": row.pipeline_id,
        "description": row.description,
        "schedule": row.schedule,
        "timezone": row.timezone,
        "paused": bool(row.paused),
        "loaded": loaded is not None,
        "tags": [] if loaded is None else list(loaded.tags),
        "next_run": next_run(loaded, now),
        "last_runs": [{**item, "logical_date": iso_or_none(item["logical_date"])} for item in last],
        "freshness": freshness(None if loaded is None else loaded.freshness, newest, now),
    }


@router.get("/pipelines", response_model=Page, responses=problem_responses(*AUTH_ERRORS, 422))
def list_pipelines(
    context: Context, _who: Viewer, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page:
    """Pipelines by id, each with its last runs, next run, freshness and tags."""
    key = decode_cursor(cursor, 1)
    now = context.clock.now()
    with context.store.engine.connect() as connection:
        rows = api_queries.pipelines_page(
            connection, limit=limit + 1, after=None if key is None else str(key[0])
        )
        ids = [row.pipeline_id for row in rows[:limit]]
        last = api_queries.last_runs(connection, ids, LAST_RUNS_IN_LIST)
        newest = api_queries.newest_success(connection, ids)
    items = [
        _summary(context, row, last.get(row.pipeline_id, []), newest.get(row.pipeline_id), now)
        for row in rows
    ]
    return page_of(items, limit, lambda item: [item["pipeline_id"]])


def pipeline_document(context: ServerContext, pipeline_id: str) -> dict[str, Any]:
    record = context.store.get_pipeline(pipeline_id)
    now = context.clock.now()
    with context.store.engine.connect() as connection:
        last = api_queries.last_runs(connection, [pipeline_id], LAST_RUNS_IN_DETAIL)
        newest = api_queries.newest_success(connection, [pipeline_id])
    document = _summary(context, record, last.get(pipeline_id, []), newest.get(pipeline_id), now)
    loaded = None if context.registry is None else context.registry.definition(pipeline_id)
    document.update(
        {
            "source_file": record.source_file,
            "updated_at": iso_or_none(record.updated_at),
            "removed_at": iso_or_none(record.removed_at),
            "tasks": len(record.graph.get("tasks", [])),
            "params": None if loaded is None else jsonable_encoder(loaded.params),
            "max_active_runs": None if loaded is None else loaded.max_active_runs,
            "catchup": None if loaded is None else loaded.catchup,
        }
    )
    return document


@router.get("/pipelines/{pipeline_id}", responses=problem_responses(*AUTH_ERRORS, 404, 422))
def get_pipeline(context: Context, _who: Viewer, pipeline_id: PipelineId) -> dict[str, Any]:
    """A pipeline: schedule, time zone, paused, next run, params with their defaults,
    last runs, freshness and tags."""
    return pipeline_document(context, pipeline_id)


@router.patch("/pipelines/{pipeline_id}", responses=problem_responses(*AUTH_ERRORS, 404, 422))
def patch_pipeline(
    context: Context, _who: Operator, pipeline_id: PipelineId, change: PausedChange
) -> dict[str, Any]:
    """Pause or unpause a pipeline: a paused pipeline gets no scheduled runs."""
    context.store.set_paused(pipeline_id, change.paused)
    return pipeline_document(context, pipeline_id)


LAYER_GAP = 240  # graph positions: x distance between layers
ROW_GAP = 60  # y distance between tasks of one layer


def _group(task_id: str, base_id: str) -> str | None:
    if task_id == base_id or "." not in task_id:
        return None
    return task_id.rsplit(".", 1)[0]


def graph_document(context: ServerContext, pipeline_id: str) -> dict[str, Any]:
    record = context.store.get_pipeline(pipeline_id)
    loaded = None if context.registry is None else context.registry.definition(pipeline_id)
    nodes = {} if loaded is None else {node.task_id: node for node in loaded.plan.nodes}
    stored = [task for task in record.graph.get("tasks", []) if isinstance(task, dict)]
    shape = [(str(task["task_id"]), [str(u) for u in task.get("upstream", [])]) for task in stored]
    laid_out = layout(record.graph)
    positions = {
        task_id: (x * LAYER_GAP, y * ROW_GAP)
        for task_id, x, y in zip(laid_out["ids"], laid_out["x"], laid_out["y"], strict=True)
    }
    tasks = []
    for task in stored:
        task_id = str(task["task_id"])
        node = nodes.get(task_id)
        x, y = positions[task_id]
        tasks.append(
            {
                "task_id": task_id,
                "kind": task.get("kind"),
                "group": None if node is None else _group(task_id, node.base_id),
                "trigger_rule": task.get("trigger_rule"),
                "pool": None if node is None else node.options.pool,
                "mapped": task.get("mapped", False),
                "position": {"x": x, "y": y},
            }
        )
    edges = [[parent, task_id] for task_id, upstream in shape for parent in upstream]
    return {
        "pipeline_id": pipeline_id,
        "version": laid_out["hash"],
        "tasks": tasks,
        "edges": edges,
    }


@router.get(
    "/pipelines/{pipeline_id}/graph",
    responses={
        **problem_responses(*AUTH_ERRORS, 404, 422),
        304: {"description": "Not modified: the If-None-Match ETag is current."},
    },
)
def get_graph(
    context: Context, _who: Viewer, pipeline_id: PipelineId, request: Request
) -> Response:
    """Tasks (group, trigger rule, pool, position) and edges ``[upstream, downstream]``.

    Positions are laid out on the server once per graph version; the ETag changes with
    the graph, so a client sends ``If-None-Match`` and gets 304 while it is current.
    """
    document = graph_document(context, pipeline_id)
    body = json.dumps(document, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/pipelines/{pipeline_id}/runs",
    status_code=201,
    responses=problem_responses(*AUTH_ERRORS, 404, 409, 422),
)
def trigger(
    context: Context,
    who: Operator,
    pipeline_id: PipelineId,
    request: Annotated[TriggerRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Queue a run for a scheduler to drive, as ``headwater trigger`` does.

    409 (with ``run_id``) when the logical date has a run already; 422 for params or a
    date the CLI would refuse.
    """
    pipeline = definition(context, pipeline_id)
    asked = request or TriggerRequest()
    params = convert_params(pipeline_id, pipeline.params, asked.params or {})
    logical_date = (
        None
        if asked.logical_date is None
        else parse_logical_date(asked.logical_date, pipeline.zone)[0]
    )
    try:
        run = create_run(
            context.store,
            pipeline,
            clock=context.clock,
            logical_date=logical_date,
            params=params,
            triggered_by=f"api:{who.name}",
        )
    except RunExistsError as exists:
        raise ApiProblem(
            409,
            f"{exists}; retry it (POST /api/v1/runs/{exists.run_id}/retry) or clear its tasks",
            run_id=exists.run_id,
        ) from None
    return run_json(run)
