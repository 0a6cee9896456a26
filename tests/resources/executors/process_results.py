"""Results that cross the process boundary: JSON, a tuple, a large list, an object."""

from dataclasses import dataclass

from headwater import pipeline, task


@dataclass(frozen=True)
class Point:
    x: int
    y: int


@task
def small() -> dict[str, int]:
    return {"rows": 3}


@task
def pair() -> tuple[int, str]:
    return (1, "one")


@task
def big() -> list[int]:
    return list(range(30_000))


@task
def point() -> Point:
    return Point(1, 2)


@task
def unpicklable() -> object:
    return lambda: None


@task
def combine(small: dict[str, int], pair: tuple[int, str], big: list[int], point: Point) -> str:
    return f"{small['rows']} {pair!r} {len(big)} {type(point).__name__}({point.x},{point.y})"


@pipeline
def process_results() -> None:
    combine(small(), pair(), big(), point())
    unpicklable()
