"""The pages of the web UI: pipelines, a pipeline, a run, pools, backfills and health."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from headwater.accounts import Principal
from headwater.alerts.watchers import watched
from headwater.authoring.pipeline import Pipeline
from headwater.reporting import tries_shown
from headwater.schedules.timetables import DataInterval
from headwater.server.api.pipelines import freshness
from headwater.server.ui import queries
from headwater.server.ui.common import NotFound, context, found, render, viewer
from headwater.store.sql import outbox

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(viewer)]

STRIP_RUNS = 12  # runs shown in each pipeline's strip
ALIVE_WITHIN = timedelta(minutes=2)  # a scheduler that beat this recently is alive


def next_interval(pipeline: Pipeline | None, now: datetime) -> DataInterval | None:
    """The interval the scheduler will create a run for next."""
    if pipeline is None or pipeline.timetable is None:
        return None
    timetable = pipeline.timetable
    latest = timetable.latest_complete(now)
    if latest is None:
        return next(timetable.intervals_from(now), None)
    return timetable.next_after(latest.logical_date)


@router.get("/", response_class=HTMLResponse)
def pipelines_page(
    request: Request,
    principal: Viewer,
    q: str = "",
    state: str = "",
    tag: str = "",
    paused: str = "",
    after: str | None = None,
) -> HTMLResponse:
    ctx = context(request)
    now = ctx.clock.now()
    limit = 500
    with ctx.store.engine.connect() as connection:
        rows = queries.pipeline_rows(connection, search=q.strip(), after=after, limit=limit)
        latest = queries.strips(connection, [row.pipeline_id for row in rows], STRIP_RUNS)
    next_cursor = rows[-1].pipeline_id if len(rows) == limit else None
    items: list[dict[str, Any]] = []
    all_tags: set[str] = set()
    for row in rows:
        definition = ctx.pipeline(row.pipeline_id)
        tags = list(definition.tags) if definition is not None else []
        all_tags.update(tags)
        strip = latest[row.pipeline_id]
        if state and strip.last_state != state:
            continue
        if tag and tag not in tags:
            continue
        if paused and (paused == "yes") != row.paused:
            continue
        upcoming = None if row.paused else next_interval(definition, now)
        allowed = row.freshness if definition is None else definition.freshness
        items.append(
            {
                "row": row,
                "tags": tags,
                "strip": strip,
                "next": upcoming,
                "loaded": definition is not None,
                "freshness": freshness(allowed, row.newest_success_end, now),
            }
        )
    return render(
        request,
        "pipelines.html",
        principal,
        items=items,
        q=q,
        state=state,
        tag=tag,
        paused=paused,
        tags=sorted(all_tags),
        next_cursor=next_cursor,
    )


@router.get("/pipelines/{pipeline_id}", response_class=HTMLResponse)
def pipeline_page(request: Request, pipeline_id: str, principal: Viewer) -> HTMLResponse:
    ctx = context(request)
    record = found(lambda: ctx.store.get_pipeline(pipeline_id))
    definition = ctx.pipeline(pipeline_id)
    now = ctx.clock.now()
    intervals: list[DataInterval] = []
    if definition is not None and definition.timetable is not None:
        first = next_interval(definition, now)
        if first is not None:
            intervals = [first, *islice(definition.timetable.intervals_from(first.end), 4)]
    with ctx.store.engine.connect() as connection:
        recent = queries.run_window(connection, pipeline_id, before=None, limit=10)
        newest = outbox.newest_success_end(connection, pipeline_id)
    stored = watched(record, None).freshness
    limit = stored if definition is None else definition.freshness
    return render(
        request,
        "pipeline.html",
        principal,
        record=record,
        definition=definition,
        params=dict(definition.params) if definition is not None else {},
        intervals=intervals,
        recent=recent,
        task_count=len(record.graph.get("tasks", [])),
        freshness=freshness(limit, newest, now),
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, principal: Viewer) -> HTMLResponse:
    ctx = context(request)
    run = found(lambda: ctx.store.get_run(run_id))
    with ctx.store.engine.connect() as connection:
        counts = queries.state_counts(connection, run_id)
    return render(
        request,
        "run.html",
        principal,
        run=run,
        counts=counts,
        total=sum(counts.values()),
        loaded=ctx.pipeline(run.pipeline_id) is not None,
    )


@router.get("/ui/runs/{run_id}/tasks", response_class=HTMLResponse)
def task_table(
    request: Request,
    run_id: str,
    principal: Viewer,
    state: str = "",
    q: str = "",
    after: str | None = None,
    after_index: int = -1,
) -> HTMLResponse:
    """The run's task table, a keyset page at a time (a fragment for htmx)."""
    ctx = context(request)
    limit = 200
    with ctx.store.engine.connect() as connection:
        rows = queries.task_page(
            connection,
            run_id,
            state=state,
            search=q.strip(),
            after=None if after is None else (after, after_index),
            limit=limit,
        )
    last = rows[-1] if len(rows) == limit else None
    return render(
        request,
        "_tasks.html",
        principal,
        run_id=run_id,
        rows=rows,
        state=state,
        q=q,
        more=None if last is None else {"after": last.task_id, "after_index": last.map_index},
    )


@router.get("/ui/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
def task_detail(
    request: Request,
    run_id: str,
    task_id: str,
    principal: Viewer,
    map_index: Annotated[int, Query()] = -1,
) -> HTMLResponse:
    """A task's tries with their errors, and the log of the one chosen (a fragment)."""
    ctx = context(request)
    run = found(lambda: ctx.store.get_run(run_id))
    with ctx.store.engine.connect() as connection:
        instance = queries.task_instance(connection, run_id, task_id, map_index)
    if instance is None:
        raise NotFound(f"run {run_id!r} has no task {task_id!r}")
    tries = ctx.store.get_tries(run_id, task_id, map_index)
    return render(
        request,
        "_task.html",
        principal,
        run=run,
        instance=instance,
        tries=tries,
        shown=tries_shown(instance),
    )


@router.get("/pools", response_class=HTMLResponse)
def pools_page(request: Request, principal: Viewer) -> HTMLResponse:
    ctx = context(request)
    now = ctx.clock.now()
    with ctx.store.engine.connect() as connection:
        waiting = queries.waiting_tries(connection)
    return render(
        request, "pools.html", principal, pools=ctx.store.list_pools(now), waiting=waiting
    )


@router.get("/backfills", response_class=HTMLResponse)
def backfills_page(request: Request, principal: Viewer) -> HTMLResponse:
    ctx = context(request)
    found = ctx.store.list_backfills(limit=100)
    with ctx.store.engine.connect() as connection:
        counts = queries.backfill_counts(connection, [b.backfill_id for b in found])
    return render(request, "backfills.html", principal, backfills=found, counts=counts)


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request, principal: Viewer) -> HTMLResponse:
    ctx = context(request)
    now = ctx.clock.now()
    beats = ctx.store.heartbeats(limit=50)
    return render(
        request,
        "health.html",
        principal,
        beats=beats,
        now=now,
        alive_after=now - ALIVE_WITHIN,
        errors=ctx.registry.errors if ctx.registry is not None else {},
    )
