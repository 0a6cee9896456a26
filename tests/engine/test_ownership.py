"""One driver per run: fencing, a run's error isolated, leases kept off the engine's thread.

Tasks block on events the test sets, so the moments that matter are real; the tests wait
on conditions with timeouts, never on fixed sleeps.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headwater import Context, pipeline, task
from headwater.config import Settings
from headwater.engine.host import EngineHost
from headwater.engine.runs import create_run
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.store.records import RunRecord
from headwater.store.sql.schema import task_instances

DAY = datetime(2026, 1, 5, tzinfo=UTC)

gates: dict[str, threading.Event] = {}
entered: dict[str, threading.Event] = {}


def reset_gates(*names: str) -> None:
    for name in names:
        gates[name] = threading.Event()
        entered[name] = threading.Event()


@task
def held(name: str) -> str:
    """Blocks until the test opens the gate ``name``."""
    entered[name].set()
    assert gates[name].wait(30), f"gate {name!r} never opened"
    return name


@pipeline
def first() -> None:
    held.override(task_id="slow")("first")


@pipeline
def second() -> None:
    held.override(task_id="slow")("second")


@pytest.fixture
def runtime(migrated_home: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings.for_home(migrated_home))
    yield runtime
    runtime.close()


def host_for(runtime: Runtime, **options: object) -> EngineHost:
    return EngineHost(
        runtime.store,
        ThreadExecutor(4, clock=runtime.clock),
        clock=runtime.clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=runtime.owner,
        **options,  # type: ignore[arg-type]
    )


def queued(runtime: Runtime, pipeline_: object, day: int = 5) -> RunRecord:
    return create_run(
        runtime.store,
        pipeline_,
        clock=runtime.clock,
        logical_date=datetime(2026, 1, day, tzinfo=UTC),
    )


def step_until(host: EngineHost, condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never held"
        host.step(0.05)


def test_a_stale_driver_is_refused_and_stops_while_its_other_runs_go_on(
    runtime: Runtime,
) -> None:
    # Given: one host driving two runs, each blocked in its try
    reset_gates("first", "second")
    one, two = queued(runtime, first), queued(runtime, second)
    host = host_for(runtime)
    assert host.add(first, one)
    assert host.add(second, two)
    host.start()
    try:
        step_until(host, lambda: entered["first"].is_set() and entered["second"].is_set())

        # When: another process takes the first run over (this one stalled, say), then
        # both tries end
        now = runtime.clock.now()
        taken = runtime.store.claim_run(
            one.run_id, "other-process", now, now + timedelta(minutes=5), take_over=True
        )
        assert taken is not None
        gates["first"].set()
        gates["second"].set()
        step_until(host, lambda: not host.drivers)
    finally:
        for gate in gates.values():
            gate.set()
        host.shutdown()

    # Then: nothing this host did after the takeover reached the first run...
    instances = runtime.store.get_task_instances(one.run_id)
    assert [(ti.task_id, ti.state) for ti in instances] == [("slow", "running")]
    assert runtime.store.get_run(one.run_id).owner == "other-process"
    assert "LeaseLost" in host.abandoned[one.run_id]
    # ... and the other run finished as if nothing happened
    assert runtime.store.get_run(two.run_id).state == "success"


def test_one_runs_rejected_change_stops_that_run_alone(runtime: Runtime) -> None:
    # Given: two runs in one host; the first's task instance is changed behind its back
    reset_gates("first", "second")
    one, two = queued(runtime, first), queued(runtime, second)
    host = host_for(runtime)
    assert host.add(first, one)
    assert host.add(second, two)
    host.start()
    try:
        step_until(host, lambda: entered["first"].is_set() and entered["second"].is_set())
        with runtime.store.engine.begin() as connection:
            connection.execute(
                task_instances.update()
                .where(task_instances.c.run_id == one.run_id)
                .values(state="failed")
            )

        # When: both tries end in the same step (one transaction for both runs)
        gates["first"].set()
        gates["second"].set()
        step_until(host, lambda: not host.drivers)
    finally:
        for gate in gates.values():
            gate.set()
        host.shutdown()

    # Then: the first run was let go, its lease released; the second one finished
    assert "TransitionRejected" in host.abandoned[one.run_id]
    assert runtime.store.get_run(one.run_id).lease_expires_at is None
    assert runtime.store.get_run(two.run_id).state == "success"


def test_a_host_never_drives_a_run_twice(runtime: Runtime) -> None:
    reset_gates("first")
    run = queued(runtime, first)
    host = host_for(runtime)
    assert host.add(first, run)
    claimed = runtime.store.get_run(run.run_id)
    assert not host.add(first, claimed, claimed=True)
    assert not host.add(first, claimed)
    assert list(host.drivers) == [run.run_id]


def test_leases_are_renewed_while_the_engines_thread_is_busy(tmp_path: Path) -> None:
    # Given: a short lease, and a host whose thread does not step for three leases
    runtime = Runtime(Settings.for_home(tmp_path, lease=timedelta(seconds=0.6)))
    reset_gates("first")
    run = queued(runtime, first)
    host = host_for(runtime, lease=timedelta(seconds=0.6))
    try:
        assert host.add(first, run)
        host.start()
        deadline = time.monotonic() + 1.8
        leased = []
        while time.monotonic() < deadline:
            lease = runtime.store.get_run(run.run_id).lease_expires_at
            leased.append(lease is not None and lease > datetime.now(UTC))
            time.sleep(0.1)
        # Then: the lease never lapsed: another process could not have claimed the run
        assert all(leased)
        now = datetime.now(UTC)
        assert runtime.store.claim_run(run.run_id, "other", now, now + timedelta(1)) is None
    finally:
        host.shutdown()
        runtime.close()


spans: list[tuple[str, float, float]] = []


def span(name: str, seconds: float) -> None:
    """Record that ``name`` ran for ``seconds``, blocked in C (a timeout cannot stop it)."""
    began = time.monotonic()
    try:
        time.sleep(seconds)
    finally:  # also when the timeout's exception ends the try as the sleep returns
        spans.append((name, began, time.monotonic()))


@task(pool="source", timeout=0.3, retries=1, retry_delay=0)
def stuck(ctx: Context) -> str:
    span(f"stuck-{ctx.try_number}", 1.5 if ctx.try_number == 1 else 0.01)
    return "done"


@task(pool="source")
def other() -> str:
    span("other", 0.05)
    return "done"


@pipeline
def contended() -> None:
    stuck()
    other()


def test_a_timed_out_thread_try_keeps_its_slots_until_its_code_returns(
    runtime: Runtime,
) -> None:
    # Given: a 1-slot pool and two threads; stuck's first try times out after 0.3 s, but
    # its code returns only after 1.5 s; other waits for the same slot
    spans.clear()
    runtime.store.set_pool("source", 1, None, runtime.clock.now())
    record = runtime.create_run(contended, logical_date=DAY)

    run = runtime.engine(contended, max_concurrency=2).drive(record.run_id)

    # Then: the pool never had two users at once, and the retry began after try 1 returned
    ordered = sorted(spans, key=lambda item: item[1])
    for (_, _, end), (_, begin, _) in itertools.pairwise(ordered):
        assert begin >= end, ordered
    times = {name: (begin, end) for name, begin, end in spans}
    assert times["stuck-2"][0] >= times["stuck-1"][1]
    assert run.state == "success"
    tries = runtime.store.get_tries(record.run_id, "stuck")
    assert [t.state for t in tries] == ["failed", "success"]
    assert tries[0].error is not None
    assert "TaskTimeoutError" in tries[0].error
    assert tries[0].duration is not None
    assert tries[0].duration >= 0.3  # its real duration until it was given up on


@task(timeout=0.3)
def blocks() -> str:
    span("blocks", 1.0)
    return "done"


@task(timeout=5)
def behind() -> str:
    span("behind", 0.01)
    return "done"


@pipeline
def one_thread() -> None:
    blocks()
    behind()


def test_no_try_waits_behind_a_try_given_up_on_or_starts_after_its_run(
    runtime: Runtime,
) -> None:
    # Given: one thread; "blocks" times out but keeps the thread for a second
    spans.clear()
    record = runtime.create_run(one_thread, logical_date=DAY)

    run = runtime.engine(one_thread, max_concurrency=1).drive(record.run_id)
    ended = time.monotonic()
    time.sleep(0.3)

    # Then: "behind" ran once the thread was free, within its own timeout, before the
    # run ended; nothing ran after the run ended
    states = {ti.task_id: ti.state for ti in runtime.store.get_task_instances(record.run_id)}
    assert states == {"blocks": "failed", "behind": "success"}
    assert run.state == "failed"
    assert all(end <= ended for _, _, end in spans)
    assert [name for name, _, _ in sorted(spans, key=lambda item: item[1])] == [
        "blocks",
        "behind",
    ]
