"""Tasks whose try log may not be writable: they print, log, raise or stay silent."""

from headwater import Context, pipeline, task


@task
def prints() -> str:
    print("a line for the log")
    return "printed"


@task
def logs(ctx: Context) -> str:
    ctx.log.info("a line for the log")
    return "logged"


@task
def raises() -> None:
    raise ValueError("the task's own error")


@task
def silent() -> int:
    return 7


@task
def interrupts() -> None:
    raise KeyboardInterrupt("raised by the task")


@task
def exits() -> None:
    raise SystemExit(3)


@pipeline
def log_trouble() -> None:
    prints()
    logs()
    raises()
    silent()
    interrupts()
    exits()
