"""Keyset paging: ``{"items": [...], "next_cursor": ...}`` for every list of the API.

A cursor is the sort key of the last item of a page, as opaque URL-safe text: the next
page starts strictly after it, so a page costs one indexed range query however deep it
is, and rows added meanwhile neither repeat nor shift what follows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

from headwater.server.problems import ApiProblem

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_MAX_CURSOR = 1000  # characters: a cursor holds a few short keys

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=_MAX_CURSOR, description="The next_cursor of the previous page."),
]


class Page(BaseModel):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


def encode_cursor(key: Sequence[str | int | float | None]) -> str:
    text = json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The key in ``cursor`` (``size`` values), None for the first page.

    Raises:
        ApiProblem: 422 for a cursor this server did not make.
    """
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != size
        or not all(isinstance(part, (str, int, float)) for part in key)
    ):
        raise ApiProblem(422, "invalid cursor; pass the next_cursor of the previous page as is")
    return key


def page_of(
    items: list[dict[str, Any]],
    limit: int,
    key_of: Callable[[dict[str, Any]], Sequence[str | int | float | None]],
) -> Page:
    """A page from ``items`` fetched with ``limit + 1``: the extra one means "more"."""
    if len(items) <= limit:
        return Page(items=items)
    kept = items[:limit]
    return Page(items=kept, next_cursor=encode_cursor(key_of(kept[-1])))
