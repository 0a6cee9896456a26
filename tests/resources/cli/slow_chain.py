"""A chain whose third task blocks on its first try, for SIGKILL-and-resume tests.

Each task appends a line to the `marks` file when it starts, so tests can count runs.
"""

import time
from pathlib import Path

from headwater import Context, pipeline, task


def mark(ctx: Context) -> None:
    with open(ctx.params["marks"], "a") as marks:
        marks.write(f"{ctx.task_id} {ctx.try_number}\n")


@task
def first(ctx: Context) -> int:
    mark(ctx)
    return 1


@task
def second(value: int, ctx: Context) -> int:
    mark(ctx)
    return value + 1


@task
def third(value: int, ctx: Context) -> int:
    mark(ctx)
    if ctx.try_number == 1:
        Path(ctx.params["marks"] + ".blocked").write_text("blocked")
        time.sleep(60)  # the test kills the process here
    return value + 1


@task
def fourth(value: int, ctx: Context) -> int:
    mark(ctx)
    return value + 1


@pipeline(params={"marks": "marks.txt"})
def slow_chain() -> None:
    fourth(third(second(first())))
