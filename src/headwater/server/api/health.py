"""``GET /api/v1/health``: is the database reachable, is a scheduler alive (no auth)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from headwater.reporting import iso_or_none
from headwater.server.api.deps import Context

logger = logging.getLogger("headwater.server")
router = APIRouter(tags=["health"])

# a scheduler writes a heartbeat every few seconds; one silent this long is taken as down
SCHEDULER_SILENCE = timedelta(minutes=2)


@router.get(
    "/health",
    responses={503: {"description": "The metadata database cannot be reached; same document."}},
)
def health(context: Context) -> JSONResponse:
    """``status`` is ``ok`` when the metadata database answers (else 503 and ``error``);
    ``scheduler.alive`` says whether a scheduler sent a heartbeat in the last 2 minutes."""
    now = context.clock.now()
    try:
        beats = context.store.heartbeats(limit=20)
    except sa.exc.SQLAlchemyError as exc:
        logger.warning("health: the metadata database does not answer: %s", exc)
        document: dict[str, Any] = {
            "status": "error",
            "database": "unreachable",
            "scheduler": {"last_heartbeat": None, "alive": False},
            "schedulers": [],
        }
        return JSONResponse(document, status_code=503)
    running = [beat for beat in beats if beat.stopped_at is None]
    last = max((beat.last_heartbeat for beat in running), default=None)
    alive = last is not None and now - last <= SCHEDULER_SILENCE
    document = {
        "status": "ok",
        "database": "ok",
        "scheduler": {"last_heartbeat": iso_or_none(last), "alive": alive},
        "schedulers": [
            {
                "owner": beat.owner,
                "hostname": beat.hostname,
                "pid": beat.pid,
                "started_at": iso_or_none(beat.started_at),
                "last_heartbeat": iso_or_none(beat.last_heartbeat),
                "stopped_at": iso_or_none(beat.stopped_at),
                "alive": beat.stopped_at is None and now - beat.last_heartbeat <= SCHEDULER_SILENCE,
            }
            for beat in beats
        ],
    }
    return JSONResponse(document)
