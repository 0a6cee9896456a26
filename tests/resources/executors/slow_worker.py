"""A task that sleeps past its timeout on its first try, for the process executor."""

import os
import time

from headwater import Context, pipeline, task


# 3 s: the first try's worker may still be starting when it is sent (on a busy machine)
@task(timeout=3, retries=1, retry_delay=0)
def sleeps_once(ctx: Context) -> int:
    print(f"pid={os.getpid()}")
    if ctx.try_number == 1:
        time.sleep(60)
    return os.getpid()


@pipeline
def slow_worker() -> None:
    sleeps_once()
