"""``shell_task``: a templated command whose output goes to the try's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import DefinitionError, pipeline, shell_task, task
from headwater.testing import FakeClock, TestRun, run_pipeline_test


def log_of(run: TestRun, task_id: str, try_number: int = 1) -> str:
    assert run.home is not None
    path = run.home / "logs" / run.pipeline_id / run.run_id / task_id / f"try-{try_number}.log"
    return path.read_text()


def test_the_command_is_templated_and_its_last_line_is_the_result(tmp_path: Path) -> None:
    @pipeline(params={"region": "eu"})
    def templated() -> None:
        shell_task("greet", "echo first line; echo 'day={{ ds }} region={{ params.region }}'")

    run = run_pipeline_test(
        templated, date="2026-01-05", params={"region": "us"}, clock=FakeClock(), home=tmp_path
    )

    assert run.result("greet") == "day=2026-01-05 region=us"
    log = log_of(run, "greet")
    assert "running: echo first line; echo 'day=2026-01-05 region=us'" in log
    assert "INFO first line" in log
    assert "INFO day=2026-01-05 region=us" in log


def test_env_and_cwd_are_templated_too(tmp_path: Path) -> None:
    (tmp_path / "work-20260105").mkdir()

    @pipeline(params={"target": "warehouse"})
    def environment() -> None:
        shell_task(
            "where",
            'echo "$TARGET in $(basename "$PWD")"',
            env={"TARGET": "{{ params.target }}"},
            cwd=str(tmp_path / "work-{{ ds_nodash }}"),
        )

    run = run_pipeline_test(
        environment, date="2026-01-05", clock=FakeClock(), home=tmp_path / "home"
    )

    assert run.result("where") == "warehouse in work-20260105"


def test_a_non_zero_exit_fails_the_try_with_the_output_in_the_log(tmp_path: Path) -> None:
    @pipeline
    def failing() -> None:
        shell_task("copy", "echo copying; echo 'disk full' >&2; exit 3")

    run = run_pipeline_test(failing, clock=FakeClock(), home=tmp_path)

    result = run.tasks["copy"]
    assert result.state == "failed"
    assert result.error == (
        "ShellCommandError: command exited with code 3: "
        "echo copying; echo 'disk full' >&2; exit 3\ncopying\ndisk full"
    )
    log = log_of(run, "copy")
    assert "INFO copying" in log
    assert "INFO disk full" in log  # stderr goes to the log as well
    assert run.state == "failed"


def test_a_shell_task_takes_task_options_and_links_like_any_task(tmp_path: Path) -> None:
    @task
    def prepare() -> str:
        return "ready"

    @pipeline
    def linked() -> None:
        prepare() >> shell_task(
            "attempt", "test {{ try_number }} -ge 2 && echo ok", retries=1, retry_delay=0
        )

    run = run_pipeline_test(linked, clock=FakeClock(), home=tmp_path)

    assert run.tasks["attempt"].tries == 2
    assert run.result("attempt") == "ok"
    assert linked.plan.node("attempt").kind == "shell"
    assert linked.plan.node("attempt").upstream == (linked.plan.index_by_id["prepare"],)


def test_a_shell_task_past_its_timeout_is_killed(tmp_path: Path) -> None:
    @pipeline
    def sleepy() -> None:
        shell_task("nap", "echo start; sleep 30; echo never", timeout=0.3)

    run = run_pipeline_test(sleepy, home=tmp_path)  # a real clock: the timeout is real

    result = run.tasks["nap"]
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.startswith("TaskTimeoutError: ")
    log = log_of(run, "nap")
    assert "INFO never" not in log
    assert "timed out after 0:00:00.300000; the try was stopped" in log


def test_an_unknown_template_variable_fails_the_try(tmp_path: Path) -> None:
    @pipeline
    def undefined() -> None:
        shell_task("bad", "echo {{ params.missing }}")

    run = run_pipeline_test(undefined, clock=FakeClock(), home=tmp_path)

    error = run.tasks["bad"].error
    assert error is not None
    assert error.startswith("UndefinedError: ")
    assert "missing" in error


@pytest.mark.parametrize("command", ["", "   "])
def test_an_empty_command_is_a_definition_error(command: str) -> None:
    with pytest.raises(
        DefinitionError, match="shell_task 'noop': command must be a non-empty string"
    ):

        @pipeline
        def empty() -> None:
            shell_task("noop", command)


def test_shell_task_ids_are_explicit_so_a_duplicate_is_an_error() -> None:
    with pytest.raises(DefinitionError, match="duplicate task id 'copy'"):

        @pipeline
        def twice() -> None:
            shell_task("copy", "true")
            shell_task("copy", "true")
