"""``/api/v1/runs/{run_id}/tasks/{task_id}/logs``: a try's log, by offset, and a live tail.

Logs are the files tries write under the logs folder; a path recorded outside it is
never served. ``GET .../logs?try=N&offset=B`` returns up to 1 MiB of text from byte
``B`` and the offset to ask from next; ``GET .../logs/stream`` sends the same as
server-sent events while the try runs, then an ``end`` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from headwater.engine.runs import parse_instance_label
from headwater.errors import NotFoundError
from headwater.server.api.deps import AUTH_ERRORS, Context, Viewer
from headwater.server.api.events import SSE_HEADERS, StreamLimit, sse
from headwater.server.context import ServerContext
from headwater.server.problems import ApiProblem, problem_responses
from headwater.store.records import TryRecord

router = APIRouter(tags=["logs"])

CHUNK = 1 << 20  # bytes per answer
POLL_SECONDS = 0.5
STATE_EVERY = 4  # polls between looks at the try's state
FINISHED_TRY_STATES = frozenset({"success", "failed", "skipped", "upstream_failed"})
streams = StreamLimit(100)

RunId = Annotated[str, Path(min_length=1, max_length=250)]
TaskLabel = Annotated[str, Path(min_length=1, max_length=300)]
TryQuery = Annotated[int | None, Query(alias="try", ge=1, le=100_000)]
OffsetQuery = Annotated[int, Query(ge=0, le=1 << 50)]


def find_try(context: ServerContext, run_id: str, label: str, number: int | None) -> TryRecord:
    task_id, map_index = parse_instance_label(label)
    context.store.get_run(run_id)  # 404 for an unknown run
    tries = context.store.get_tries(run_id, task_id, map_index)
    if not tries:
        raise NotFoundError(f"run {run_id!r} has no try of task {label!r}")
    if map_index is None and len({t.map_index for t in tries}) > 1:
        raise ApiProblem(422, f"task {label!r} is mapped; name one instance, e.g. {task_id}[0]")
    if number is None:
        return tries[-1]
    for attempt in tries:
        if attempt.try_number == number:
            return attempt
    numbers = ", ".join(str(t.try_number) for t in tries)
    raise NotFoundError(f"task {label!r} of run {run_id!r} has no try {number}; tries: {numbers}")


def log_file(context: ServerContext, attempt: TryRecord) -> FilePath | None:
    """The try's log file, if it lies inside the logs folder (None: no log yet)."""
    if not attempt.log_path:
        return None
    root = context.settings.logs_dir.resolve()
    path = FilePath(attempt.log_path).resolve()
    if not path.is_relative_to(root):
        raise ApiProblem(404, "this try's log is not under the logs folder; it is not served")
    return path


def read_chunk(path: FilePath | None, offset: int) -> tuple[str, int, int]:
    """Text from ``offset`` (up to CHUNK bytes, whole UTF-8 characters), the next offset,
    and the file's size."""
    if path is None or not path.is_file():
        return "", offset, 0
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        if offset >= size:
            return "", offset, size
        handle.seek(offset)
        data = handle.read(CHUNK)
    cut = len(data)
    if cut == CHUNK:  # do not split a character: stop before a continuation byte
        while cut > 0 and data[cut - 1] & 0xC0 == 0x80:
            cut -= 1
        if cut > 0 and data[cut - 1] & 0x80:
            cut -= 1
        cut = cut or len(data)
    return data[:cut].decode("utf-8", errors="replace"), offset + cut, size


def _answer(attempt: TryRecord, text: str, next_offset: int, size: int) -> dict[str, Any]:
    return {
        "try": attempt.try_number,
        "state": attempt.state,
        "text": text,
        "next_offset": next_offset,
        "size": size,
        "complete": attempt.state in FINISHED_TRY_STATES and next_offset >= size,
    }


@router.get(
    "/runs/{run_id}/tasks/{task_id}/logs", responses=problem_responses(*AUTH_ERRORS, 404, 422)
)
def get_log(
    context: Context,
    _who: Viewer,
    run_id: RunId,
    task_id: TaskLabel,
    try_number: TryQuery = None,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """Up to 1 MiB of the try's log from byte ``offset``; ask again from ``next_offset``.
    ``task_id`` may be ``task[i]`` for an instance of a mapped task; ``try`` defaults to
    the latest. ``complete`` is true once the try has ended and all of it was read."""
    attempt = find_try(context, run_id, task_id, try_number)
    text, next_offset, size = read_chunk(log_file(context, attempt), offset)
    return _answer(attempt, text, next_offset, size)


@router.get(
    "/runs/{run_id}/tasks/{task_id}/logs/stream",
    response_class=StreamingResponse,
    responses={
        **problem_responses(*AUTH_ERRORS, 404, 422, 503),
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."},
    },
)
async def stream_log(
    context: Context,
    _who: Viewer,
    run_id: RunId,
    task_id: TaskLabel,
    try_number: TryQuery = None,
    offset: OffsetQuery = 0,
) -> StreamingResponse:
    """The try's log as server-sent events: ``log`` events (``{"text", "next_offset"}``)
    as lines are written, then one ``end`` event (``{"state", "next_offset"}``) once the
    try has ended and everything was sent."""
    attempt = await asyncio.to_thread(find_try, context, run_id, task_id, try_number)
    path = log_file(context, attempt)
    streams.take()

    async def events() -> AsyncIterator[str]:
        position, current, polls = offset, attempt, 0
        try:
            yield ": tailing\n\n"
            while True:
                text, position, size = await asyncio.to_thread(read_chunk, path, position)
                if text:
                    yield sse("log", {"text": text, "next_offset": position})
                    continue
                if current.state in FINISHED_TRY_STATES and position >= size:
                    yield sse("end", {"state": current.state, "next_offset": position})
                    return
                await asyncio.sleep(POLL_SECONDS)
                polls += 1
                if polls % STATE_EVERY == 0:
                    current = await asyncio.to_thread(
                        find_try, context, run_id, task_id, attempt.try_number
                    )
        finally:
            streams.give_back()

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
