"""Sensors in runs: poke and reschedule modes on a FakeClock, timeouts, soft_fail, slots.

Every test that touches the store runs on SQLite and on PostgreSQL (``settings``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headwater import Context, Pipeline, file_sensor, pipeline, pipeline_sensor, sensor, task
from headwater.config import Settings
from headwater.engine.host import EngineHost
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.store.records import Batch, RunUpdate, StartTry, TaskInstanceRecord
from headwater.testing import FakeClock
from tests.resources import sensors as resources

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # the FakeClock's start (tests/engine/conftest.py)
DAY = datetime(2026, 1, 5, tzinfo=UTC)  # the runs' logical date


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    """A Runtime on each store (SQLite, PostgreSQL), driven by the FakeClock."""
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


class Poker:
    """A sensor's poke: records when it ran and in which try; met from its n-th poke."""

    def __init__(self, clock: FakeClock, met_at: int | None, value: Any = True) -> None:
        self.clock = clock
        self.met_at = met_at
        self.value = value
        self.times: list[datetime] = []
        self.tries: list[int] = []

    def __call__(self, ctx: Context) -> Any:
        self.times.append(self.clock.now())
        self.tries.append(ctx.try_number)
        ctx.log.info("poke %d", len(self.times))
        met = self.met_at is not None and len(self.times) >= self.met_at
        return self.value if met else False

    def at(self, *seconds: float) -> list[datetime]:
        return [T0 + timedelta(seconds=s) for s in seconds]


def sensor_pipeline(poker: Poker, **settings: Any) -> Pipeline:
    """``wait``, a sensor poking with ``poker``, >> ``use``; and ``wait`` >> ``cleanup``."""

    @sensor(task_id="wait", **settings)
    def wait(ctx: Context) -> Any:
        return poker(ctx)

    @task
    def use(value: Any) -> str:
        return f"got {value!r}"

    @task(trigger_rule="all_done")
    def cleanup() -> str:
        return "cleaned"

    @pipeline
    def sensing() -> None:
        waited = wait()
        use(waited)
        waited >> cleanup()

    return sensing


def instance(runtime: Runtime, run_id: str, task_id: str) -> TaskInstanceRecord:
    return next(ti for ti in runtime.store.get_task_instances(run_id) if ti.task_id == task_id)


def host_for(runtime: Runtime, clock: FakeClock, concurrency: int = 4) -> EngineHost:
    return EngineHost(
        runtime.store,
        ThreadExecutor(concurrency, clock=clock),
        clock=clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=runtime.owner,
    )


def step_until(host: EngineHost, condition: Callable[[], bool]) -> None:
    """Step the host until ``condition`` holds, without moving the clock (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # waits for outcomes while tries run; never sleeps the clock towards a due poke
        host.step(0.01 if host.in_flight else 0)
        if condition():
            return
    raise AssertionError("the condition never held")


# poke mode


def test_poke_mode_waits_in_one_try_until_the_condition_holds(
    runtime: Runtime, clock: FakeClock
) -> None:
    poker = Poker(clock, met_at=3, value="found")
    sensing = sensor_pipeline(poker, poke_interval=60)

    run = runtime.run(sensing, logical_date=DAY)

    # Then: pokes at 0, 60 and 120 s, slept on the clock inside a single try
    assert poker.times == poker.at(0, 60, 120)
    assert clock.sleeps == [60.0, 60.0]
    [only] = runtime.store.get_tries(run.run_id, "wait")
    assert (only.try_number, only.state) == (1, "success")
    assert (only.started_at, only.ended_at, only.duration) == (T0, T0 + timedelta(seconds=120), 120)
    assert instance(runtime, run.run_id, "use").result == "\"got 'found'\""
    assert run.state == "success"
    assert only.log_path is not None
    log = Path(only.log_path).read_text()
    assert "condition not met at poke 1; next poke at 2026-01-05T06:01:00+00:00" in log
    assert "condition met at poke 3" in log


def test_poke_mode_backs_off_exponentially(runtime: Runtime, clock: FakeClock) -> None:
    poker = Poker(clock, met_at=4)
    sensing = sensor_pipeline(poker, poke_interval=10, exponential_backoff=True)

    run = runtime.run(sensing, logical_date=DAY)

    assert poker.times == poker.at(0, 10, 30, 70)
    assert clock.sleeps == [10.0, 20.0, 40.0]
    assert instance(runtime, run.run_id, "wait").result == "true"


# reschedule mode


def test_reschedule_mode_pokes_in_short_executions_of_the_same_try(
    runtime: Runtime, clock: FakeClock
) -> None:
    poker = Poker(clock, met_at=3)
    sensing = sensor_pipeline(poker, poke_interval=60, mode="reschedule")
    states: list[str] = []

    def listener(label: str, state: str) -> None:
        if label == "wait":
            states.append(state)

    run = runtime.create_run(sensing, logical_date=DAY)
    runtime.engine(sensing, listener=listener).drive(run.run_id)

    # Then: each poke ran on its own; the engine, not the try, waited in between
    assert poker.times == poker.at(0, 60, 120)
    assert clock.sleeps == [60.0, 60.0]
    assert states == [
        "running",
        "up_for_reschedule",
        "running",
        "up_for_reschedule",
        "running",
        "success",
    ]
    # And: the try number never grew; one try row spans the pokes, one log holds them
    assert poker.tries == [1, 1, 1]
    [only] = runtime.store.get_tries(run.run_id, "wait")
    assert (only.try_number, only.state) == (1, "success")
    assert (only.started_at, only.ended_at, only.duration) == (T0, T0 + timedelta(seconds=120), 120)
    waited = instance(runtime, run.run_id, "wait")
    assert (waited.state, waited.try_number, waited.started_at) == ("success", 1, T0)
    assert only.log_path is not None
    log = Path(only.log_path).read_text()
    assert [f"poke {n}" in log for n in (1, 2, 3)] == [True] * 3
    assert log.count("condition not met; the sensor is rescheduled") == 2
    assert instance(runtime, run.run_id, "use").result == '"got True"'


def test_reschedule_mode_backs_off_up_to_the_cap(runtime: Runtime, clock: FakeClock) -> None:
    poker = Poker(clock, met_at=5)
    sensing = sensor_pipeline(
        poker, poke_interval=10, exponential_backoff=True, max_poke_interval=30, mode="reschedule"
    )

    runtime.run(sensing, logical_date=DAY)

    assert poker.times == poker.at(0, 10, 30, 60, 90)


def test_between_pokes_the_instance_and_its_try_are_up_for_reschedule(
    runtime: Runtime, clock: FakeClock
) -> None:
    poker = Poker(clock, met_at=2)
    sensing = sensor_pipeline(poker, poke_interval=60, mode="reschedule")
    run = runtime.create_run(sensing, logical_date=DAY)
    host = host_for(runtime, clock)
    assert host.add(sensing, run)
    host.start()
    try:
        step_until(host, lambda: instance(runtime, run.run_id, "wait").state == "up_for_reschedule")

        waiting = instance(runtime, run.run_id, "wait")
        assert (waiting.state, waiting.try_number) == ("up_for_reschedule", 1)
        assert waiting.next_try_at == T0 + timedelta(seconds=60)
        [only] = runtime.store.get_tries(run.run_id, "wait")
        assert (only.state, only.ended_at) == ("up_for_reschedule", T0)
        host.run_until_done()
    finally:
        host.shutdown()
    assert runtime.store.get_run(run.run_id).state == "success"
    assert poker.times == poker.at(0, 60)


def test_a_resumed_run_pokes_again_in_the_same_try_with_the_same_deadline(
    runtime: Runtime, clock: FakeClock
) -> None:
    poker = Poker(clock, met_at=None)
    sensing = sensor_pipeline(poker, poke_interval=60, timeout=150, mode="reschedule")
    run = runtime.create_run(sensing, logical_date=DAY)
    host = host_for(runtime, clock)
    assert host.add(sensing, run)
    host.start()
    try:
        step_until(host, lambda: instance(runtime, run.run_id, "wait").state == "up_for_reschedule")
    finally:
        host.shutdown()  # Given: the engine stops while the sensor waits

    resumed = runtime.resume(run.run_id, sensing)

    # Then: pokes went on at their due times in try 1; the timeout still counts from 0
    assert poker.times == poker.at(0, 60, 120, 150)
    waited = instance(runtime, run.run_id, "wait")
    assert (waited.state, waited.try_number) == ("failed", 1)
    assert resumed.state == "failed"


def test_a_poke_interrupted_by_a_crash_is_made_again_in_the_same_try(
    runtime: Runtime, clock: FakeClock
) -> None:
    poker = Poker(clock, met_at=1)
    sensing = sensor_pipeline(poker, poke_interval=60, mode="reschedule")
    run = runtime.create_run(sensing, logical_date=DAY)
    # Given: the process driving the run died while the sensor's first poke ran
    runtime.store.apply(
        Batch(
            changes=[
                StartTry(
                    run_id=run.run_id,
                    task_id="wait",
                    map_index=-1,
                    try_number=1,
                    expected="none",
                    started_at=T0,
                    log_path="try-1.log",
                    hostname="gone",
                )
            ],
            run_update=RunUpdate(
                run_id=run.run_id, expected=("queued",), state="running", started_at=T0
            ),
        )
    )
    clock.advance(90)

    resumed = runtime.resume(run.run_id, sensing)

    # Then: the poke is made again at once, in try 1, which still started at 0
    assert poker.times == poker.at(90)
    assert poker.tries == [1]
    [only] = runtime.store.get_tries(run.run_id, "wait")
    assert (only.try_number, only.state, only.hostname) == (1, "success", socket.gethostname())
    assert (only.started_at, only.ended_at) == (T0, T0 + timedelta(seconds=90))
    assert resumed.state == "success"


def test_each_instance_of_a_mapped_sensor_pokes_on_its_own(
    runtime: Runtime, clock: FakeClock
) -> None:
    pokes: dict[str, list[datetime]] = {"eu": [], "us": []}

    @sensor(poke_interval=60, mode="reschedule")
    def region_ready(region: str, ctx: Context) -> str | None:
        pokes[region].append(clock.now())
        needed = 2 if region == "eu" else 3
        return region if len(pokes[region]) >= needed else None

    @pipeline
    def regions() -> None:
        region_ready.map(["eu", "us"])

    run = runtime.run(regions, logical_date=DAY)

    assert pokes == {
        "eu": [T0, T0 + timedelta(seconds=60)],
        "us": [T0, T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)],
    }
    tries = runtime.store.get_tries(run.run_id, "region_ready")
    assert [(t.map_index, t.try_number, t.state) for t in tries] == [
        (0, 1, "success"),
        (1, 1, "success"),
    ]
    assert run.state == "success"


def test_an_error_in_a_poke_is_retried_as_a_new_try_with_its_own_timeout(
    runtime: Runtime, clock: FakeClock
) -> None:
    poker = Poker(clock, met_at=None)

    @sensor(poke_interval=60, timeout=100, mode="reschedule", retries=1, retry_delay=5)
    def wait(ctx: Context) -> bool:
        result = poker(ctx)
        if len(poker.times) == 2:
            raise ConnectionError("the API is down")
        return bool(result)

    @pipeline
    def flaky_sensing() -> None:
        wait()

    run = runtime.run(flaky_sensing, logical_date=DAY)

    # Then: try 1 pokes at 0 and fails at 60; try 2 starts at 65 and times out at 165
    assert poker.times == poker.at(0, 60, 65, 125, 165)
    assert poker.tries == [1, 1, 2, 2, 2]
    tries = runtime.store.get_tries(run.run_id, "wait")
    assert [(t.try_number, t.state) for t in tries] == [(1, "failed"), (2, "failed")]
    assert tries[0].error == "ConnectionError: the API is down"
    assert tries[1].started_at == T0 + timedelta(seconds=65)
    assert tries[1].duration == 100


# timeouts and soft_fail


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_sensor_that_times_out_fails_without_using_its_retries(
    runtime: Runtime, clock: FakeClock, mode: str
) -> None:
    poker = Poker(clock, met_at=None)
    sensing = sensor_pipeline(
        poker, poke_interval=timedelta(minutes=25), timeout=timedelta(hours=1), mode=mode, retries=2
    )

    run = runtime.run(sensing, logical_date=DAY)

    # Then: the last poke is at the timeout; then the sensor fails, for good
    assert poker.times == poker.at(0, 25 * 60, 50 * 60, 60 * 60)
    waited = instance(runtime, run.run_id, "wait")
    assert (waited.state, waited.try_number) == ("failed", 1)
    pokes = " after 4 pokes" if mode == "poke" else ""
    assert waited.error == (
        f"SensorTimeoutError: sensor 'wait': condition not met{pokes} within its timeout of "
        "1:00:00 from the first poke at 2026-01-05T06:00:00+00:00; failed"
    )
    [only] = runtime.store.get_tries(run.run_id, "wait")
    assert (only.state, only.ended_at) == ("failed", T0 + timedelta(hours=1))
    assert only.duration == 3600
    assert only.log_path is not None
    assert waited.error in Path(only.log_path).read_text()
    states = {ti.task_id: ti.state for ti in runtime.store.get_task_instances(run.run_id)}
    assert states == {"wait": "failed", "use": "upstream_failed", "cleanup": "success"}
    assert run.state == "failed"


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_with_soft_fail_a_timed_out_sensor_is_skipped_and_so_is_what_needs_it(
    runtime: Runtime, clock: FakeClock, mode: str
) -> None:
    poker = Poker(clock, met_at=None)
    sensing = sensor_pipeline(poker, poke_interval=60, timeout=120, mode=mode, soft_fail=True)

    run = runtime.run(sensing, logical_date=DAY)

    assert poker.times == poker.at(0, 60, 120)
    states = {ti.task_id: ti.state for ti in runtime.store.get_task_instances(run.run_id)}
    assert states == {"wait": "skipped", "use": "skipped", "cleanup": "success"}
    waited = instance(runtime, run.run_id, "wait")
    assert waited.error is not None
    assert waited.error.endswith(
        "within its timeout of 0:02:00 from the first poke at "
        "2026-01-05T06:00:00+00:00; skipped (soft_fail)"
    )
    [only] = runtime.store.get_tries(run.run_id, "wait")
    assert only.state == "skipped"
    assert run.state == "success"  # a skipped leaf does not fail the run


# slots


@pytest.mark.parametrize(("mode", "other_starts_at"), [("reschedule", 0), ("poke", 120)])
def test_reschedule_mode_gives_the_executor_slot_back_between_pokes(
    runtime: Runtime, clock: FakeClock, mode: str, other_starts_at: int
) -> None:
    poker = Poker(clock, met_at=3)
    started: list[datetime] = []

    @sensor(poke_interval=60, mode=mode, priority_weight=10)
    def wait(ctx: Context) -> Any:
        return poker(ctx)

    @task
    def other() -> None:
        started.append(clock.now())

    @pipeline
    def one_slot() -> None:
        wait()
        other()

    run = runtime.create_run(one_slot, logical_date=DAY)
    finished = runtime.engine(one_slot, max_concurrency=1).drive(run.run_id)

    # Then: with one slot, the other task ran between the pokes only in reschedule mode
    assert started == [T0 + timedelta(seconds=other_starts_at)]
    assert poker.times == poker.at(0, 60, 120)
    assert finished.state == "success"


# pokes 5 s apart: the poke-mode try sleeps the shared FakeClock in its thread, and its
# pool slot's lease (30 s) must not lapse meanwhile, as it cannot in real time
@pytest.mark.parametrize(("mode", "other_starts_at"), [("reschedule", 0), ("poke", 10)])
def test_reschedule_mode_gives_the_pool_slot_back_between_pokes(
    runtime: Runtime, clock: FakeClock, mode: str, other_starts_at: int
) -> None:
    runtime.store.set_pool("api", 1, "one call at a time", clock.now())
    poker = Poker(clock, met_at=3)
    started: list[datetime] = []

    @sensor(poke_interval=5, mode=mode, pool="api", priority_weight=10)
    def wait(ctx: Context) -> Any:
        return poker(ctx)

    @task(pool="api")
    def other() -> None:
        started.append(clock.now())

    @pipeline
    def one_pool_slot() -> None:
        wait()
        other()

    run = runtime.run(one_pool_slot, logical_date=DAY)

    assert started == [T0 + timedelta(seconds=other_starts_at)]
    assert poker.times == poker.at(0, 5, 10)
    assert run.state == "success"


# leases: a run waiting on a sensor stays its driver's


def test_a_run_keeps_its_lease_while_its_sensor_waits_for_the_next_poke(
    runtime: Runtime, clock: FakeClock
) -> None:
    leased: list[bool] = []
    run_ids: list[str] = []

    @sensor(poke_interval=600, mode="reschedule")
    def wait() -> bool:
        lease = runtime.store.get_run(run_ids[0]).lease_expires_at
        leased.append(lease is not None and lease > clock.now())
        return len(leased) == 3

    @pipeline
    def long_wait() -> None:
        wait()

    run = runtime.create_run(long_wait, logical_date=DAY)
    run_ids.append(run.run_id)
    runtime.engine(long_wait).drive(run.run_id)

    # Then: no scheduler could have taken the run over while the engine slept
    assert leased == [True, True, True]
    assert clock.sleeps == [600.0, 600.0]


def test_a_run_keeps_its_lease_while_a_poke_mode_sensor_holds_its_try(
    settings: Settings,
) -> None:
    runtime = Runtime(settings)  # real time: the engine must wake up to renew the lease
    leased: list[bool] = []
    run_ids: list[str] = []

    # 16 pokes 0.25 s apart span more than two leases of 1.5 s (short enough to need
    # renewing, long enough for a busy machine to renew on time: every 0.5 s, a second
    # late at most)
    @sensor(poke_interval=0.25, timeout=20)
    def wait() -> bool:
        lease = runtime.store.get_run(run_ids[0]).lease_expires_at
        leased.append(lease is not None and lease > runtime.clock.now())
        return len(leased) == 16

    @pipeline
    def held() -> None:
        wait()

    try:
        run = runtime.create_run(held, logical_date=DAY)
        run_ids.append(run.run_id)
        host = EngineHost(
            runtime.store,
            ThreadExecutor(1, clock=runtime.clock),
            clock=runtime.clock,
            result_store=runtime.result_store,
            logs_dir=runtime.settings.logs_dir,
            owner=runtime.owner,
            lease=timedelta(seconds=1.5),
        )
        assert host.add(held, run)
        host.start()
        try:
            host.run_until_done()
        finally:
            host.shutdown()
    finally:
        runtime.close()

    assert leased == [True] * 16


# file_sensor


def test_file_sensor_renders_its_glob_and_returns_the_matching_paths(
    runtime: Runtime, tmp_path: Path
) -> None:
    folder = tmp_path / "landing"
    for name in (
        "2026-01-05/b.csv",
        "2026-01-05/a.csv",
        "2026-01-05/notes.txt",
        "2026-01-04/c.csv",
    ):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")

    @task
    def count(paths: list[str]) -> int:
        return len(paths)

    @pipeline
    def landing() -> None:
        count(file_sensor("arrived", str(folder / "{{ ds }}" / "*.csv")))

    run = runtime.run(landing, logical_date=DAY)

    arrived = instance(runtime, run.run_id, "arrived")
    expected = [str(folder / "2026-01-05" / "a.csv"), str(folder / "2026-01-05" / "b.csv")]
    assert arrived.state == "success"
    assert runtime.result_store.decode(arrived.result, arrived.result_ref) == expected
    assert instance(runtime, run.run_id, "count").result == "2"


def test_file_sensor_waits_for_files_that_arrive_later(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    folder = tmp_path / "landing" / "20260105"

    @pipeline
    def landing_later() -> None:
        file_sensor(
            "arrived",
            str(tmp_path / "landing/{{ ds_nodash }}/**/*.csv"),
            poke_interval=300,
            mode="reschedule",
        )

    run = runtime.create_run(landing_later, logical_date=DAY)
    host = host_for(runtime, clock)
    assert host.add(landing_later, run)
    host.start()
    try:
        step_until(
            host, lambda: instance(runtime, run.run_id, "arrived").state == "up_for_reschedule"
        )
        # When: a file lands in a sub-folder while the sensor waits
        (folder / "eu").mkdir(parents=True)
        (folder / "eu" / "orders.csv").write_text("x")
        host.run_until_done()
    finally:
        host.shutdown()

    arrived = instance(runtime, run.run_id, "arrived")
    assert arrived.state == "success"
    assert arrived.ended_at == T0 + timedelta(seconds=300)
    value = runtime.result_store.decode(arrived.result, arrived.result_ref)
    assert value == [str(folder / "eu" / "orders.csv")]


# pipeline_sensor


@task
def produce() -> str:
    return "produced"


@task(retries=1, retry_delay=300)
def produce_slowly(ctx: Context) -> str:
    if ctx.try_number == 1:
        raise ConnectionError("not yet")
    return "produced"


@pipeline
def upstream() -> None:
    produce()


@pipeline
def slow_upstream() -> None:
    produce_slowly()


@task
def consume(upstream_run_id: str) -> str:
    return f"after {upstream_run_id}"


def downstream_of(pipeline_id: str, **settings: Any) -> Pipeline:
    @pipeline(pipeline_id=f"after_{pipeline_id}")
    def downstream() -> None:
        consume(pipeline_sensor("wait_upstream", pipeline_id, **settings))

    return downstream


def test_pipeline_sensor_is_met_by_the_other_pipelines_run_of_the_same_date(
    runtime: Runtime,
) -> None:
    other = runtime.run(upstream, logical_date=DAY)
    downstream = downstream_of("upstream")

    run = runtime.run(downstream, logical_date=DAY)

    waited = instance(runtime, run.run_id, "wait_upstream")
    assert (waited.state, waited.result) == ("success", f'"{other.run_id}"')
    assert instance(runtime, run.run_id, "consume").result == f'"after {other.run_id}"'


def test_pipeline_sensor_waits_until_the_other_run_succeeds(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given: both runs in one host; the upstream one succeeds at 300 s, after a retry
    downstream = downstream_of("slow_upstream", poke_interval=120, mode="reschedule")
    first = runtime.create_run(slow_upstream, logical_date=DAY)
    second = runtime.create_run(downstream, logical_date=DAY)
    host = host_for(runtime, clock)
    assert host.add(slow_upstream, first)
    assert host.add(downstream, second)
    host.start()
    try:
        host.run_until_done()
    finally:
        host.shutdown()

    # Then: pokes at 0, 120 and 240 s saw it running; the one at 360 s saw it succeeded
    assert runtime.store.get_run(first.run_id).ended_at == T0 + timedelta(seconds=300)
    waited = instance(runtime, second.run_id, "wait_upstream")
    assert (waited.state, waited.try_number) == ("success", 1)
    assert waited.ended_at == T0 + timedelta(seconds=360)
    assert waited.result == f'"{first.run_id}"'
    [only] = runtime.store.get_tries(second.run_id, "wait_upstream")
    assert only.log_path is not None
    log = Path(only.log_path).read_text()
    assert log.count(f"run {first.run_id} of pipeline 'slow_upstream' is running") == 3
    assert f"run {first.run_id} of pipeline 'slow_upstream' is success" in log


def test_pipeline_sensor_ignores_runs_of_other_dates(runtime: Runtime) -> None:
    runtime.run(upstream, logical_date=DAY - timedelta(days=1))
    downstream = downstream_of("upstream", poke_interval=60, timeout=60, soft_fail=True)

    run = runtime.run(downstream, logical_date=DAY)

    states = {ti.task_id: ti.state for ti in runtime.store.get_task_instances(run.run_id)}
    assert states == {"wait_upstream": "skipped", "consume": "skipped"}
    [only] = runtime.store.get_tries(run.run_id, "wait_upstream")
    assert only.log_path is not None
    assert (
        "pipeline 'upstream' has no run for 2026-01-05T00:00:00+00:00 yet"
        in Path(only.log_path).read_text()
    )


# the process executor (real time: pokes 50 ms apart)


@pytest.mark.parametrize("pipeline_id", ["poking", "rescheduling"])
def test_sensors_run_in_worker_processes(
    settings: Settings, tmp_path: Path, pipeline_id: str
) -> None:
    sensing: Pipeline = getattr(resources, pipeline_id)
    counter = tmp_path / "pokes.txt"
    runtime = Runtime(settings)
    try:
        run = runtime.create_run(sensing, logical_date=DAY, params={"counter": str(counter)})
        finished = runtime.engine(sensing, executor="process", max_concurrency=2).drive(run.run_id)
        tries = runtime.store.get_tries(run.run_id, "third_poke")
        report = instance(runtime, run.run_id, "report")
    finally:
        runtime.close()

    assert finished.state == "success"
    assert counter.read_text().splitlines() == ["try 1"] * 3
    assert [(t.try_number, t.state) for t in tries] == [(1, "success")]
    assert report.result == '"met after 3 pokes"'


def test_pipeline_sensor_reads_the_store_from_a_worker_process(settings: Settings) -> None:
    runtime = Runtime(settings)
    try:
        other = runtime.run(resources.upstream_daily, logical_date=DAY)
        run = runtime.create_run(resources.downstream_daily, logical_date=DAY)
        finished = runtime.engine(
            resources.downstream_daily, executor="process", max_concurrency=1
        ).drive(run.run_id)
        consumed = instance(runtime, run.run_id, "consume")
    finally:
        runtime.close()

    assert finished.state == "success"
    assert consumed.result == f'"after {other.run_id}"'
