"""``/api/v1/pools``: pools of slots, and how many are in use (admins change them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from headwater.config_file import check_pool_name, check_pool_slots
from headwater.reporting import iso_or_none
from headwater.server.api.deps import AUTH_ERRORS, Admin, Context, Viewer
from headwater.server.paging import Page
from headwater.server.problems import problem_responses
from headwater.store.records import PoolRecord

router = APIRouter(tags=["pools"])

PoolName = Annotated[str, Path(min_length=1, max_length=250)]


class PoolChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slots: int = Field(description="Slots of the pool (0 holds its tasks queued).")
    description: str | None = Field(default=None, max_length=10_000)


def pool_json(pool: PoolRecord) -> dict[str, Any]:
    return {
        "name": pool.name,
        "slots": pool.slots,
        "in_use": pool.in_use,
        "description": pool.description,
        "updated_at": iso_or_none(pool.updated_at),
    }


@router.get("/pools", response_model=Page, responses=problem_responses(*AUTH_ERRORS, 422))
def list_pools(context: Context, _who: Viewer) -> Page:
    """Every pool by name, with the slots held now (pools are few: one page)."""
    return Page(items=[pool_json(pool) for pool in context.store.list_pools(context.clock.now())])


@router.put("/pools/{name}", responses=problem_responses(*AUTH_ERRORS, 422))
def put_pool(context: Context, _who: Admin, name: PoolName, change: PoolChange) -> dict[str, Any]:
    """Create a pool or change its slots (admin). Tries holding slots keep them."""
    check_pool_name(name, "pool")
    slots = check_pool_slots(change.slots, f"pool {name!r}")
    now = context.clock.now()
    context.store.set_pool(name, slots, change.description, now)
    found = next(pool for pool in context.store.list_pools(now) if pool.name == name)
    return pool_json(found)
