"""Scheduler.tick against a fake clock and the real store: which runs exist, and when."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from headwater import pipeline, task
from headwater.authoring.pipeline import Pipeline
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.engine.host import EngineHost
from headwater.engine.runs import create_run
from headwater.executors.threads import ThreadExecutor
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval, Timetable
from headwater.scheduling.scheduler import Scheduler, max_active_runs
from headwater.store.records import BackfillRecord, RunRecord
from headwater.store.sql.store import SqlStore


@task
def extract() -> int:
    return 1


def daily(**options: object) -> Pipeline:
    def body() -> None:
        extract()

    body.__name__ = str(options.pop("pipeline_id", "daily"))
    return pipeline(schedule="@daily", start="2026-01-01", **options)(body)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-10T00:30:00+00:00")


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime(settings, clock=clock)
    yield runtime
    runtime.close()


def scheduler_for(runtime: Runtime, clock: FakeClock, *pipelines: Pipeline) -> Scheduler:
    by_id = {p.pipeline_id: p for p in pipelines}
    return Scheduler(runtime.store, lambda: by_id, clock=clock, owner=runtime.owner)


def logical_dates(runtime: Runtime, pipeline_id: str) -> list[str]:
    runs = runtime.store.list_runs(pipeline_id, limit=1000)
    return sorted(f"{run.logical_date:%Y-%m-%d}" for run in runs)


def drive(runtime: Runtime, clock: FakeClock, claimed: list[tuple[Pipeline, object]]) -> None:
    host = EngineHost(
        runtime.store,
        ThreadExecutor(4, clock=clock),
        clock=clock,
        result_store=runtime.result_store,
        logs_dir=runtime.settings.logs_dir,
        owner=runtime.owner,
    )
    for pipeline_, run in claimed:
        host.add(pipeline_, run, claimed=True)  # type: ignore[arg-type]
    host.start()
    try:
        host.run_until_done()
    finally:
        host.shutdown()


def test_without_catchup_a_first_deploy_runs_only_the_latest_interval(
    runtime: Runtime, clock: FakeClock
) -> None:
    scheduler = scheduler_for(runtime, clock, daily())
    result = scheduler.tick(clock.now())
    assert logical_dates(runtime, "daily") == ["2026-01-09"]
    run = result.created[0]
    assert run.data_interval_start == datetime(2026, 1, 9, tzinfo=UTC)
    assert run.data_interval_end == datetime(2026, 1, 10, tzinfo=UTC)
    # the same tick again creates nothing
    assert scheduler.tick(clock.now()).created == []


def test_the_next_interval_is_created_once_it_has_ended(runtime: Runtime, clock: FakeClock) -> None:
    scheduler = scheduler_for(runtime, clock, daily())
    drive(runtime, clock, scheduler.tick(clock.now()).claimed)
    clock.advance(timedelta(hours=23))  # 2026-01-10T23:30: the 10th has not ended
    assert scheduler.tick(clock.now()).created == []
    clock.advance(timedelta(hours=1))  # 2026-01-11T00:30
    assert [f"{r.logical_date:%Y-%m-%d}" for r in scheduler.tick(clock.now()).created] == [
        "2026-01-10"
    ]


def test_without_catchup_days_missed_while_down_are_skipped(
    runtime: Runtime, clock: FakeClock
) -> None:
    scheduler = scheduler_for(runtime, clock, daily())
    drive(runtime, clock, scheduler.tick(clock.now()).claimed)
    clock.advance(timedelta(days=5))
    scheduler.tick(clock.now())
    assert logical_dates(runtime, "daily") == ["2026-01-09", "2026-01-14"]


def test_with_catchup_every_missed_interval_runs_oldest_first_within_max_active_runs(
    runtime: Runtime, clock: FakeClock
) -> None:
    catching_up = daily(catchup=True, max_active_runs=3)
    scheduler = scheduler_for(runtime, clock, catching_up)
    first = scheduler.tick(clock.now())
    assert [f"{r.logical_date:%d}" for r in first.created] == ["01", "02", "03"]
    assert scheduler.tick(clock.now()).created == []  # three are active already
    drive(runtime, clock, first.claimed)
    seen = []
    for _ in range(10):
        result = scheduler.tick(clock.now())
        seen.extend(f"{r.logical_date:%d}" for r in result.created)
        drive(runtime, clock, result.claimed)
    assert seen == ["04", "05", "06", "07", "08", "09"]
    assert len(logical_dates(runtime, "daily")) == 9


def test_catchup_runs_one_at_a_time_by_default() -> None:
    assert max_active_runs(daily(catchup=True)) == 1
    assert max_active_runs(daily()) == 16


def test_start_and_end_bound_the_intervals(runtime: Runtime, clock: FakeClock) -> None:
    bounded = daily(catchup=True, max_active_runs=50, end="2026-01-04")
    scheduler = scheduler_for(runtime, clock, bounded)
    scheduler.tick(clock.now())
    assert logical_dates(runtime, "daily") == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
        "2026-01-04",
    ]


def test_two_schedulers_never_create_the_same_run(runtime: Runtime, clock: FakeClock) -> None:
    catching_up = daily(catchup=True, max_active_runs=50)
    one = scheduler_for(runtime, clock, catching_up)
    two = Scheduler(runtime.store, lambda: {"daily": catching_up}, clock=clock, owner="other")
    created = one.tick(clock.now()).created + two.tick(clock.now()).created
    assert len(created) == 9
    assert len(logical_dates(runtime, "daily")) == 9


def test_a_claimed_run_is_not_claimed_by_another_scheduler(
    runtime: Runtime, clock: FakeClock
) -> None:
    one = scheduler_for(runtime, clock, daily())
    two = Scheduler(runtime.store, lambda: {"daily": daily()}, clock=clock, owner="other")
    assert len(one.tick(clock.now()).claimed) == 1
    assert two.tick(clock.now()).claimed == []
    clock.advance(timedelta(minutes=5))  # the first scheduler died: its lease expired
    assert len(two.tick(clock.now()).claimed) == 1


def test_two_schedulers_ticking_at_the_same_moment_create_each_run_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given two schedulers with their own connections, released at the same instant
    catching_up = daily(catchup=True, max_active_runs=50)
    stores = [SqlStore.from_settings(runtime.settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    created: list[list[str]] = [[], []]

    def tick(index: int) -> None:
        scheduler = Scheduler(
            stores[index], lambda: {"daily": catching_up}, clock=clock, owner=f"s{index}"
        )
        barrier.wait()
        for _ in range(3):
            created[index].extend(run.run_id for run in scheduler.tick(clock.now()).created)

    # When both tick, over and over, against the same store
    threads = [threading.Thread(target=tick, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()

    # Then every interval has exactly one run, made by one of them
    assert len(created[0]) + len(created[1]) == 9
    assert logical_dates(runtime, "daily") == [f"2026-01-{day:02d}" for day in range(1, 10)]


# -- catching up a long backlog -----------------------------------------------------------


class CountingTimetable(Timetable):
    """A pipeline's real timetable, counting the intervals a tick makes it compute."""

    def __init__(self, inner: Timetable) -> None:
        super().__init__(start=inner.start, end=inner.end)
        self.inner = inner
        self.computed = 0

    @property
    def description(self) -> str:
        return self.inner.description

    def intervals_from(self, moment: datetime) -> Iterator[DataInterval]:
        for interval in self.inner.intervals_from(moment):
            self.computed += 1
            yield interval

    def latest_complete(self, now: datetime) -> DataInterval | None:
        self.computed += 1
        return self.inner.latest_complete(now)


class CountingStore(SqlStore):
    """The real SQL store, counting the runs ``runs_between`` reads."""

    rows_read = 0

    def runs_between(self, pipeline_id: str, first: datetime, last: datetime) -> list[RunRecord]:
        runs = super().runs_between(pipeline_id, first, last)
        self.rows_read += len(runs)
        return runs


def test_a_tick_of_a_year_long_minutely_catchup_computes_only_what_it_creates(
    settings: Settings,
) -> None:
    # Given a minutely pipeline a year behind, whose first 100 minutes a backfill ran
    clock = FakeClock("2026-01-01T00:00:30+00:00")

    @pipeline(schedule="* * * * *", start="2025-01-01", catchup=True, max_active_runs=3)
    def minutely() -> None:
        extract()

    counting = CountingTimetable(minutely.timetable)  # type: ignore[arg-type]
    minutely.timetable = counting
    store = CountingStore.from_settings(settings)
    begin = datetime(2025, 1, 1, tzinfo=UTC)
    store.create_backfill(
        BackfillRecord(
            backfill_id="b1",
            pipeline_id=minutely.pipeline_id,
            start_date=begin,
            end_date=begin + timedelta(minutes=99),
            max_active_runs=100,
            reprocess="failed",
            reverse=False,
            params={},
            state="success",
            created_at=clock.now(),
        )
    )
    for minute in range(100):
        interval = DataInterval(
            start=begin + timedelta(minutes=minute), end=begin + timedelta(minutes=minute + 1)
        )
        create_run(
            store, minutely, clock=clock, interval=interval, run_type="backfill", backfill_id="b1"
        )
    scheduler = Scheduler(store, lambda: {minutely.pipeline_id: minutely}, clock=clock, owner="s")

    # When the scheduler ticks
    try:
        created = scheduler.tick(clock.now()).created
    finally:
        store.close()

    # Then it creates the three oldest missed intervals, computing and reading little more
    assert [f"{run.logical_date:%Y-%m-%d %H:%M}" for run in created] == [
        "2025-01-01 01:40",
        "2025-01-01 01:41",
        "2025-01-01 01:42",
    ]
    assert counting.computed <= 300
    assert store.rows_read == 100


def test_two_schedulers_never_exceed_max_active_runs_together(
    runtime: Runtime, clock: FakeClock
) -> None:
    # Given: a pipeline without schedule, max_active_runs 1, and three queued runs
    @pipeline(max_active_runs=1)
    def limited() -> None:
        extract()

    for day in (5, 6, 7):
        create_run(
            runtime.store, limited, clock=clock, logical_date=datetime(2026, 1, day, tzinfo=UTC)
        )
    by_id = {limited.pipeline_id: limited}
    first = Scheduler(runtime.store, lambda: by_id, clock=clock, owner="host:1:a")
    second = Scheduler(runtime.store, lambda: by_id, clock=clock, owner="host:2:b")

    # When: the first claims one (it has not started it yet: it still reads queued), and
    # the second ticks
    claimed_first = first.tick(clock.now()).claimed
    claimed_second = second.tick(clock.now()).claimed

    # Then: the second claims nothing
    assert len(claimed_first) == 1
    assert claimed_first[0][1].state == "queued"
    assert claimed_second == []


def test_a_scheduler_never_claims_a_run_it_drives(runtime: Runtime, clock: FakeClock) -> None:
    # Given: a run this scheduler claimed, whose lease has lapsed (its process stalled)
    @pipeline
    def stalled() -> None:
        extract()

    day = datetime(2026, 1, 5, tzinfo=UTC)
    run = create_run(runtime.store, stalled, clock=clock, logical_date=day)
    scheduler = scheduler_for(runtime, clock, stalled)
    assert [r.run_id for _, r in scheduler.tick(clock.now()).claimed] == [run.run_id]
    clock.advance(timedelta(minutes=5))

    # When: it ticks again, driving that run still
    again = scheduler.tick(clock.now(), busy={run.run_id}).claimed

    # Then: the run is not claimed a second time
    assert run.run_id not in [r.run_id for _, r in again]
