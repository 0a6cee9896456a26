"""Backfills: which intervals they cover, what they skip or redo, and how they advance."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headwater import Context, pipeline, task
from headwater.authoring.pipeline import Pipeline
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.engine.host import EngineHost
from headwater.errors import ConfigError
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.scheduling.backfill import (
    BACKFILL_PRIORITY,
    Action,
    BackfillProgress,
    Reprocess,
    acquire_backfill,
    action_for,
    advance_backfill,
    backfill_intervals,
    backfill_progress,
    plan_backfill,
    range_bounds,
    record_backfill,
)
from headwater.scheduling.backfill_runner import BackfillRunner
from headwater.scheduling.scheduler import SCHEDULED_PRIORITY, Scheduler
from headwater.store.records import BackfillRecord, RunRecord

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")


@task
def load(ctx: Context) -> str:
    if ctx.ds in ctx.params.get("fail", []):
        raise RuntimeError(f"no data for {ctx.ds}")
    return ctx.ds


def daily(**options: object) -> Pipeline:
    def body() -> None:
        load()

    body.__name__ = str(options.pop("pipeline_id", "daily"))
    options.setdefault("schedule", "@daily")
    options.setdefault("start", "2026-01-01")
    return pipeline(**options)(body)


def days(*numbers: int) -> list[str]:
    return [f"2026-01-{n:02d}" for n in numbers]


def first_to(day: int) -> tuple[datetime, datetime]:
    return range_bounds("2026-01-01", f"2026-01-{day:02d}", UTC_ZONE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-10T00:30:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def dates_of(runs: list[RunRecord]) -> list[str]:
    return [f"{run.logical_date:%Y-%m-%d}" for run in runs]


def drive(runtime: Runtime, clock: FakeClock, claimed: list[tuple[Pipeline, RunRecord]]) -> None:
    host = EngineHost(
        runtime.store,
        ThreadExecutor(4, clock=clock),
        clock=clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=runtime.owner,
    )
    for pipeline_, run in claimed:
        host.add(pipeline_, run)  # takes the lease: runs made by a backfill have none
    host.start()
    try:
        host.run_until_done()
    finally:
        host.shutdown()


def run_to_the_end(
    runtime: Runtime, clock: FakeClock, pipe: Pipeline, backfill: BackfillRecord
) -> BackfillProgress:
    """Advance the backfill and drive its runs here until it ends."""
    progress = advance_backfill(runtime.store, pipe, backfill, clock=clock)
    while not progress.finished:
        drive(runtime, clock, [(pipe, run) for run in progress.created])
        progress = advance_backfill(runtime.store, pipe, backfill, clock=clock)
    return progress


# the range and its intervals


def test_a_date_alone_as_end_covers_the_whole_day() -> None:
    first, last = range_bounds("2026-01-01", "2026-01-05", NEW_YORK)
    assert first == datetime(2026, 1, 1, 5, tzinfo=UTC)  # midnight in New York
    assert last == datetime(2026, 1, 6, 5, tzinfo=UTC) - timedelta(microseconds=1)
    # a datetime is taken as given, in the zone when naive
    assert range_bounds("2026-01-01T06:00", "2026-01-05T02:00", NEW_YORK)[1] == datetime(
        2026, 1, 5, 7, tzinfo=UTC
    )


def test_bad_bounds_are_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match=r"--end '2026-01-01' is before --start '2026-01-05'"):
        range_bounds("2026-01-05", "2026-01-01", UTC_ZONE)
    with pytest.raises(ConfigError, match=r"--start: invalid date 'yesterday'"):
        range_bounds("yesterday", "2026-01-01", UTC_ZONE)


def test_both_ends_of_the_range_are_included() -> None:
    first, last = first_to(5)
    intervals = backfill_intervals(daily(), first, last)
    assert [f"{i.logical_date:%Y-%m-%d}" for i in intervals] == days(1, 2, 3, 4, 5)
    # an end given as the exact logical date includes it too
    exact = backfill_intervals(daily(), first, datetime(2026, 1, 3, tzinfo=UTC))
    assert len(exact) == 3


def test_intervals_are_those_of_the_schedule_within_the_pipeline_bounds() -> None:
    first, last = range_bounds("2025-12-25", "2026-01-20", UTC_ZONE)
    bounded = daily(start="2026-01-03", end="2026-01-06")
    intervals = backfill_intervals(bounded, first, last)
    assert [f"{i.logical_date:%Y-%m-%d}" for i in intervals] == days(3, 4, 5, 6)


def test_intervals_follow_daylight_saving_in_the_pipeline_zone() -> None:
    # Given a daily 02:30 in New York, whose 2026-03-08 02:30 does not exist
    nightly = daily(schedule="30 2 * * *", timezone="America/New_York", start="2026-03-01")
    first, last = range_bounds("2026-03-07", "2026-03-09", NEW_YORK)

    intervals = backfill_intervals(nightly, first, last)

    assert [(i.start, i.end) for i in intervals] == [
        (datetime(2026, 3, 7, 7, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, tzinfo=UTC)),
        (datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 3, 9, 6, 30, tzinfo=UTC)),
        (datetime(2026, 3, 9, 6, 30, tzinfo=UTC), datetime(2026, 3, 10, 6, 30, tzinfo=UTC)),
    ]


def test_a_pipeline_without_a_schedule_cannot_be_backfilled() -> None:
    first, last = first_to(5)
    with pytest.raises(ConfigError, match=r"pipeline 'manual' has no schedule, so it has no"):
        backfill_intervals(daily(pipeline_id="manual", schedule=None), first, last)


# what happens to intervals that have a run already


def run_record(state: str, ended_at: datetime | None = None) -> RunRecord:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    return RunRecord(
        run_id="r",
        pipeline_id="daily",
        logical_date=day,
        data_interval_start=day,
        data_interval_end=day + timedelta(days=1),
        params={},
        state=state,
        run_type="scheduled",
        triggered_by="scheduler",
        source_file=None,
        created_at=day,
        ended_at=ended_at,
    )


@pytest.mark.parametrize(
    ("state", "none", "failed", "all_"),
    [
        ("success", "skip", "skip", "redo"),
        ("failed", "skip", "redo", "redo"),
        ("queued", "skip", "skip", "skip"),
        ("running", "skip", "skip", "skip"),
    ],
)
def test_reprocess_decides_what_happens_to_an_existing_run(
    state: str, none: str, failed: str, all_: str
) -> None:
    since = datetime(2026, 2, 1, tzinfo=UTC)
    existing = run_record(state, ended_at=datetime(2026, 1, 2, tzinfo=UTC))
    decided = [action_for(existing, reprocess, since).value for reprocess in Reprocess]
    assert decided == [none, failed, all_]
    assert all(action_for(None, reprocess, since) is Action.RUN for reprocess in Reprocess)


def test_reprocess_all_leaves_a_run_that_succeeded_after_the_backfill_began() -> None:
    since = datetime(2026, 2, 1, tzinfo=UTC)
    fresh = run_record("success", ended_at=since + timedelta(minutes=1))
    assert action_for(fresh, Reprocess.ALL, since) is Action.SKIP


def test_the_plan_reads_the_runs_in_the_store(runtime: Runtime, clock: FakeClock) -> None:
    # Given day 2 succeeded and day 3 failed
    pipe = daily()
    runtime.run(pipe, logical_date=datetime(2026, 1, 2, tzinfo=UTC))
    runtime.run(pipe, logical_date=datetime(2026, 1, 3, tzinfo=UTC), params={"fail": days(3)})
    first, last = first_to(4)

    def plan(reprocess: Reprocess, reverse: bool = False) -> list[tuple[str, str]]:
        steps = plan_backfill(
            pipe, runtime.store, first, last, reprocess, now=clock.now(), reverse=reverse
        )
        return [(f"{s.interval.logical_date:%d}", s.action.value) for s in steps]

    assert plan(Reprocess.FAILED) == [("01", "run"), ("02", "skip"), ("03", "redo"), ("04", "run")]
    assert plan(Reprocess.NONE) == [("01", "run"), ("02", "skip"), ("03", "skip"), ("04", "run")]
    assert plan(Reprocess.ALL) == [("01", "run"), ("02", "redo"), ("03", "redo"), ("04", "run")]
    assert plan(Reprocess.FAILED, reverse=True)[0] == ("04", "run")


# advancing a recorded backfill


def test_a_redone_interval_keeps_its_run_and_joins_the_backfill(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given day 2 failed in a scheduled-like run
    pipe = daily()
    failed = runtime.run(
        pipe, logical_date=datetime(2026, 1, 2, tzinfo=UTC), params={"fail": days(2)}
    )
    first, last = first_to(3)
    backfill = record_backfill(runtime.store, pipe, first, last, now=clock.now())

    # When the backfill advances and its runs are driven
    progress = run_to_the_end(runtime, clock, pipe, backfill)

    # Then day 2 ran again in the same run, now the backfill's, and nothing is doubled
    assert progress.backfill.state == "success"
    redone = runtime.store.get_run(failed.run_id)
    assert (redone.state, redone.backfill_id) == ("success", backfill.backfill_id)
    assert redone.priority == BACKFILL_PRIORITY
    assert len(runtime.store.get_tries(failed.run_id, "load")) == 2
    assert dates_of(runtime.store.runs_between("daily", first, last)) == days(1, 2, 3)
    created = runtime.store.find_run("daily", datetime(2026, 1, 1, tzinfo=UTC))
    assert created is not None
    assert (created.run_type, created.priority) == ("backfill", 0)


def test_the_backfill_fails_when_one_of_its_runs_fails_and_a_second_one_redoes_it(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipe = daily()
    first, last = first_to(3)
    backfill = record_backfill(
        runtime.store, pipe, first, last, now=clock.now(), params={"fail": days(2)}
    )
    progress = run_to_the_end(runtime, clock, pipe, backfill)
    assert progress.backfill.state == "failed"
    assert dates_of(progress.failed) == days(2)

    again = record_backfill(runtime.store, pipe, first, last, now=clock.now())
    progress = advance_backfill(runtime.store, pipe, again, clock=clock)
    assert dates_of(progress.created) == days(2)
    assert [s.action for s in progress.skipped] == [Action.SKIP, Action.SKIP]


def test_a_running_backfill_over_the_same_days_is_refused(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipe = daily()
    backfill = record_backfill(runtime.store, pipe, *first_to(5), now=clock.now())
    with pytest.raises(ConfigError, match="already has a running backfill") as refused:
        record_backfill(runtime.store, pipe, *first_to(2), now=clock.now())
    assert backfill.backfill_id in str(refused.value)
    # another range is fine
    later = range_bounds("2026-01-06", "2026-01-07", UTC_ZONE)
    record_backfill(runtime.store, pipe, *later, now=clock.now())


def test_a_scheduler_advances_a_detached_backfill_k_runs_at_a_time(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a detached backfill of five days, two at a time, newest first
    pipe = daily()
    scheduler = Scheduler(runtime.store, lambda: {"daily": pipe}, clock=clock, owner=runtime.owner)
    backfill = record_backfill(
        runtime.store, pipe, *first_to(5), now=clock.now(), max_active_runs=2, reverse=True
    )

    # When the scheduler ticks and drives what it claims, until the backfill ends
    order: list[str] = []
    for _ in range(10):
        result = scheduler.tick(clock.now())
        order.extend(dates_of([r for r in result.created if r.backfill_id]))
        mine = backfill_progress(
            runtime.store, pipe, runtime.store.get_backfill(backfill.backfill_id)
        )
        assert len(mine.active) <= 2
        drive(runtime, clock, result.claimed)
        if runtime.store.get_backfill(backfill.backfill_id).state != "running":
            break

    # Then each day ran once, newest first, and the backfill succeeded
    assert order == days(5, 4, 3, 2, 1)
    assert runtime.store.get_backfill(backfill.backfill_id).state == "success"


def test_the_latest_scheduled_interval_goes_ahead_of_backfill_runs(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a pipeline limited to one active run, and a backfill whose two runs are queued
    pipe = daily(max_active_runs=1)
    scheduler = Scheduler(runtime.store, lambda: {"daily": pipe}, clock=clock, owner="s1")
    backfill = record_backfill(runtime.store, pipe, *first_to(5), now=clock.now())
    held = acquire_backfill(runtime.store, backfill.backfill_id, "s1", clock.now(), timedelta(1))
    assert held is not None
    queued = advance_backfill(runtime.store, pipe, held, clock=clock).created
    assert dates_of(queued) == days(1, 2)
    clock.advance(timedelta(minutes=1))

    # When the scheduler ticks with room for one run
    result = scheduler.tick(clock.now(), capacity=1)

    # Then the scheduled run is made despite the backfill's, and it is claimed first
    [(_, claimed)] = result.claimed
    assert f"{claimed.logical_date:%Y-%m-%d}" == "2026-01-09"
    assert (claimed.run_type, claimed.priority) == ("scheduled", SCHEDULED_PRIORITY)
    # and the backfill's runs are claimed next, outside the pipeline's own limit
    claimed_next = [run for _, run in scheduler.tick(clock.now()).claimed if run.backfill_id]
    assert dates_of(claimed_next) == days(1, 2)


def test_catchup_carries_on_after_the_days_a_backfill_ran(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given a catchup pipeline whose scheduler ran 01-01 and 01-02, then a backfill of
    # 01-03 to 01-06
    pipe = daily(catchup=True)
    scheduler = Scheduler(runtime.store, lambda: {"daily": pipe}, clock=clock, owner=runtime.owner)
    for _ in range(2):
        drive(runtime, clock, scheduler.tick(clock.now()).claimed)
    later = range_bounds("2026-01-03", "2026-01-06", UTC_ZONE)
    run_to_the_end(
        runtime, clock, pipe, record_backfill(runtime.store, pipe, *later, now=clock.now())
    )

    # When the scheduler catches up
    for _ in range(5):
        drive(runtime, clock, scheduler.tick(clock.now()).claimed)

    # Then it runs the days after the backfill, instead of stopping at its first day
    runs = runtime.store.list_runs("daily", limit=100)
    assert sorted(dates_of(runs)) == days(*range(1, 10))
    by_type = {f"{r.logical_date:%d}": r.run_type for r in runs}
    assert [by_type[d] for d in ("01", "02", "03", "06", "07", "09")] == [
        "scheduled",
        "scheduled",
        "backfill",
        "backfill",
        "scheduled",
        "scheduled",
    ]


def test_a_live_owner_keeps_its_backfill_and_a_dead_one_loses_it(
    runtime: Runtime, clock: FakeClock
) -> None:
    pipe = daily()
    scheduler = Scheduler(runtime.store, lambda: {"daily": pipe}, clock=clock, owner="s1")
    backfill = record_backfill(
        runtime.store,
        pipe,
        *first_to(3),
        now=clock.now(),
        owner="elsewhere:1:abc",
        lease_until=clock.now() + timedelta(seconds=30),
    )
    assert not [r for r in scheduler.tick(clock.now()).created if r.backfill_id]
    clock.advance(timedelta(seconds=31))  # its owner stopped renewing: the lease expired
    assert len([r for r in scheduler.tick(clock.now()).created if r.backfill_id]) == 2
    assert runtime.store.get_backfill(backfill.backfill_id).owner == "s1"


# the foreground runner


class Gauge:
    """How many tries run at once, and the most ever."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.barrier = threading.Barrier(2, timeout=20)


GAUGE = Gauge()


@task
def meet(ctx: Context) -> str:
    with GAUGE.lock:
        GAUGE.now += 1
        GAUGE.peak = max(GAUGE.peak, GAUGE.now)
    try:
        GAUGE.barrier.wait()  # only returns once two runs are running together
    finally:
        with GAUGE.lock:
            GAUGE.now -= 1
    return ctx.ds


@pytest.fixture
def gauge() -> Gauge:
    global GAUGE
    GAUGE = Gauge()
    return GAUGE


def test_the_runner_keeps_exactly_k_runs_going(settings: Settings, gauge: Gauge) -> None:
    @pipeline(schedule="@daily", start="2026-01-01")
    def pairs() -> None:
        meet()

    runtime = Runtime(settings)
    try:
        backfill = record_backfill(
            runtime.store, pairs, *first_to(6), now=runtime.clock.now(), max_active_runs=2
        )
        seen: list[int] = []
        progress = BackfillRunner(
            runtime, pairs, backfill, poll=0.05, on_progress=lambda p: seen.append(len(p.active))
        ).run()
    finally:
        runtime.close()
    assert progress.backfill.state == "success"
    assert [run.state for run in progress.runs] == ["success"] * 6
    assert gauge.peak == 2  # two at once (the barrier needs them), never three
    assert max(seen) <= 2


def test_an_interrupted_runner_leaves_the_backfill_to_a_scheduler(
    settings: Settings, clock: FakeClock
) -> None:
    pipe = daily()
    runtime = Runtime(settings, clock=clock)
    try:
        backfill = record_backfill(runtime.store, pipe, *first_to(4), now=clock.now())

        def interrupt(progress: object) -> None:
            raise KeyboardInterrupt

        runner = BackfillRunner(runtime, pipe, backfill, on_progress=interrupt)
        with pytest.raises(KeyboardInterrupt):
            runner.run()
        record = runtime.store.get_backfill(backfill.backfill_id)
        assert record.state == "running"
        assert dataclasses.replace(record, lease_expires_at=None) == record  # let go
        scheduler = Scheduler(runtime.store, lambda: {"daily": pipe}, clock=clock, owner="s2")
        clock.advance(timedelta(seconds=1))
        claimed = scheduler.tick(clock.now()).claimed
        assert dates_of([run for _, run in claimed if run.backfill_id]) == days(1, 2)
    finally:
        runtime.close()


def test_progress_counts_runs_done_out_of_runs_to_make(runtime: Runtime, clock: FakeClock) -> None:
    pipe = daily()
    runtime.run(pipe, logical_date=datetime(2026, 1, 1, tzinfo=UTC))
    backfill: BackfillRecord = record_backfill(runtime.store, pipe, *first_to(4), now=clock.now())
    progress = advance_backfill(runtime.store, pipe, backfill, clock=clock)
    assert (progress.done, progress.total, len(progress.active)) == (0, 3, 2)
    assert dates_of([s.existing for s in progress.skipped if s.existing]) == days(1)
