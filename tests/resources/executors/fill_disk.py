"""A task that prints for ever, filling the disk, while many small tasks keep the engine
writing to its metadata store on the same disk."""

import contextlib
import time

from headwater import pipeline, task


@task
def chatters() -> None:
    while True:
        with contextlib.suppress(OSError):
            print("a line that fills the disk, " * 4)


@task
def tick(n: int) -> int:
    time.sleep(0.05)
    return n


@pipeline
def fill_disk() -> None:
    chatters()
    tick.map(list(range(40)))
