"""What operators do from the web UI: pause, trigger, backfill, retry, clear and cancel.

Each action is the same call the command line makes, and leaves the work to a running
scheduler (a triggered run is queued; a retried run is queued again; a backfill is
recorded detached). Forms carry the session's CSRF token; errors come back as one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from headwater.accounts import Principal
from headwater.authoring.params import convert_params
from headwater.authoring.pipeline import Pipeline
from headwater.engine.runs import create_run, prepare_clear, prepare_retry
from headwater.errors import HeadwaterError
from headwater.schedules.intervals import parse_logical_date
from headwater.scheduling.backfill import (
    DEFAULT_MAX_ACTIVE_RUNS,
    Action,
    Reprocess,
    plan_backfill,
    range_bounds,
    record_backfill,
)
from headwater.server.ui.common import context, done, found, operator, render

router = APIRouter(include_in_schema=False)
Operator = Annotated[Principal, Depends(operator)]


class ActionError(HeadwaterError):
    """An action that cannot be done as asked; its message says why and what to do."""


def _problem(request: Request, principal: Principal, message: str) -> HTMLResponse:
    """A one-line error swapped into the page's message area (status 200 so htmx shows it)."""
    return render(request, "_error.html", principal, message=message)


def _attempt(request: Request, principal: Principal, action: Callable[[], Response]) -> Response:
    try:
        return action()
    except HeadwaterError as exc:
        return _problem(request, principal, str(exc))


def _definition(request: Request, pipeline_id: str) -> Pipeline:
    ctx = context(request)
    found(lambda: ctx.store.get_pipeline(pipeline_id))
    definition = ctx.pipeline(pipeline_id)
    if definition is None:
        raise ActionError(
            f"pipeline {pipeline_id!r} is not loaded by this server; start it with "
            "--pipelines pointing at the folder that defines it"
        )
    return definition


def _params(pipeline: Pipeline, form: Any) -> dict[str, Any]:
    """The ``param.NAME`` fields of a form, checked and typed as ``--param NAME=VALUE`` is
    (the same conversion as the command line's)."""
    given = {
        key.removeprefix("param."): value
        for key, value in form.multi_items()
        if key.startswith("param.") and isinstance(value, str)
    }
    return convert_params(pipeline.pipeline_id, pipeline.params, given)


@router.post("/ui/pipelines/{pipeline_id}/paused")
def set_paused(
    request: Request, pipeline_id: str, principal: Operator, paused: Annotated[str, Form()]
) -> Response:
    ctx = context(request)
    found(lambda: ctx.store.set_paused(pipeline_id, paused == "true"))
    back = request.headers.get("hx-current-url") or "/"
    return done(request, back)


@router.post("/ui/pipelines/{pipeline_id}/trigger")
async def trigger(request: Request, pipeline_id: str, principal: Operator) -> Response:
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        pipeline = _definition(request, pipeline_id)
        overrides = _params(pipeline, form)
        raw_date = str(form.get("logical_date") or "").strip()
        logical_date = parse_logical_date(raw_date, pipeline.zone)[0] if raw_date else None
        run = create_run(
            ctx.store,
            pipeline,
            clock=ctx.clock,
            logical_date=logical_date,
            params=overrides,
            triggered_by=f"ui:{principal.name}",
        )
        return done(request, f"/runs/{run.run_id}")

    return _attempt(request, principal, act)


def _backfill_request(pipeline: Pipeline, form: Any) -> dict[str, Any]:
    start = str(form.get("start") or "").strip()
    end = str(form.get("end") or "").strip()
    if not start or not end:
        raise ActionError("a backfill needs a start and an end date (logical dates, included)")
    reprocess_value = str(form.get("reprocess") or Reprocess.FAILED.value)
    try:
        reprocess = Reprocess(reprocess_value)
        max_active = int(str(form.get("max_active_runs") or DEFAULT_MAX_ACTIVE_RUNS))
    except ValueError:
        raise ActionError(
            f"reprocess must be one of {', '.join(r.value for r in Reprocess)} and max active "
            "runs a whole number"
        ) from None
    first, last = range_bounds(start, end, pipeline.zone)
    return {
        "start": start,
        "end": end,
        "first": first,
        "last": last,
        "reprocess": reprocess,
        "max_active_runs": max_active,
        "reverse": form.get("reverse") == "on",
        "params": _params(pipeline, form),
        "raw_params": {
            k: v for k, v in form.multi_items() if k.startswith("param.") and isinstance(v, str)
        },
    }


@router.post("/ui/pipelines/{pipeline_id}/backfill/plan")
async def backfill_plan(request: Request, pipeline_id: str, principal: Operator) -> Response:
    """The dry run: what the backfill would do, with a button to start it as planned."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        pipeline = _definition(request, pipeline_id)
        asked = _backfill_request(pipeline, form)
        steps = plan_backfill(
            pipeline,
            ctx.store,
            asked["first"],
            asked["last"],
            asked["reprocess"],
            now=ctx.clock.now(),
            reverse=asked["reverse"],
        )
        if not steps:
            raise ActionError(
                f"no interval of pipeline {pipeline_id!r} has a logical date from "
                f"{asked['start']} to {asked['end']}; check the range and the schedule"
            )
        counts = {action.value: sum(1 for s in steps if s.action is action) for action in Action}
        return render(
            request,
            "_backfill_plan.html",
            principal,
            pipeline=pipeline,
            steps=steps,
            counts=counts,
            asked=asked,
        )

    return _attempt(request, principal, act)


@router.post("/ui/pipelines/{pipeline_id}/backfill")
async def backfill_start(request: Request, pipeline_id: str, principal: Operator) -> Response:
    """Record the backfill detached: a running scheduler carries it on."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        pipeline = _definition(request, pipeline_id)
        asked = _backfill_request(pipeline, form)
        record_backfill(
            ctx.store,
            pipeline,
            asked["first"],
            asked["last"],
            now=ctx.clock.now(),
            max_active_runs=asked["max_active_runs"],
            reprocess=asked["reprocess"],
            reverse=asked["reverse"],
            params=asked["params"],
        )
        return done(request, "/backfills")

    return _attempt(request, principal, act)


@router.post("/ui/runs/{run_id}/retry")
def retry(request: Request, run_id: str, principal: Operator) -> Response:
    """Reset the failed tasks and what they block; the run is queued for a scheduler."""
    ctx = context(request)

    def act() -> Response:
        run = found(lambda: ctx.store.get_run(run_id))
        pipeline = _definition(request, run.pipeline_id)
        if not prepare_retry(ctx.store, pipeline.plan, run_id):
            raise ActionError(f"run {run_id!r} has no failed task to retry")
        return done(request, f"/runs/{run_id}")

    return _attempt(request, principal, act)


@router.post("/ui/runs/{run_id}/clear")
def clear(
    request: Request,
    run_id: str,
    principal: Operator,
    task: Annotated[str, Form()],
    downstream: Annotated[str, Form()] = "",
) -> Response:
    """Reset a task (and with ``downstream``, everything below it) to run again."""
    ctx = context(request)

    def act() -> Response:
        run = found(lambda: ctx.store.get_run(run_id))
        pipeline = _definition(request, run.pipeline_id)
        prepare_clear(ctx.store, pipeline.plan, run_id, [task], downstream=downstream == "on")
        return done(request, f"/runs/{run_id}")

    return _attempt(request, principal, act)


@router.post("/ui/runs/{run_id}/cancel")
def cancel(request: Request, run_id: str, principal: Operator) -> Response:
    ctx = context(request)

    def act() -> Response:
        note = f"cancelled by {principal.name} from the web UI"
        found(lambda: ctx.store.request_cancel(run_id, ctx.clock.now(), note))
        return done(request, f"/runs/{run_id}")

    return _attempt(request, principal, act)
