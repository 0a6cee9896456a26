"""A 1-task pipeline, for timing ``headwater run bench/one_task.py`` from start to exit."""

from headwater import pipeline, task


@task
def hello() -> str:
    return "hello"


@pipeline
def one_task() -> None:
    hello()
