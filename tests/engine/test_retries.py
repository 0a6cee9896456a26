"""Retries: backoff delays on a FakeClock, one record and one log file per try."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from headwater import Context, pipeline, task
from headwater.runtime import Runtime
from headwater.testing import FakeClock


@task
def extract() -> list[int]:
    return [1, 2, 3]


@task(retries=3, retry_delay=10, retry_backoff=2, max_retry_delay=25)
def flaky(rows: list[int], ctx: Context) -> int:
    ctx.log.info("try %d of flaky", ctx.try_number)
    if ctx.try_number < 4:
        raise ConnectionError(f"try {ctx.try_number}: database unreachable")
    return sum(rows)


@task
def load(total: int) -> int:
    return total


@task
def side() -> str:
    return "side"


@pipeline
def retrying() -> None:
    load(flaky(extract()))
    side()


def test_retry_delays_grow_by_the_backoff_and_stop_at_the_cap(
    runtime: Runtime, clock: FakeClock
) -> None:
    start = clock.now()

    run = runtime.run(retrying)

    # Then: the engine waited 10 × 2^(try-1) seconds, capped at 25: 10, 20, then 25
    assert clock.sleeps == [10.0, 20.0, 25.0]
    tries = runtime.store.get_tries(run.run_id, "flaky")
    assert [t.started_at for t in tries] == [
        start,
        start + timedelta(seconds=10),
        start + timedelta(seconds=30),
        start + timedelta(seconds=55),
    ]
    assert run.state == "success"
    assert run.ended_at == start + timedelta(seconds=55)


def test_each_try_has_its_own_record(runtime: Runtime) -> None:
    run = runtime.run(retrying)

    tries = runtime.store.get_tries(run.run_id, "flaky")
    assert [t.try_number for t in tries] == [1, 2, 3, 4]
    assert [t.state for t in tries] == ["failed", "failed", "failed", "success"]
    assert [t.error for t in tries[:3]] == [
        f"ConnectionError: try {n}: database unreachable" for n in (1, 2, 3)
    ]
    assert tries[3].error is None
    assert tries[0].traceback is not None
    assert "raise ConnectionError" in tries[0].traceback
    instance = next(
        ti for ti in runtime.store.get_task_instances(run.run_id) if ti.task_id == "flaky"
    )
    assert instance.state == "success"
    assert instance.try_number == 4
    assert instance.max_tries == 4


def test_each_try_writes_its_own_log_file(runtime: Runtime, tmp_path: Path) -> None:
    run = runtime.run(retrying)

    tries = runtime.store.get_tries(run.run_id, "flaky")
    paths = [t.log_path for t in tries]
    folder = tmp_path / "logs" / "retrying" / run.run_id / "flaky"
    assert paths == [str(folder / f"try-{n}.log") for n in (1, 2, 3, 4)]
    for number, path in enumerate(paths, start=1):
        assert path is not None
        text = Path(path).read_text()
        assert f"try {number} of flaky" in text
        assert all(f"try {other} of flaky" not in text for other in (1, 2, 3, 4) if other != number)
    assert "ConnectionError: try 2: database unreachable" in Path(str(paths[1])).read_text()


def test_only_the_failing_task_runs_again(runtime: Runtime) -> None:
    run = runtime.run(retrying)

    tries = {t: len(runtime.store.get_tries(run.run_id, t)) for t in retrying.task_ids}
    assert tries == {"extract": 1, "flaky": 4, "load": 1, "side": 1}
    # the last try was given extract's stored result, and load got the sum
    load_instance = next(
        ti for ti in runtime.store.get_task_instances(run.run_id) if ti.task_id == "load"
    )
    assert load_instance.result == "6"


def test_a_task_that_keeps_failing_fails_after_its_last_retry(
    runtime: Runtime, clock: FakeClock
) -> None:
    @task(retries=2, retry_delay=timedelta(minutes=1))
    def broken() -> None:
        raise RuntimeError("still broken")

    @pipeline
    def hopeless() -> None:
        broken() >> side()

    run = runtime.run(hopeless)

    assert clock.sleeps == [60.0, 60.0]
    tries = runtime.store.get_tries(run.run_id, "broken")
    assert [t.state for t in tries] == ["failed", "failed", "failed"]
    states = runtime.summary(run.run_id)["tasks"]
    assert (states["broken"]["state"], states["broken"]["tries"]) == ("failed", 3)
    assert states["side"]["state"] == "upstream_failed"
    assert run.state == "failed"


def test_a_task_without_retries_fails_on_its_first_error(
    runtime: Runtime, clock: FakeClock
) -> None:
    @task
    def once() -> None:
        raise RuntimeError("no second chance")

    @pipeline
    def single() -> None:
        once()

    run = runtime.run(single)

    assert clock.sleeps == []
    assert len(runtime.store.get_tries(run.run_id, "once")) == 1
    assert run.state == "failed"


def test_retries_from_default_task_args(runtime: Runtime, clock: FakeClock) -> None:
    @task
    def twice(ctx: Context) -> int:
        if ctx.try_number == 1:
            raise RuntimeError("first try fails")
        return ctx.try_number

    @pipeline(default_task_args={"retries": 1, "retry_delay": timedelta(seconds=90)})
    def defaulted() -> None:
        twice()

    run = runtime.run(defaulted)

    assert clock.sleeps == [90.0]
    assert run.state == "success"


def test_other_tasks_run_while_a_retry_waits(runtime: Runtime, clock: FakeClock) -> None:
    # Given: flaky waits 10 s for its retry; "side" and its chain do not depend on it
    @task
    def after_side(value: str) -> str:
        return value

    @pipeline
    def parallel() -> None:
        flaky(extract())
        after_side(side())

    start = clock.now()
    run = runtime.run(parallel)

    side_try = runtime.store.get_tries(run.run_id, "after_side")[0]
    assert side_try.started_at == start  # ran before the clock moved for the retry
    assert run.state == "success"
