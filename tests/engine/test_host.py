"""EngineHost: several runs, of several pipelines, through one executor."""

from __future__ import annotations

from datetime import UTC, datetime

from headwater import Context, pipeline, task
from headwater.engine.host import EngineHost
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.testing import FakeClock

started: list[str] = []


@task(retries=1, retry_delay=0)
def step(value: int, ctx: Context) -> int:
    started.append(f"{ctx.pipeline_id}.{ctx.task_id}")
    if ctx.task_id == "flaky" and ctx.try_number == 1:
        raise ConnectionError("transient")
    return value + 1


@pipeline
def first() -> None:
    step.override(task_id="a")(step.override(task_id="flaky")(0))


@pipeline
def second() -> None:
    step.override(task_id="b", priority_weight=10)(0)
    step.override(task_id="c", priority_weight=1)(0)


def host_for(runtime: Runtime, clock: FakeClock, concurrency: int) -> EngineHost:
    return EngineHost(
        runtime.store,
        ThreadExecutor(concurrency, clock=clock),
        clock=clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=runtime.owner,
    )


def test_runs_of_two_pipelines_finish_in_one_host(runtime: Runtime, clock: FakeClock) -> None:
    one = runtime.create_run(first, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    two = runtime.create_run(second, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    host = host_for(runtime, clock, 4)
    assert host.add(first, one)
    assert host.add(second, two)
    host.start()
    finished: list[str] = []
    try:
        while host.drivers:
            finished.extend(host.step(None))
    finally:
        host.shutdown()
    assert sorted(finished) == sorted([one.run_id, two.run_id])
    assert runtime.store.get_run(one.run_id).state == "success"
    assert runtime.store.get_run(two.run_id).state == "success"
    tries = {t.task_id: t.try_number for t in runtime.store.get_task_instances(one.run_id)}
    assert tries == {"flaky": 2, "a": 1}


def test_ready_tasks_start_by_priority_weight_across_runs(
    runtime: Runtime, clock: FakeClock
) -> None:
    started.clear()
    runs = [
        runtime.create_run(second, logical_date=datetime(2026, 1, day, tzinfo=UTC))
        for day in (5, 6)
    ]
    host = host_for(runtime, clock, 1)  # one try at a time: the order is the queue's
    for run in runs:
        host.add(second, run)
    host.start()
    try:
        host.run_until_done()
    finally:
        host.shutdown()
    assert started == ["second.b", "second.b", "second.c", "second.c"]


def test_a_run_leased_by_another_live_process_is_not_taken_in(
    runtime: Runtime, clock: FakeClock
) -> None:
    run = runtime.create_run(first, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    other = EngineHost(
        runtime.store,
        ThreadExecutor(1, clock=clock),
        clock=clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
    )
    assert not other.add(first, run)  # the runtime holds its lease
    clock.advance(60)  # ... until the lease expires
    assert other.add(first, run)


def test_a_finished_run_is_not_taken_in(runtime: Runtime, clock: FakeClock) -> None:
    run = runtime.run(first, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    host = host_for(runtime, clock, 2)
    assert not host.add(first, runtime.store.get_run(run.run_id))
