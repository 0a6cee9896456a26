"""``GET /api/v1/events``: run and task state changes as server-sent events.

One poller per server process reads what may be changing once a second (the queued and
running runs, those that ended in the last two minutes, and their task instances: two
indexed queries), compares it with what it read last, and sends the differences to every
subscriber. So the store sees the same load with one subscriber or a hundred, and
nothing polls per run. The poller runs only while someone listens. What it remembers is
only for the comparison: a restarted or second server starts over, and clients that
reconnect re-read the state they show (there is no replay).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from headwater.reporting import iso_or_none
from headwater.server.api.deps import AUTH_ERRORS, Context, Viewer
from headwater.server.context import ServerContext
from headwater.server.problems import ApiProblem, problem_responses
from headwater.store.sql import api_queries

logger = logging.getLogger("headwater.server")
router = APIRouter(tags=["events"])

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
MAX_SUBSCRIBERS = 100
QUEUE_SIZE = 10_000  # events a slow subscriber may fall behind before it is dropped
WATCHED_RUNS = 500  # runs compared per poll, newest first
ENDED_WINDOW = timedelta(minutes=2)  # ended runs stay watched this long
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

RunKey = str
TaskKey = tuple[str, str, int]


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event; ``data`` as one line of JSON."""
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class StreamLimit:
    """A bound on the streams a server keeps open at once (503 past it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> None:
        if self.open >= self.limit:
            raise ApiProblem(
                503, f"this server already streams to {self.limit} clients; try again later"
            )
        self.open += 1

    def give_back(self) -> None:
        self.open -= 1


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False


class EventHub:
    """The server's one poller and its subscribers (all on the server's event loop)."""

    def __init__(self, context: ServerContext, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.context = context
        self.poll_seconds = poll_seconds
        self.subscribers: set[Subscriber] = set()
        self.limit = StreamLimit(MAX_SUBSCRIBERS)
        self._task: asyncio.Task[None] | None = None
        self._runs: dict[RunKey, str] = {}
        self._tasks: dict[TaskKey, tuple[str, int]] = {}
        self._next_id = 0

    def subscribe(self) -> Subscriber:
        self.limit.take()
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            self.limit.give_back()
        if not self.subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        first = True
        while True:
            try:
                changes = await asyncio.to_thread(self._poll)
            except Exception:  # the database is away: say nothing, try again
                logger.exception("events: could not read the store; trying again")
                changes = []
            if not first:
                self._publish(changes)
            first = False
            await asyncio.sleep(self.poll_seconds)

    def _publish(self, changes: list[tuple[str, dict[str, Any]]]) -> None:
        for event, data in changes:
            self._next_id += 1
            text = sse(event, data, self._next_id)
            for subscriber in list(self.subscribers):
                try:
                    subscriber.queue.put_nowait(text)
                except asyncio.QueueFull:
                    subscriber.dropped = True  # its stream ends; the client reconnects

    def _poll(self) -> list[tuple[str, dict[str, Any]]]:
        """Read the watched runs and their tasks; the changes since the last poll."""
        since = self.context.clock.now() - ENDED_WINDOW
        with self.context.store.engine.connect() as connection:
            rows = api_queries.watched_runs(connection, since, WATCHED_RUNS)
            tasks = api_queries.task_states(connection, [row.run_id for row in rows])
        changes: list[tuple[str, dict[str, Any]]] = []
        runs: dict[RunKey, str] = {}
        for row in rows:
            runs[row.run_id] = row.state
            if self._runs.get(row.run_id) != row.state:
                changes.append(("run", _run_event(row, self._runs.get(row.run_id))))
        states: dict[TaskKey, tuple[str, int]] = {}
        for task in tasks:
            key = (task.run_id, task.task_id, task.map_index)
            states[key] = (task.state, task.try_number)
            if self._tasks.get(key) != states[key]:
                changes.append(("task", _task_event(task, self._tasks.get(key))))
        self._runs, self._tasks = runs, states
        return changes


def _run_event(row: Any, previous: str | None) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "pipeline": row.pipeline_id,
        "state": row.state,
        "previous": previous,
        "logical_date": iso_or_none(row.logical_date),
        "started_at": iso_or_none(row.started_at),
        "ended_at": iso_or_none(row.ended_at),
    }


def _task_event(row: Any, previous: tuple[str, int] | None) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "task_id": row.task_id,
        "map_index": row.map_index,
        "state": row.state,
        "try": row.try_number,
        "previous": None if previous is None else previous[0],
    }


def hub_of(request: Request) -> EventHub:
    hub: EventHub | None = getattr(request.app.state, "event_hub", None)
    if hub is None:
        hub = request.app.state.event_hub = EventHub(request.app.state.context)
    return hub


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        **problem_responses(*AUTH_ERRORS, 503),
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."},
    },
)
async def events(_context: Context, _who: Viewer, request: Request) -> StreamingResponse:
    """Run and task state changes as server-sent events: ``run`` events
    (``{"run_id", "pipeline", "state", "previous", ...}``) and ``task`` events
    (``{"run_id", "task_id", "map_index", "state", "try", "previous"}``), within about a
    second of the change. A comment line every 15 s keeps the connection open. 503 when
    the server already streams to 100 clients."""
    hub = hub_of(request)
    subscriber = hub.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": subscribed\n\n"
            while not subscriber.dropped:
                try:
                    yield await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
            yield sse("overflow", {"detail": "this client fell behind; reconnect and re-read"})
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)
