from headwater import Context, pipeline, task


@task
def extract(ctx: Context) -> int:
    print("extracting", ctx.ds)
    return int(ctx.params["n"])


@task
def double(n: int) -> int:
    return n * 2


@task
def split(n: int) -> list[int]:
    return list(range(n))


@task
def square(x: int) -> int:
    return x * x


@pipeline(params={"n": 3})
def ok() -> None:
    value = extract()
    double(value)
    square.map(split(value))
