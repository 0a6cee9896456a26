"""Twenty tasks each printing 200 KB to its log: enough to fill a small disk."""

from headwater import pipeline, task


@task
def chatty(n: int) -> str:
    for line in range(2000):
        print("x" * 100, line)
    return "done"


@pipeline
def fill() -> None:
    chatty.map(list(range(20)))
