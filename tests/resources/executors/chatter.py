"""A task that prints for ever, even when its log cannot be written."""

import contextlib

from headwater import pipeline, task


@task
def chatters() -> None:
    while True:
        with contextlib.suppress(OSError):
            print("a line that never ends")


@pipeline
def chatter() -> None:
    chatters()
