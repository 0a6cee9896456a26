"""The benchmark pipelines, built with the public API only.

``chain(n)``: n tasks in a chain, each returning the previous value + 1.
``fanout(n)``: a root, n independent tasks that each add 1 to the root's value, and a
join summing their results (n + 2 tasks).

Process-executor workers import this module to find the task functions. They build
only the pipeline named in ``HEADWATER_BENCH_PIPELINE`` (``shape:n``, set by
``bench/measure.py`` before the run, inherited by the spawned workers), so a worker does
not pay for building pipelines it does not run.
"""

from __future__ import annotations

import os

from headwater import Pipeline, pipeline, task


@task
def root() -> int:
    return 0


@task
def inc(value: int) -> int:
    return value + 1


@task
def join(values: list[int]) -> int:
    return sum(values)


def chain(n: int) -> Pipeline:
    def body() -> None:
        value = inc.override(task_id="t0")(0)
        for i in range(1, n):
            value = inc.override(task_id=f"t{i}")(value)

    return pipeline(pipeline_id=f"chain_{n}")(body)


def fanout(n: int) -> Pipeline:
    def body() -> None:
        start = root()
        join([inc.override(task_id=f"t{i}")(start) for i in range(n)])

    return pipeline(pipeline_id=f"fanout_{n}")(body)


SHAPES = {"chain": chain, "fanout": fanout}


# The plain-Python baselines: the same functions, called directly in a loop.


def chain_baseline(n: int) -> int:
    fn = inc.fn
    value = fn(0)
    for _ in range(1, n):
        value = fn(value)
    return value


def fanout_baseline(n: int) -> int:
    start = root.fn()
    fn = inc.fn
    return join.fn([fn(start) for _ in range(n)])


BASELINES = {"chain": chain_baseline, "fanout": fanout_baseline}


def expected_result(shape: str, n: int) -> int:
    return n  # chain: 0 + 1 + ... n times; fanout: n × (0 + 1)


_selected = os.environ.get("HEADWATER_BENCH_PIPELINE")
if _selected:
    _shape, _, _n = _selected.partition(":")
    bench_pipeline = SHAPES[_shape](int(_n))
