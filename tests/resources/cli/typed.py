"""Params of every type; ``route`` takes the "bad" branch when the ``bad`` param is true."""

from typing import Any

from headwater import Context, pipeline, task


@task
def echo(ctx: Context) -> dict[str, Any]:
    return dict(ctx.params)


@task.branch
def route(ctx: Context) -> str:
    return "quarantine" if ctx.params["bad"] else "publish"


@task
def quarantine() -> str:
    return "quarantined"


@task
def publish() -> str:
    return "published"


@pipeline(
    params={
        "bad": False,
        "days": 7,
        "ratio": 0.5,
        "name": "all",
        "regions": ["eu"],
        "options": {"mode": "fast"},
        "anything": None,
    }
)
def typed() -> None:
    echo()
    route() >> [quarantine(), publish()]
