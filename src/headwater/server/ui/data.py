"""Compact data the canvases draw, and the log tail: one request per view, never per task.

- ``/ui/data/pipelines/{id}/layout``: the laid-out graph (cached by graph hash, ETag).
- ``/ui/data/runs/{id}/states``: the run's state and one character per task: what the run
  page polls while the run is live (one small request per second for the whole run).
- ``/ui/data/runs/{id}/gantt``: each task's start and end, in seconds from the run's start.
- ``/ui/data/pipelines/{id}/grid``: a keyset window of runs, one state string per run.
- ``/ui/runs/{id}/tasks/{task}/log``: a chunk of a try's log from an offset (htmx).
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from headwater.accounts import Principal
from headwater.server.layout import layout
from headwater.server.ui import queries
from headwater.server.ui.common import NotFound, context, found, templates, viewer

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(viewer)]
LOG_CHUNK = 256 * 1024  # bytes of log sent per request
_grid_cache = queries.StatesCache()


def _pipeline_layout(request: Request, pipeline_id: str) -> dict[str, Any]:
    ctx = context(request)
    record = found(lambda: ctx.store.get_pipeline(pipeline_id))
    return layout(record.graph)


def _order(laid_out: dict[str, Any]) -> dict[str, int]:
    return {task_id: i for i, task_id in enumerate(laid_out["ids"])}


@router.get("/ui/data/pipelines/{pipeline_id}/layout")
def layout_data(request: Request, pipeline_id: str, _principal: Viewer) -> Response:
    laid_out = _pipeline_layout(request, pipeline_id)
    etag = f'"{laid_out["hash"]}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(laid_out, headers={"ETag": etag, "Cache-Control": "private, no-cache"})


@router.get("/ui/data/runs/{run_id}/states")
def run_states(request: Request, run_id: str, _principal: Viewer) -> dict[str, Any]:
    ctx = context(request)
    run = found(lambda: ctx.store.get_run(run_id))
    laid_out = _pipeline_layout(request, run.pipeline_id)
    with ctx.store.engine.connect() as connection:
        states = queries.run_states(connection, run_id, _order(laid_out))
        counts = queries.state_counts(connection, run_id)
    return {
        "run_id": run_id,
        "state": run.state,
        "hash": laid_out["hash"],
        "states": states,
        "counts": counts,
        "cancel_requested": run.cancel_requested_at is not None,
        "note": run.note,
        "finished": run.state in queries.FINISHED,
    }


@router.get("/ui/data/runs/{run_id}/gantt")
def run_gantt(request: Request, run_id: str, _principal: Viewer) -> dict[str, Any]:
    ctx = context(request)
    run = found(lambda: ctx.store.get_run(run_id))
    laid_out = _pipeline_layout(request, run.pipeline_id)
    with ctx.store.engine.connect() as connection:
        timing = queries.task_timing(connection, run_id)
        states = queries.run_states(connection, run_id, _order(laid_out))
    starts = [t[0] for t in timing.values() if t[0] is not None]
    origin = min(starts) if starts else (run.started_at or run.created_at)
    now = ctx.clock.now()

    def offset(moment: datetime | None) -> float | None:
        return None if moment is None else round((moment - origin).total_seconds(), 3)

    begin: list[float | None] = []
    end: list[float | None] = []
    for task_id in laid_out["ids"]:
        started, ended = timing.get(task_id, (None, None))
        begin.append(offset(started))
        end.append(offset(ended) if ended is not None or started is None else offset(now))
    return {
        "ids": laid_out["ids"],
        "start": begin,
        "end": end,
        "states": states,
        "origin": origin.isoformat(),
    }


@router.get("/ui/data/pipelines/{pipeline_id}/grid")
def grid_data(
    request: Request,
    pipeline_id: str,
    _principal: Viewer,
    before: datetime | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Runs × tasks: the latest ``limit`` runs before ``before`` (oldest first)."""
    ctx = context(request)
    laid_out = _pipeline_layout(request, pipeline_id)
    limit = max(1, min(limit, 100))
    with ctx.store.engine.connect() as connection:
        window = queries.run_window(connection, pipeline_id, before=before, limit=limit)
        rows = queries.grid_rows(
            connection, window, _order(laid_out), laid_out["hash"], _grid_cache
        )
    window_oldest_first = list(reversed(window))
    return {
        "ids": laid_out["ids"],
        "runs": [
            {"run_id": c.run_id, "state": c.state, "logical_date": c.logical_date.isoformat()}
            for c in window_oldest_first
        ],
        "rows": list(reversed(rows)),
        "next_before": window[-1].logical_date.isoformat() if len(window) == limit else None,
    }


def log_file(logs_dir: Path, recorded: str | None) -> Path | None:
    """The try's log file, only if it lies inside ``logs_dir`` (never any other path)."""
    if not recorded:
        return None
    root = logs_dir.resolve()
    path = Path(recorded).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@router.get("/ui/runs/{run_id}/tasks/{task_id}/log", response_class=HTMLResponse)
def log_chunk(
    request: Request,
    run_id: str,
    task_id: str,
    _principal: Viewer,
    map_index: int = -1,
    try_number: int = 0,
    offset: int = 0,
) -> HTMLResponse:
    """The log of one try from ``offset``: the text, and a poller for the next chunk while
    the try runs (swapped out of band, so htmx keeps tailing from where it is)."""
    ctx = context(request)
    tries = ctx.store.get_tries(run_id, task_id, map_index)
    chosen = next((t for t in tries if t.try_number == try_number), None)
    if chosen is None:
        raise NotFound(f"task {task_id!r} of run {run_id!r} has no try {try_number}")
    path = log_file(ctx.settings.logs_dir, chosen.log_path)
    text = ""
    offset = max(0, offset)
    if path is not None:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(LOG_CHUNK)
        cut = data.rfind(b"\n") + 1 if len(data) == LOG_CHUNK else len(data)
        data = data[: cut or len(data)]
        text = data.decode("utf-8", errors="replace")
        offset += len(data)
    elif chosen.state != "running" and offset == 0:
        text = f"(try {try_number} of {task_id} wrote no log output)\n"
    live = chosen.state == "running" or (path is not None and offset < path.stat().st_size)
    poller = templates.get_template("_log_poller.html").render(
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=try_number,
        offset=offset,
        live=live,
    )
    return HTMLResponse(html.escape(text) + poller)
