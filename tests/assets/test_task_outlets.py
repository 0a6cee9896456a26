"""Plain tasks that produce assets (outlets) or whose value is checked (checks=...)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from headwater import not_empty, pipeline, row_count_between, task
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.store.sql import assets as queries
from headwater.testing import FakeClock


@task(outlets=["sales/orders_raw"], checks=[row_count_between(1, 10)])
def extract(rows: int) -> list[dict[str, int]]:
    return [{"id": i} for i in range(rows)]


@task
def load(rows: list[dict[str, int]]) -> int:
    return len(rows)


@pipeline
def orders() -> None:
    load(extract(3))


@pipeline
def empty_orders() -> None:
    load(extract(0))


@task(checks=[not_empty(blocking=False)])
def maybe_nothing() -> list[int]:
    return []


@pipeline
def warned() -> None:
    maybe_nothing()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=FakeClock("2026-01-05T06:00:00+00:00"))
    yield runtime
    runtime.close()


def materializations(runtime: Runtime, key: str) -> list:
    with runtime.store.asset_connection() as connection:
        return queries.materializations(connection, key)


@pytest.mark.postgres
def test_a_task_with_outlets_records_a_materialization_with_its_success(
    runtime: Runtime,
) -> None:
    run = runtime.run(orders)
    assert run.state == "success"
    (made,) = materializations(runtime, "sales/orders_raw")
    assert made.status == "materialized"
    assert made.run_id == run.run_id
    assert made.task_id == "extract"
    assert made.metadata["row_count"] == 3
    # the task's own value is still what downstream tasks get
    results = {t.task_id: t.result for t in runtime.store.get_task_instances(run.run_id)}
    assert results["load"] == "3"


@pytest.mark.postgres
def test_a_blocking_check_of_a_task_fails_it_and_stops_its_downstream(runtime: Runtime) -> None:
    run = runtime.run(empty_orders)
    assert run.state == "failed"
    states = {t.task_id: t.state for t in runtime.store.get_task_instances(run.run_id)}
    assert states == {"extract": "failed", "load": "upstream_failed"}
    (refused,) = materializations(runtime, "sales/orders_raw")
    assert refused.status == "failed"
    with runtime.store.asset_connection() as connection:
        (check,) = queries.check_results(connection, "sales/orders_raw")
    assert not check.passed
    assert check.blocking


def test_a_non_blocking_check_warns_and_the_run_succeeds(runtime: Runtime) -> None:
    run = runtime.run(warned)
    assert run.state == "success"
    with runtime.store.asset_connection() as connection:
        (check,) = queries.check_results(connection, "task:warned/maybe_nothing")
    assert not check.passed
    assert not check.blocking
