"""Small pipelines the web UI tests run through a real scheduler."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from headwater import pipeline, task, task_group


@task
def extract() -> list[int]:
    print("extracting rows")
    return [1, 2, 3]


@task
def transform(rows: list[int]) -> int:
    return sum(rows)


@task
def load(total: int) -> None:
    print(f"loaded {total}")


@pipeline(
    schedule="@daily",
    start="2026-01-01",
    tags=["demo"],
    params={"rows": 3},
    freshness=timedelta(days=1),
)
def hello() -> None:
    """Extracts, transforms and loads a few rows."""
    with task_group("prepare"):  # a group: the graph can collapse it into one node
        total = transform(extract())
    load(total)


@task
def fetch() -> int:
    print("fetching the file")
    if not Path(os.environ["UI_TEST_MARKER"]).exists():
        raise RuntimeError("upstream answered 503")
    return 1


@task
def publish(value: int) -> None:
    print(f"published {value}")


@pipeline(tags=["fragile"])
def flaky() -> None:
    """Fails until the marker file named by UI_TEST_MARKER exists."""
    publish(fetch())
