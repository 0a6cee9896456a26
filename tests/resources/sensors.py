"""Sensor pipelines importable by worker processes (tests/engine/test_sensors.py)."""

from __future__ import annotations

from pathlib import Path

from headwater import Context, pipeline, pipeline_sensor, sensor, task


@sensor(poke_interval=0.05, timeout=30)
def third_poke(ctx: Context) -> int | None:
    """Met at its third poke: each poke adds a line to the file in ``params.counter``."""
    counter = Path(ctx.params["counter"])
    with counter.open("a", encoding="utf-8") as file:
        file.write(f"try {ctx.try_number}\n")
    pokes = len(counter.read_text(encoding="utf-8").splitlines())
    return pokes if pokes >= 3 else None


@task
def report(pokes: int) -> str:
    return f"met after {pokes} pokes"


@pipeline(params={"counter": ""})
def poking() -> None:
    report(third_poke())


@pipeline(params={"counter": ""})
def rescheduling() -> None:
    report(third_poke.override(mode="reschedule")())


@task
def produce() -> str:
    return "produced"


@pipeline
def upstream_daily() -> None:
    produce()


@task
def consume(upstream_run_id: str) -> str:
    return f"after {upstream_run_id}"


@pipeline
def downstream_daily() -> None:
    waited = pipeline_sensor(
        "wait_for_upstream", "upstream_daily", poke_interval=0.05, timeout=30, mode="reschedule"
    )
    consume(waited)
