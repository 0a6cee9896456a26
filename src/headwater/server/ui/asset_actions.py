"""What operators do from an asset's page: materialize it, or backfill its partitions.

The same calls as ``POST /api/v1/assets/{key}/materialize``: one run per partition,
queued for a running scheduler. A backfill shows its plan first (how many runs would be
made, redone, or left running), then starts as planned. Forms carry the CSRF token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from headwater.accounts import Principal
from headwater.errors import HeadwaterError
from headwater.server.materialize import (
    MaterializePlan,
    loaded_registry,
    partition_runs,
    plan_materialize,
    queue_runs,
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


def _range(form: Any) -> str | None:
    """``FIRST..LAST`` from a backfill's fields (or as given, from its plan's form)."""
    given = _text(form, "partitions")
    if given is not None:
        return given
    first, last = _text(form, "first"), _text(form, "last")
    if first is None and last is None:
        return None
    if first is None or last is None:
        raise ActionError("a backfill needs its first and its last partition (both included)")
    return f"{first}..{last}"


def _plan(request: Request, key: str, form: Any, partitions: str | None) -> MaterializePlan:
    ctx = context(request)
    return plan_materialize(
        loaded_registry(ctx.registry, ctx.store, key),
        ctx.store,
        key,
        partition=_text(form, "partition"),
        partitions=partitions,
        upstream=_flag(form, "upstream"),
        downstream=_flag(form, "downstream"),
        now=ctx.clock.now(),
    )


@router.post("/ui/assets/{key:path}/materialize")
async def materialize(request: Request, key: str, principal: Operator) -> Response:
    """Queue a run per partition asked (one for an unpartitioned asset)."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        plan = _plan(request, key, form, _range(form))
        queued = queue_runs(ctx.store, ctx.clock, plan, triggered_by=f"ui:{principal.name}")
        response = render(
            request,
            "_asset_queued.html",
            principal,
            plan=plan,
            queued=queued[:10],
            total=len(queued),
            counts=Counter(item.outcome for item in queued),
        )
        response.headers["HX-Trigger"] = QUEUED_EVENT
        return response

    return _attempt(request, principal, act)


@router.post("/ui/assets/{key:path}/backfill/plan")
async def backfill_plan(request: Request, key: str, principal: Operator) -> Response:
    """The dry run: the partitions of the range, and what each would need."""
    form = await request.form()
    ctx = context(request)

    def act() -> Response:
        partitions = _range(form)
        if partitions is None:
            raise ActionError("a backfill needs its first and its last partition (both included)")
        plan = _plan(request, key, form, partitions)
        steps = partition_runs(ctx.store, plan, ctx.clock.now())
        return render(
            request,
            "_asset_plan.html",
            principal,
            key=key,
            plan=plan,
            partitions=partitions,
            upstream=_flag(form, "upstream"),
            downstream=_flag(form, "downstream"),
            counts=Counter(step.action for step in steps),
        )

    return _attempt(request, principal, act)
