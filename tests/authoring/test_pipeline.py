"""``@pipeline``: its id, options and their validation."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headwater import DefinitionError, NotFoundError, Pipeline, pipeline, task


@task
def extract() -> int:
    return 1


def test_the_pipeline_id_and_description_come_from_the_function() -> None:
    @pipeline
    def nightly() -> None:
        """Load the night's orders."""
        extract()

    assert isinstance(nightly, Pipeline)
    assert nightly.pipeline_id == "nightly"
    assert nightly.description == "Load the night's orders."
    assert nightly.task_ids == ["extract"]
    assert repr(nightly) == "<Pipeline 'nightly' (1 tasks)>"
    assert nightly.module_name == __name__
    assert nightly.source_file == __file__


def test_options_are_kept() -> None:
    @pipeline(
        pipeline_id="orders",
        schedule="@daily",
        start="2026-01-01",
        timezone="Europe/Paris",
        max_active_runs=2,
        params={"region": "eu"},
        tags=["sales"],
        description="Orders",
    )
    def anything() -> None:
        extract()

    assert anything.pipeline_id == "orders"
    assert anything.schedule == "@daily"
    # a naive start is in the pipeline's timezone
    assert anything.start == datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
    assert anything.max_active_runs == 2
    assert anything.params == {"region": "eu"}
    assert anything.tags == ("sales",)
    assert anything.description == "Orders"


def test_an_aware_start_keeps_its_zone() -> None:
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)

    @pipeline(start=start, schedule=timedelta(hours=1))
    def hourly() -> None:
        extract()

    assert hourly.start == start


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"timezone": "Mars/Olympus"},
            "unknown timezone 'Mars/Olympus'; use an IANA name such as 'UTC' or 'Europe/Paris'",
        ),
        (
            {"schedule": 3600},
            "schedule must be a cron string, a preset such as '@daily', a timedelta, "
            "on_file(...), after(...), on_asset(...) or None, got 3600",
        ),
        ({"max_active_runs": 0}, "max_active_runs must be a whole number of 1 or more, got 0"),
        (
            {"max_active_runs": True},
            "max_active_runs must be a whole number of 1 or more, got True",
        ),
        ({"on_failure": "oops"}, "on_failure must be callable, got 'oops'"),
        ({"on_success": 1}, "on_success must be callable, got 1"),
        (
            {"start": "yesterday"},
            "start must be an ISO date such as '2026-01-01', got 'yesterday'",
        ),
        ({"end": 5}, "end must be a date or datetime, got 5"),
        ({"schedule": "0 2 * *"}, "invalid schedule '0 2 * *': it has 4 field(s)"),
        ({"schedule": "@once"}, "schedule '@once' needs a start"),
        (
            {"start": "2026-02-01", "end": "2026-01-01"},
            "end 2026-01-01T00:00:00+00:00 is before start 2026-02-01T00:00:00+00:00",
        ),
        ({"pipeline_id": "my pipeline"}, "invalid pipeline id 'my pipeline'"),
    ],
)
def test_an_invalid_option_names_the_pipeline(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline(**options)
        def nightly() -> None:
            extract()

    message = str(caught.value)
    pipeline_id = options.get("pipeline_id", "nightly")
    assert message.startswith(f"pipeline {pipeline_id!r} ({__file__}:")
    assert expected in message


def test_the_pipeline_function_runs_once_when_it_is_declared() -> None:
    calls: list[str] = []

    @pipeline
    def counted() -> None:
        calls.append("called")
        extract()

    assert calls == ["called"]
    assert counted.plan.pipeline_id == "counted"


def test_pipeline_test_runs_it_against_a_temporary_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the store is made

    @task
    def double(n: int) -> int:
        return n * 2

    @pipeline(params={"n": 2})
    def doubling() -> None:
        double(extract())

    run = doubling.test(date="2026-01-05", params={"n": 3})

    assert run.succeeded
    assert run.result("double") == 2
    assert run.tasks["extract"].tries == 1
    assert run.logical_date == datetime(2026, 1, 5, tzinfo=UTC)
    assert run.home is not None
    assert run.home.parent == tmp_path
    with pytest.raises(NotFoundError, match="test run of 'doubling' has no task 'triple'"):
        run.result("triple")


def test_a_test_run_gives_each_tries_log() -> None:
    from headwater import Context, pipeline, task

    @task(retries=1, retry_delay=0)
    def noisy(ctx: Context) -> None:
        print(f"try {ctx.try_number}")
        if ctx.try_number == 1:
            raise RuntimeError("first try fails")

    @task
    def quiet() -> None:
        return None

    @pipeline
    def logs() -> None:
        noisy() >> quiet()

    run = logs.test()
    assert "try 2" in run.log("noisy")
    first = run.log("noisy", 1)
    assert "try 1" in first
    assert "RuntimeError: first try fails" in first
    assert run.log("quiet") == ""


def test_a_naive_start_in_a_daylight_saving_gap_is_the_end_of_the_gap() -> None:
    # 02:30 does not exist in New York on 2026-03-08: clocks jump from 02:00 to 03:00
    @pipeline(schedule="@hourly", start="2026-03-08T02:30", timezone="America/New_York")
    def gap() -> None:
        extract()

    assert gap.start == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_an_empty_pipeline_id_is_refused() -> None:
    with pytest.raises(DefinitionError, match="invalid pipeline id ''"):

        @pipeline(pipeline_id="")
        def nameless() -> None:
            extract()
