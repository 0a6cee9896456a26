"""What the API's routes share: the server's context, the caller's role, and the
conversions between store records and JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends

from headwater.accounts import Principal, Role
from headwater.authoring.pipeline import Pipeline
from headwater.server.auth import context_of, require
from headwater.server.context import ServerContext
from headwater.server.problems import ApiProblem

Context = Annotated[ServerContext, Depends(context_of)]
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]

# the statuses every protected route may answer, besides its own
AUTH_ERRORS = (401, 403)


def as_utc(moment: datetime | None) -> datetime | None:
    """A query's datetime in UTC; one without a zone is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_key(text: Any) -> datetime:
    """A datetime read back from a cursor (see ``paging``)."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise ApiProblem(422, "invalid cursor; pass the next_cursor of the previous page") from None
    if moment.tzinfo is None:
        raise ApiProblem(422, "invalid cursor; pass the next_cursor of the previous page")
    return moment


def definition(context: ServerContext, pipeline_id: str) -> Pipeline:
    """The loaded definition of a pipeline, needed to make or repair its runs.

    Raises:
        ApiProblem: 404 when the store does not know the pipeline either, 409 when it is
            recorded but not loaded by this server (a broken file, or another folder).
    """
    registry = context.registry
    pipeline = None if registry is None else registry.resolve(pipeline_id, context.store)
    if pipeline is not None:
        return pipeline
    context.store.get_pipeline(pipeline_id)  # NotFoundError: 404
    where = (
        "this server was started without a pipelines folder"
        if context.pipelines_dir is None
        else f"it is not defined (or fails to import) under {context.pipelines_dir}"
    )
    raise ApiProblem(
        409,
        f"pipeline {pipeline_id!r} is recorded but not loaded: {where}; start the server "
        "with --pipelines pointing at the folder that defines it",
    )
