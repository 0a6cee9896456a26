"""``flaky`` fails its first two tries (retrying after 0.2 s), then succeeds; ``broken`` fails."""

from datetime import timedelta

from headwater import Context, pipeline, task


@task(retries=2, retry_delay=timedelta(seconds=0.2))
def flaky(ctx: Context) -> int:
    if ctx.try_number < 3:
        raise ConnectionError(f"try {ctx.try_number}: the source timed out")
    return ctx.try_number


@task
def broken() -> None:
    raise ValueError("the input is malformed\nsecond line of details")


@pipeline
def retried() -> None:
    flaky()
    broken()
