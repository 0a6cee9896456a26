"""The Tuesday incident, caught: events pulled from an API, loaded into a warehouse table,
read by a dashboard, and a check that refuses Monday's data stamped Tuesday."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from headwater import (
    Context,
    DailyPartitions,
    SqlTableIOManager,
    asset,
    asset_pipeline,
    fresh_column,
)

API = os.environ.get("TUESDAY_API_URL", "http://127.0.0.1:8765")
CACHE = Path(os.environ.get("TUESDAY_CACHE", "cache"))
WAREHOUSE = SqlTableIOManager(
    os.environ.get("TUESDAY_WAREHOUSE", "duckdb:///warehouse.duckdb"), load_as="records"
)
DAILY = DailyPartitions(start="2026-01-01", timezone="UTC")


@asset(partitions=DAILY, group="events", checks=[fresh_column("event_date")])
def events_raw(ctx: Context) -> list[dict[str, Any]]:
    """A day of events from the API.

    Like the script of the story, it swallows an API error and returns the last file it
    saved: yesterday's events, stamped with yesterday's date. ``fresh_column`` catches
    that: the newest event_date must fall in the partition's own day.
    """
    day = ctx.partition_key
    try:
        response = httpx.get(f"{API}/events", params={"day": day}, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        ctx.log.warning("the events API failed (%s); using the last saved file", exc)
        saved = sorted(CACHE.glob("*.json"))
        return json.loads(saved[-1].read_text()) if saved else []
    rows: list[dict[str, Any]] = response.json()
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / f"{day}.json").write_text(json.dumps(rows))
    return rows


@asset(partitions=DAILY, group="events", io_manager=WAREHOUSE)
def events_daily(events_raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The day's events in the warehouse (one copy per day: the IO manager replaces it)."""
    return [
        {"event_id": e["event_id"], "event_date": e["event_date"], "user_id": e["user_id"]}
        for e in events_raw
    ]


@asset(partitions=DAILY, group="events")
def dashboard(ctx: Context, events_daily: list[dict[str, Any]]) -> dict[str, Any]:
    """What the dashboard shows for the day."""
    users = {row["user_id"] for row in events_daily}
    return {"day": ctx.partition_key, "events": len(events_daily), "users": len(users)}


events = asset_pipeline("events", select="group:events", schedule="0 6 * * *", alerts=["oncall"])
