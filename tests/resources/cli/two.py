from headwater import pipeline, task


@task
def a() -> None:
    return None


@pipeline
def first() -> None:
    a()


@pipeline
def second() -> None:
    a()
