"""`load` fails until the file named by the `gate` param exists."""

from pathlib import Path

from headwater import Context, pipeline, task


@task
def extract() -> int:
    return 1


@task
def load(value: int, ctx: Context) -> int:
    if not Path(ctx.params["gate"]).exists():
        raise RuntimeError("the gate is closed")
    return value + 1


@task
def report(value: int) -> int:
    return value + 1


@task(trigger_rule="all_done")
def notify(ctx: Context) -> dict[str, str]:
    return dict(ctx.upstream_states)


@pipeline(params={"gate": "gate"})
def gated() -> None:
    value = extract()
    loaded = load(value)
    report(loaded)
    loaded >> notify()
