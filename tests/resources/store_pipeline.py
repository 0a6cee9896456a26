"""A small pipeline touching retries, branching and mapping, run against each store."""

from __future__ import annotations

from datetime import timedelta

from headwater import Context, pipeline, task


@task(retries=1, retry_delay=timedelta(0))
def flaky(ctx: Context) -> list[int]:
    if ctx.try_number == 1:
        raise ConnectionError("transient")
    return [1, 2, 3]


@task
def double(value: int) -> int:
    return value * 2


@task.branch
def choose(values: list[int]) -> str:
    return "total" if sum(values) > 0 else "nothing"


@task
def total(values: list[int]) -> int:
    return sum(values)


@task
def nothing() -> None:
    return None


@pipeline
def store_pipeline() -> None:
    doubled = double.map(flaky())
    choose(doubled) >> [total(doubled), nothing()]
