"""Callbacks: task on_success / on_failure / on_retry, pipeline on_success / on_failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater import Context, RunContext, pipeline, task
from headwater.runtime import Runtime


class Recorder:
    """Collects what callbacks were called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def task_success(self, ctx: Context) -> None:
        self.calls.append(("success", (ctx.task_id, ctx.try_number)))

    def task_failure(self, ctx: Context, error: str) -> None:
        self.calls.append(("failure", (ctx.task_id, ctx.try_number, error)))

    def task_retry(self, ctx: Context, error: str) -> None:
        self.calls.append(("retry", (ctx.task_id, ctx.try_number, error)))

    def run_success(self, ctx: RunContext) -> None:
        self.calls.append(("run success", (ctx.state, dict(ctx.task_states), ctx.failed_tasks)))

    def run_failure(self, ctx: RunContext) -> None:
        self.calls.append(("run failure", (ctx.state, dict(ctx.task_states), ctx.failed_tasks)))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_task_callbacks_are_called_with_the_context(runtime: Runtime, recorder: Recorder) -> None:
    @task(
        on_success=recorder.task_success,
        on_failure=recorder.task_failure,
        on_retry=recorder.task_retry,
        retries=1,
        retry_delay=0,
    )
    def flaky(ctx: Context) -> int:
        if ctx.try_number == 1:
            raise ConnectionError("reset by peer")
        return 1

    @task(on_success=recorder.task_success, on_failure=recorder.task_failure)
    def broken(value: int) -> None:
        raise ValueError("no good")

    @pipeline
    def called() -> None:
        broken(flaky())

    runtime.run(called)

    assert recorder.calls == [
        ("retry", ("flaky", 1, "ConnectionError: reset by peer")),
        ("success", ("flaky", 2)),
        ("failure", ("broken", 1, "ValueError: no good")),
    ]


def test_pipeline_on_success_gets_the_run_context(runtime: Runtime, recorder: Recorder) -> None:
    @task
    def fine() -> int:
        return 1

    @pipeline(on_success=recorder.run_success, on_failure=recorder.run_failure)
    def happy() -> None:
        fine()

    runtime.run(happy)

    assert recorder.calls == [("run success", ("success", {"fine": "success"}, ()))]


def test_pipeline_on_failure_names_the_failed_tasks(runtime: Runtime, recorder: Recorder) -> None:
    @task
    def fails() -> int:
        raise RuntimeError("x")

    @task
    def after(value: int) -> None:
        return None

    @pipeline(on_success=recorder.run_success, on_failure=recorder.run_failure)
    def sad() -> None:
        after(fails())

    run = runtime.run(sad)

    assert run.state == "failed"
    assert recorder.calls == [
        ("run failure", ("failed", {"fails": "failed", "after": "upstream_failed"}, ("fails",))),
    ]


def test_a_callback_may_take_only_the_context(runtime: Runtime) -> None:
    seen: list[str] = []

    @task(on_failure=lambda ctx: seen.append(ctx.task_id))
    def fails() -> None:
        raise RuntimeError("x")

    @pipeline
    def minimal() -> None:
        fails()

    runtime.run(minimal)

    assert seen == ["fails"]


def test_a_raising_callback_does_not_stop_the_run(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # Given: every callback raises
    def explode(ctx: Any, **extra: Any) -> None:
        raise RuntimeError("callback bug")

    @task(on_success=explode, on_failure=explode, on_retry=explode, retries=1, retry_delay=0)
    def fails() -> None:
        raise ValueError("task error")

    @task(on_success=explode)
    def fine() -> int:
        return 1

    @task
    def after(value: int) -> int:
        return value + 1

    @pipeline(on_failure=explode, on_success=explode)
    def fragile() -> None:
        fails()
        after(fine())

    # When: the run goes on regardless
    run = runtime.run(fragile)

    # Then: the tasks and the run end as they would without callbacks
    tasks = runtime.summary(run.run_id)["tasks"]
    assert {t: (v["state"], v["tries"]) for t, v in tasks.items()} == {
        "fails": ("failed", 2),
        "fine": ("success", 1),
        "after": ("success", 1),
    }
    assert run.state == "failed"
    messages = [r.getMessage() for r in caplog.records if r.name == "headwater.engine"]
    # "fails" and "fine" run side by side: their callbacks come in either order
    assert sorted(messages[:-1]) == [
        "on_failure callback of task 'fails' raised; the run carries on",
        "on_retry callback of task 'fails' raised; the run carries on",
        "on_success callback of task 'fine' raised; the run carries on",
    ]
    assert messages[-1] == "on_failure callback of pipeline 'fragile' raised; the run carries on"


def test_a_task_callback_error_is_written_to_the_try_log(runtime: Runtime, tmp_path: Path) -> None:
    def explode(ctx: Context) -> None:
        raise RuntimeError("callback bug")

    @task(on_success=explode)
    def fine() -> int:
        return 1

    @pipeline
    def logged() -> None:
        fine()

    run = runtime.run(logged)

    log = tmp_path / "logs" / "logged" / run.run_id / "fine" / "try-1.log"
    text = log.read_text()
    assert "on_success callback of task 'fine' raised; the run carries on" in text
    assert "RuntimeError: callback bug" in text
