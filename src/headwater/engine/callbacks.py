"""Calling users' callbacks: an exception in one is logged, never raised into the engine."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("headwater.engine")


def _accepted(callback: Callable[..., Any], extra: dict[str, Any]) -> dict[str, Any]:
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return extra
    names = {p.name for p in parameters}
    return {key: value for key, value in extra.items() if key in names}


def call_safely(
    callback: Callable[..., Any] | None,
    context: Any,
    *,
    what: str,
    log: logging.Logger | None = None,
    **extra: Any,
) -> None:
    """Call ``callback(context, **extra)``, passing only the extras it accepts.

    ``error`` (the failure's message) is offered to failure and retry callbacks.
    """
    if callback is None:
        return
    try:
        callback(context, **_accepted(callback, extra))
    except Exception:
        for target in {logger, log or logger}:
            target.exception("%s raised; the run carries on", what)
