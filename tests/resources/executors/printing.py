"""A task whose print output and log lines go to its try's log file."""

from headwater import Context, pipeline, task


@task
def chatty(ctx: Context) -> str:
    print("printed from the task")
    ctx.log.info("logged on try %d", ctx.try_number)
    return "done"


@pipeline
def printing() -> None:
    chatty()
