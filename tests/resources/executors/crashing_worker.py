"""Tasks that kill the worker process running them, for the process executor."""

import os
import signal

from headwater import Context, pipeline, task


@task(retries=1, retry_delay=0)
def exits_once(ctx: Context) -> str:
    if ctx.try_number == 1:
        os._exit(1)
    return "second try"


@task
def segfaults() -> str:
    os.kill(os.getpid(), signal.SIGSEGV)
    return "unreachable"


@task
def after_segfault(value: str) -> str:
    return value


@task
def bystander() -> int:
    return 42


@pipeline
def crashing_worker() -> None:
    exits_once()
    after_segfault(segfaults())
    bystander()
