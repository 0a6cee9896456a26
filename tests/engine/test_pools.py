"""Pools, max_active_tasks and parallelism: what starts when tries compete.

Tasks block on a gate the test opens, so contention is real; the test waits on events
(with timeouts), never on sleeps. Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from headwater import Context, pipeline, task
from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock, FakeClock, SystemClock
from headwater.config import Settings
from headwater.engine.host import EngineHost
from headwater.engine.runs import create_run
from headwater.errors import DefinitionError
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.store.records import RunRecord, TryRecord
from tests.waiting import wait_until


class Shared:
    """What the tasks of one test report, and the gate they wait at."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.order: list[str] = []
        self.entered = threading.Semaphore(0)
        self.others = threading.Semaphore(0)
        self.gate = threading.Event()

    def enter(self, name: str) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.order.append(name)
        self.entered.release()

    def leave(self) -> None:
        with self.lock:
            self.running -= 1

    def wait_entered(self, count: int) -> None:
        for _ in range(count):
            assert self.entered.acquire(timeout=30), "a task never started"


shared = Shared()


@pytest.fixture(autouse=True)
def fresh_shared() -> Iterator[Shared]:
    global shared
    shared = Shared()
    yield shared
    shared.gate.set()  # never leave a task blocked, whatever happened


def name_of(ctx: Context) -> str:
    return f"{ctx.pipeline_id}.{ctx.task_id}:{ctx.logical_date:%d}"


@task
def gated(ctx: Context) -> None:
    """Runs until the test opens the gate."""
    shared.enter(name_of(ctx))
    try:
        assert shared.gate.wait(30), "the gate was never opened"
    finally:
        shared.leave()


@task
def quick(ctx: Context) -> None:
    shared.enter(name_of(ctx))
    shared.leave()


@task
def other() -> None:
    shared.others.release()


def reader(
    pipeline_id: str, *tasks: tuple[str, Mapping[str, object]], **options: object
) -> Pipeline:
    """A pipeline of gated tasks ``(task id, options)`` and one task outside any pool."""

    def body() -> None:
        for task_id, task_options in tasks:
            gated.override(task_id=task_id, **task_options)()
        other()

    body.__name__ = pipeline_id
    return pipeline(**options)(body)


@pytest.fixture
def clock() -> Clock:
    return SystemClock()


@pytest.fixture
def runtime(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def host_for(
    runtime: Runtime, *, threads: int = 8, owner: str | None = None, **options: object
) -> EngineHost:
    return EngineHost(
        runtime.store,
        ThreadExecutor(threads, clock=runtime.clock),
        clock=runtime.clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=owner or runtime.owner,
        **options,  # type: ignore[arg-type]
    )


def new_run(runtime: Runtime, pipeline_: Pipeline, day: int) -> RunRecord:
    """A queued run that nobody drives yet."""
    return create_run(
        runtime.store,
        pipeline_,
        clock=runtime.clock,
        logical_date=datetime(2026, 1, day, tzinfo=UTC),
    )


@contextmanager
def driving(host: EngineHost, *runs: tuple[Pipeline, RunRecord]) -> Iterator[None]:
    """Drive ``runs`` to the end in a background thread while the test looks on."""
    for pipeline_, run in runs:
        assert host.add(pipeline_, run)
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            host.run_until_done()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=drive)
    host.start()
    thread.start()
    try:
        yield
    finally:
        shared.gate.set()
        thread.join(timeout=60)
        host.shutdown()
    assert not thread.is_alive(), "the host never finished"
    if failures:
        raise failures[0]


def states(runtime: Runtime, *runs: RunRecord) -> list[str]:
    return sorted(
        ti.state
        for run in runs
        for ti in runtime.store.get_task_instances(run.run_id)
        if ti.task_id != "other"
    )


def most_at_once(tries: list[TryRecord]) -> int:
    """The largest number of tries whose [start, end] intervals overlap."""
    moments = [(t.started_at, 1) for t in tries] + [(t.ended_at, -1) for t in tries]
    running = peak = 0
    for _, change in sorted(moments, key=lambda m: (m[0], m[1])):  # ends first on ties
        running += change
        peak = max(peak, running)
    return peak


def pool_tries(runtime: Runtime, *runs: RunRecord) -> list[TryRecord]:
    return [t for run in runs for t in runtime.store.get_tries(run.run_id) if t.task_id != "other"]


def in_use(runtime: Runtime) -> dict[str, int]:
    return {pool.name: pool.in_use for pool in runtime.store.list_pools(runtime.clock.now())}


SOURCE: Mapping[str, object] = {"pool": "source"}


def test_a_pool_of_two_never_runs_more_than_two_tries_across_runs_and_pipelines(
    runtime: Runtime,
) -> None:
    orders = reader("orders", ("a", SOURCE), ("b", SOURCE), ("c", SOURCE))
    customers = reader("customers", ("a", SOURCE), ("b", SOURCE))
    runtime.store.set_pool("source", 2, "the replica", runtime.clock.now())
    runs = [
        new_run(runtime, orders, 1),
        new_run(runtime, orders, 2),
        new_run(runtime, customers, 1),
    ]
    pipelines = [orders, orders, customers]
    with driving(host_for(runtime), *zip(pipelines, runs, strict=True)):
        # Given two tries of the pool running and blocked
        shared.wait_entered(2)
        # Then the tasks outside the pool are not held up by those waiting for it
        for _ in runs:
            assert shared.others.acquire(timeout=30)
        # and the six others wait in queued
        assert states(runtime, *runs) == ["queued"] * 6 + ["running"] * 2
        assert in_use(runtime) == {"source": 2}
        shared.gate.set()
    assert [runtime.store.get_run(r.run_id).state for r in runs] == ["success"] * 3
    assert shared.peak == 2
    tries = pool_tries(runtime, *runs)
    assert len(tries) == 8
    assert most_at_once(tries) == 2
    assert in_use(runtime) == {"source": 0}


def test_a_freed_slot_goes_by_priority_weight_then_age(runtime: Runtime) -> None:
    runtime.store.set_pool("source", 1, "", runtime.clock.now())
    blocker = reader("blocker", ("hold", {**SOURCE, "priority_weight": 100}))
    low = reader("low", ("read", {**SOURCE, "priority_weight": 1}))
    high = reader("high", ("read", {**SOURCE, "priority_weight": 5}))
    # in the order they become ready: low 1, high 1, low 2, high 2
    order = [(blocker, 1), (low, 1), (high, 1), (low, 2), (high, 2)]
    runs = [(p, new_run(runtime, p, day)) for p, day in order]
    with driving(host_for(runtime), *runs):
        shared.wait_entered(1)
        assert states(runtime, *[r for _, r in runs]) == ["queued"] * 4 + ["running"]
        shared.gate.set()
    assert shared.order == [
        "blocker.hold:01",
        "high.read:01",
        "high.read:02",
        "low.read:01",
        "low.read:02",
    ]


def test_pool_slots_count_against_the_pool_and_a_smaller_request_may_pass(
    runtime: Runtime,
) -> None:
    runtime.store.set_pool("source", 3, "", runtime.clock.now())
    wide = reader(
        "wide",
        ("heavy1", {**SOURCE, "pool_slots": 2, "priority_weight": 3}),
        ("heavy2", {**SOURCE, "pool_slots": 2, "priority_weight": 2}),
        ("light", {**SOURCE, "priority_weight": 1}),
    )
    run = new_run(runtime, wide, 1)
    with driving(host_for(runtime), (wide, run)):
        # heavy1 takes 2 of the 3 slots; heavy2 does not fit, light does
        shared.wait_entered(2)
        instances = {ti.task_id: ti.state for ti in runtime.store.get_task_instances(run.run_id)}
        assert (instances["heavy1"], instances["heavy2"], instances["light"]) == (
            "running",
            "queued",
            "running",
        )
        assert in_use(runtime) == {"source": 3}
        shared.gate.set()
    assert sorted(shared.order[:2]) == ["wide.heavy1:01", "wide.light:01"]
    assert shared.order[2] == "wide.heavy2:01"
    assert runtime.store.get_run(run.run_id).state == "success"


def test_max_active_tasks_limits_a_pipeline_over_all_its_runs(runtime: Runtime) -> None:
    limited = reader("limited", ("a", {}), ("b", {}), ("c", {}), max_active_tasks=2)
    runs = [new_run(runtime, limited, 1), new_run(runtime, limited, 2)]
    with driving(host_for(runtime), *[(limited, r) for r in runs]):
        shared.wait_entered(2)
        assert states(runtime, *runs) == ["none"] * 4 + ["running"] * 2
        shared.gate.set()
    assert shared.peak == 2
    assert most_at_once(pool_tries(runtime, *runs)) == 2
    assert [runtime.store.get_run(r.run_id).state for r in runs] == ["success"] * 2


def test_parallelism_limits_the_tries_of_a_host(runtime: Runtime) -> None:
    wide = reader("wide", ("a", {}), ("b", {}), ("c", {}))
    run = new_run(runtime, wide, 1)
    host = host_for(runtime, threads=8, parallelism=2)
    assert host.parallelism == 2
    with driving(host, (wide, run)):
        shared.wait_entered(2)
        running = [
            ti for ti in runtime.store.get_task_instances(run.run_id) if ti.state == "running"
        ]
        assert len(running) == 2
        shared.gate.set()
    assert shared.peak == 2
    assert host_for(runtime, threads=4, parallelism=10).parallelism == 4  # the executor's size


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "got 0"), (True, "got True"), ("2", "got '2'")],
)
def test_max_active_tasks_must_be_a_positive_whole_number(value: object, expected: str) -> None:
    message = f"max_active_tasks must be a whole number of 1 or more, {expected}"
    with pytest.raises(DefinitionError, match=re.escape(message)):
        reader("bad", ("a", {}), max_active_tasks=value)


# failing fast, waiting, and recovering


@pytest.fixture
def fake_runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=FakeClock("2026-01-05T06:00:00+00:00"))
    yield runtime
    runtime.close()


@task(pool="nowhere")
def lost() -> int:
    return 1


@task
def after(value: int) -> int:
    return value


@pipeline
def unknown_pool() -> None:
    after(lost())


def test_a_task_naming_an_unknown_pool_fails_at_start_saying_how_to_create_it(
    fake_runtime: Runtime,
) -> None:
    run = fake_runtime.run(unknown_pool, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    assert run.state == "failed"
    instances = {ti.task_id: ti for ti in fake_runtime.store.get_task_instances(run.run_id)}
    assert instances["lost"].state == "failed"
    assert instances["lost"].error == (
        "pool 'nowhere' does not exist (task 'lost' of pipeline 'unknown_pool' asks for 1 "
        "slot(s) of it); create it with 'headwater pools set nowhere SLOTS' or in the "
        f"[pools] section of headwater.toml, then 'headwater retry {run.run_id}'"
    )
    assert instances["after"].state == "upstream_failed"
    assert fake_runtime.store.get_tries(run.run_id) == []  # it never started


@task(pool="source", pool_slots=3)
def greedy() -> int:
    return 1


@pipeline
def too_greedy() -> None:
    greedy()


def test_a_task_asking_for_more_slots_than_its_pool_has_fails_at_start(
    fake_runtime: Runtime,
) -> None:
    fake_runtime.store.set_pool("source", 2, "", fake_runtime.clock.now())
    run = fake_runtime.run(too_greedy, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    assert run.state == "failed"
    error = fake_runtime.store.get_task_instances(run.run_id)[0].error
    assert error == (
        "task 'greedy' asks for 3 slots of pool 'source', which has 2: it could never "
        "start; give the pool more slots with 'headwater pools set source 3' or lower "
        f"the task's pool_slots, then 'headwater retry {run.run_id}'"
    )


@task(pool="source")
def patient(ctx: Context) -> None:
    shared.enter(name_of(ctx))
    shared.leave()


@pipeline
def waits() -> None:
    patient()


def test_a_pool_of_zero_slots_holds_its_tasks_in_queued_until_it_grows(
    fake_runtime: Runtime,
) -> None:
    fake_runtime.store.set_pool("source", 0, "paused", fake_runtime.clock.now())
    run = new_run(fake_runtime, waits, 5)
    host = host_for(fake_runtime)
    assert host.add(waits, run)
    host.start()
    try:
        for _ in range(3):
            host.step(0)
        assert [ti.state for ti in fake_runtime.store.get_task_instances(run.run_id)] == ["queued"]
        fake_runtime.store.set_pool("source", 1, None, fake_runtime.clock.now())
        host.run_until_done()
    finally:
        host.shutdown()
    assert fake_runtime.store.get_run(run.run_id).state == "success"
    assert shared.order == ["waits.patient:05"]


attempts: list[int] = []


@task(pool="source", retries=2, retry_delay=0)
def flaky(ctx: Context) -> None:
    attempts.append(ctx.try_number)
    if ctx.try_number < 3:
        raise ConnectionError("the replica hung up")


@pipeline
def flaky_reader() -> None:
    flaky()


def test_a_failed_try_gives_its_slot_back_and_its_retry_takes_one_again(
    fake_runtime: Runtime,
) -> None:
    attempts.clear()
    fake_runtime.store.set_pool("source", 1, "", fake_runtime.clock.now())
    run = fake_runtime.run(flaky_reader, logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    assert run.state == "success"
    assert attempts == [1, 2, 3]
    assert in_use(fake_runtime) == {"source": 0}


def test_slots_of_a_host_that_died_come_back_when_its_lease_expires(
    fake_runtime: Runtime,
) -> None:
    clock = fake_runtime.clock
    assert isinstance(clock, FakeClock)
    fake_runtime.store.set_pool("source", 1, "", clock.now())
    holder = reader("holder", ("read", SOURCE))
    # Given a host that took the pool's only slot for a try, then died (it is never
    # stepped again, so it renews nothing)
    held_run = new_run(fake_runtime, holder, 1)
    dead = host_for(fake_runtime, owner="dead-host")
    assert dead.add(holder, held_run)
    dead.start()
    try:
        dead.step(0)
        shared.wait_entered(1)
        died_at = clock.now()
        # When another host needs that slot for another run
        seen: list[tuple[str, str]] = []
        alive = EngineHost(
            fake_runtime.store,
            ThreadExecutor(4, clock=clock),
            clock=clock,
            result_store=fake_runtime.result_store,
            logs_dir=fake_runtime.settings.logs_dir,
            owner="alive-host",
            listener=lambda label, state: seen.append((label, state)),
        )
        run = new_run(fake_runtime, waits, 2)
        assert alive.add(waits, run)
        alive.start()
        try:
            alive.run_until_done()
        finally:
            alive.shutdown()
        # Then its task waited in queued until the dead host's lease ran out, then ran
        assert ("patient", "queued") in seen
        assert fake_runtime.store.get_run(run.run_id).state == "success"
        started = fake_runtime.store.get_tries(run.run_id)[0].started_at
        assert started is not None
        assert started - died_at >= timedelta(seconds=30)  # the default lease

        # And the dead host's run, taken over, gives its interrupted try a new one
        shared.gate.set()
        taker = host_for(fake_runtime, owner="alive-host")
        assert taker.add(holder, held_run)
        taker.start()
        try:
            taker.run_until_done()
        finally:
            taker.shutdown()
    finally:
        dead.shutdown()
    assert fake_runtime.store.get_run(held_run.run_id).state == "success"
    tries = fake_runtime.store.get_tries(held_run.run_id, "read")
    assert [t.state for t in tries] == ["failed", "success"]
    assert in_use(fake_runtime) == {"source": 0}


def test_a_run_resumed_with_an_instance_in_queued_starts_it(fake_runtime: Runtime) -> None:
    # (the process died while the instance waited for a slot: it has no try to close)
    fake_runtime.store.set_pool("source", 0, "paused", fake_runtime.clock.now())
    run = new_run(fake_runtime, waits, 5)
    host = host_for(fake_runtime)
    assert host.add(waits, run)
    host.start()
    try:
        host.step(0)
        host.step(0)
    finally:
        host.shutdown()
    assert [ti.state for ti in fake_runtime.store.get_task_instances(run.run_id)] == ["queued"]
    host.release_leases()
    fake_runtime.store.set_pool("source", 1, None, fake_runtime.clock.now())
    resumed = fake_runtime.resume(run.run_id, waits)
    assert resumed.state == "success"
    assert [t.try_number for t in fake_runtime.store.get_tries(run.run_id)] == [1]


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_pipeline_test_runs_tasks_that_use_pools(executor: str) -> None:
    # a test run is alone: its pools exist and hold all its tasks
    result = flaky_reader.test(date="2026-01-05", executor=executor)
    assert result.state == "success"
    assert result.tasks["flaky"].tries == 3


def test_a_host_that_loses_its_run_gives_up_its_waiting_instances_and_its_slots(
    fake_runtime: Runtime,
) -> None:
    clock = fake_runtime.clock
    assert isinstance(clock, FakeClock)
    fake_runtime.store.set_pool("source", 1, "", clock.now())
    pair = reader("pair", ("a", SOURCE), ("b", SOURCE))
    run = new_run(fake_runtime, pair, 1)
    host = host_for(fake_runtime)
    assert host.add(pair, run)
    host.start()
    try:
        host.step(0)
        shared.wait_entered(1)  # one try holds the slot, the other instance is queued
        assert host.admission.pool_waiting
        # Given another process that took the run over (as if this one had stalled)
        clock.advance(11)  # past a third of the lease: time to renew; the slot is live
        now = clock.now()
        taken = fake_runtime.store.claim_run(
            run.run_id, "thief", now, now + timedelta(seconds=60), take_over=True
        )
        assert taken is not None
        assert in_use(fake_runtime) == {"source": 1}
        # When this host next renews its leases
        host.step(0)
        # Then it lets the run go, with its waiting instance; the try still running keeps
        # its slot (its code still uses the source) until it returns
        assert host.drivers == {}
        assert host.admission.pool_waiting == {}
        assert in_use(fake_runtime) == {"source": 1}
        assert host.busy_runs() == {run.run_id}  # not to be claimed again meanwhile
        shared.gate.set()
        wait_until(lambda: bool(host.step(0) is not None and not host.zombies))
        assert in_use(fake_runtime) == {"source": 0}
        assert host.busy_runs() == set()
    finally:
        shared.gate.set()
        host.shutdown()
