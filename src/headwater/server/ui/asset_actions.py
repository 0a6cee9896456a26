"""What operators do from an asset's page: materialize a partition, backfill a range.

The same calls as ``POST /api/v1/assets/{key}/materialize``: a partition (or an
unpartitioned asset) gets a queued run; a range is recorded as a backfill of assets,
detached, after its plan was shown (how many partitions would run, be redone or be
skipped). A running scheduler does the work. Forms carry the CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from headwater.accounts import Principal
from headwater.errors import HeadwaterError
from headwater.scheduling.asset_backfill import AssetReprocess, Redo
from headwater.scheduling.backfill import DEFAULT_MAX_ACTIVE_RUNS
from headwater.server.materialize import (
    MaterializePlan,
    action_counts,
    loaded_registry,
    plan_materialize,
    plan_steps,
    queue_run,
    record_backfill,
)
from headwater.server.ui.common import context, operator, render

router = APIRouter(include_in_schema=False)
Operator = Annotated[Principal, Depends(operator)]
QUEUED_EVENT = "asset-runs-queued"  # tells the page's matrix to read its states again


class ActionError(HeadwaterError):
    """A form that cannot be acted on as filled in; the message says what to change."""


def _attempt(request: Request, principal: Principal, action: Callable[[], Response]) -> Response:
    """The action's answer, or its error as one line (status 200, so htmx shows it)."""
    try:
        return action()
    except HeadwaterError as exc:
        return render(request, "_error.html", principal, message=str(exc))


def _flag(form: Any, name: str) -> bool:
    return str(form.get(name) or "") in ("on", "true")


def _text(form: Any, name: str) -> str | None:
    return str(form.get(name) or "").strip() or None


def _plan(
    request: Request, key: str, form: Any, *, partition: str | None, partitions: str | None
) -> MaterializePlan:
    ctx = context(request)
    return plan_materialize(
        loaded_registry(ctx.registry, ctx.store, key),
        ctx.store,
        key,
        partition=partition,
        partitions=partitions,
        upstream=_flag(form, "upstream"),
        downstream=_flag(form, "downstream"),
        now=ctx.clock.now(),
    )


def _backfill(form: Any) -> dict[str, Any]:
    """The backfill form's fields, checked: a range, what to redo, how many at a time."""
    first, last = _text(form, "first"), _text(form, "last")
    if first is None or last is None:
        raise ActionError("a backfill needs its first and its last partition (both included)")
    try:
        redo = Redo(_text(form, "reprocess") or Redo.FAILED.value)
        most = int(_text(form, "max_active_runs") or DEFAULT_MAX_ACTIVE_RUNS)
    except ValueError:
        raise ActionError(
            f"reprocess must be one of {', '.join(r.value for r in Redo)} and max active runs "
            "a whole number"
        ) from None
    if most < 1:
        raise ActionError(f"max active runs must be 1 or more, got {most}")
    return {
        "first": first,
        "last": last,
        "range": f"{first}..{last}",
        "reprocess": AssetReprocess(redo=redo, stale=_flag(form, "stale")),
        "max_active_runs": most,
        "upstream": _flag(form, "upstream"),
        "downstream": _flag(form, "downstream"),
    }


def _queued(request: Request, principal: Principal, name: str, **values: Any) -> Response:
    response = render(request, name, principal, **values)
    response.headers["HX-Trigger"] = QUEUED_EVENT
    return response


@router.post("/ui/assets/{key:path}/materialize")
async def materialize(request: Request, key: str, principal: Operator) -> Response:
    """Queue a run of one partition (or of the unpartitioned asset)."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        plan = _plan(request, key, form, partition=_text(form, "partition"), partitions=None)
        queued = queue_run(ctx.store, ctx.clock, plan, triggered_by=f"ui:{principal.name}")
        return _queued(request, principal, "_asset_queued.html", plan=plan, queued=queued)

    return _attempt(request, principal, act)


@router.post("/ui/assets/{key:path}/backfill/plan")
async def backfill_plan(request: Request, key: str, principal: Operator) -> Response:
    """The dry run: what each partition of the range would get."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        asked = _backfill(form)
        plan = _plan(request, key, form, partition=None, partitions=asked["range"])
        steps = plan_steps(ctx.store, plan, asked["reprocess"], ctx.clock.now())
        counts = action_counts(steps)
        return render(
            request, "_asset_plan.html", principal, key=key, plan=plan, asked=asked, counts=counts
        )

    return _attempt(request, principal, act)


@router.post("/ui/assets/{key:path}/backfill")
async def backfill_start(request: Request, key: str, principal: Operator) -> Response:
    """Record the backfill, detached: a running scheduler carries it on."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        asked = _backfill(form)
        plan = _plan(request, key, form, partition=None, partitions=asked["range"])
        record, _ = record_backfill(
            ctx.store,
            plan,
            now=ctx.clock.now(),
            reprocess=asked["reprocess"],
            max_active_runs=asked["max_active_runs"],
        )
        return _queued(request, principal, "_asset_backfill.html", plan=plan, backfill=record)

    return _attempt(request, principal, act)
