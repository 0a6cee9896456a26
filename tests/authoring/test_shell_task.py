"""``shell_task``: a templated command whose output goes to the try's log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater import DefinitionError, pipeline, shell_task, task
from headwater.testing import FakeClock, TestRun, run_pipeline_test


def log_of(run: TestRun, task_id: str, try_number: int = 1) -> str:
    assert run.home is not None
    path = run.home / "logs" / run.pipeline_id / run.run_id / task_id / f"try-{try_number}.log"
    return path.read_text()


def test_the_command_is_templated_and_its_last_line_is_the_result(migrated_home: Path) -> None:
    @pipeline(params={"region": "eu"})
    def templated() -> None:
        shell_task("greet", "echo first line; echo day={{ ds }} region={{ params.region }}")

    run = run_pipeline_test(
        templated, date="2026-01-05", params={"region": "us"}, clock=FakeClock(), home=migrated_home
    )

    assert run.result("greet") == "day=2026-01-05 region=us"
    log = log_of(run, "greet")
    assert "running: echo first line; echo day=2026-01-05 region=us" in log
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


def test_a_non_zero_exit_fails_the_try_with_the_output_in_the_log(migrated_home: Path) -> None:
    @pipeline
    def failing() -> None:
        shell_task("copy", "echo copying; echo 'disk full' >&2; exit 3")

    run = run_pipeline_test(failing, clock=FakeClock(), home=migrated_home)

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


def test_a_shell_task_takes_task_options_and_links_like_any_task(migrated_home: Path) -> None:
    @task
    def prepare() -> str:
        return "ready"

    @pipeline
    def linked() -> None:
        prepare() >> shell_task(
            "attempt", "test {{ try_number }} -ge 2 && echo ok", retries=1, retry_delay=0
        )

    run = run_pipeline_test(linked, clock=FakeClock(), home=migrated_home)

    assert run.tasks["attempt"].tries == 2
    assert run.result("attempt") == "ok"
    assert linked.plan.node("attempt").kind == "shell"
    assert linked.plan.node("attempt").upstream == (linked.plan.index_by_id["prepare"],)


def test_a_shell_task_past_its_timeout_is_killed(migrated_home: Path) -> None:
    @pipeline
    def sleepy() -> None:
        shell_task("nap", "echo start; sleep 30; echo never", timeout=0.3)

    run = run_pipeline_test(sleepy, home=migrated_home)  # a real clock: the timeout is real

    result = run.tasks["nap"]
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.startswith("TaskTimeoutError: ")
    log = log_of(run, "nap")
    assert "INFO never" not in log
    assert "timed out after 0:00:00.300000; the try was stopped" in log


def test_an_unknown_template_variable_fails_the_try(migrated_home: Path) -> None:
    @pipeline
    def undefined() -> None:
        shell_task("bad", "echo {{ params.missing }}")

    run = run_pipeline_test(undefined, clock=FakeClock(), home=migrated_home)

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


# templated values are quoted for the shell

HOSTILE_VALUES = [
    "x; touch {marker}",
    "x && touch {marker}",
    "x | touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "x'; touch {marker}; echo '",
    'x"; touch {marker}; echo "',
    "x\ntouch {marker}",
    "x > {marker}",
]


@pytest.mark.parametrize("hostile", HOSTILE_VALUES)
def test_a_run_param_cannot_inject_a_command(tmp_path: Path, hostile: str) -> None:
    marker = tmp_path / "pwned"
    value = hostile.format(marker=marker)

    @pipeline(params={"name": "world"})
    def greeting() -> None:
        shell_task("hello", "printf '%s\\n' hello {{ params.name }}")

    run = greeting.test(params={"name": value})

    assert not marker.exists()
    assert run.succeeded, run.tasks["hello"].error
    # the value arrived as one argument, exactly as given
    assert run.log("hello").endswith(f"INFO {value.splitlines()[-1]}\n")
    assert run.result("hello") == value.splitlines()[-1]


def test_safe_values_are_left_as_they_are(migrated_home: Path) -> None:
    @pipeline(params={"table": "orders", "folder": "/data/raw-2026"})
    def safe() -> None:
        shell_task(
            "paths",
            "echo {{ params.folder }}/{{ ds }}.csv {{ params.table }}_{{ ds_nodash }}"
            " {{ logical_date }} {{ try_number }}",
        )

    run = run_pipeline_test(safe, date="2026-01-05", clock=FakeClock(), home=migrated_home)

    expected = "/data/raw-2026/2026-01-05.csv orders_20260105 2026-01-05T00:00:00+00:00 1"
    assert run.result("paths") == expected
    assert f"running: echo {expected}" in log_of(run, "paths")


def test_a_quoted_value_stays_one_word_inside_a_larger_word(migrated_home: Path) -> None:
    @pipeline(params={"name": "my file; rm -rf x"})
    def inside() -> None:
        shell_task("path", "printf '[%s]\\n' /data/{{ params.name }}.csv")

    run = run_pipeline_test(inside, clock=FakeClock(), home=migrated_home)

    assert run.result("path") == "[/data/my file; rm -rf x.csv]"
    assert "running: printf '[%s]\\n' /data/'my file; rm -rf x'.csv" in log_of(run, "path")


def test_the_unquoted_filter_passes_a_value_to_the_shell_as_it_is(migrated_home: Path) -> None:
    @pipeline(params={"flags": "-n -e", "words": "two words"})
    def opted_out() -> None:
        shell_task("flags", "printf '[%s]' {{ params.flags | unquoted }} {{ params.words }}")

    run = run_pipeline_test(opted_out, clock=FakeClock(), home=migrated_home)

    assert run.result("flags") == "[-n][-e][two words]"


@pytest.mark.parametrize(
    ("command", "where"),
    [
        ('echo "hello {{ params.name }}"', "inside double quotes"),
        ("echo 'hello {{ params.name }}'", "inside single quotes"),
        ("echo $'hello {{ params.name }}'", "inside $'...' quotes"),
        ("echo `echo {{ params.name }}`", "inside backquotes"),
        ('echo "$(echo `echo {{ params.name }}`)"', "inside backquotes"),
        ("echo ${NAME:-{{ params.name }}}", "inside ${...}"),
        ("echo \\{{ params.name }}", "right after a backslash"),
        ("echo ${{ params.name }}", "right after a $"),
        ("cat <<EOF\nhello {{ params.name }}\nEOF", "after a here-document (<<)"),
        ("echo hello # {{ params.name }}", "in a comment"),
    ],
)
def test_a_value_the_command_quotes_itself_is_refused(
    migrated_home: Path, command: str, where: str
) -> None:
    @pipeline(params={"name": "world"})
    def quoted() -> None:
        shell_task("hello", command)

    run = run_pipeline_test(quoted, clock=FakeClock(), home=migrated_home)

    error = run.tasks["hello"].error
    assert error is not None
    assert error.startswith(
        f"DefinitionError: pipeline 'quoted', shell task 'hello': a templated value stands "
        f"{where} in the command, after "
    )
    assert error.endswith(
        "headwater quotes each {{ ... }} value for the shell itself: write it outside "
        'quotes (echo "{{ x }}" becomes echo {{ x }}), or write {{ x | unquoted }} to quote '
        "it yourself"
    )


@pytest.mark.parametrize(
    "command",
    [
        'echo "$(printf %s {{ params.name }})"',  # a command substitution quotes afresh
        "# it's a comment, its quote opens nothing\necho {{ params.name }}",
        "echo 'a' {{ params.name }} \"b\" {{ params.name }}",
        "echo \\' {{ params.name }}",
    ],
)
def test_values_outside_the_commands_own_quotes_are_quoted(
    migrated_home: Path, command: str
) -> None:
    @pipeline(params={"name": "a; b"})
    def outside() -> None:
        shell_task("hello", command)

    run = run_pipeline_test(outside, clock=FakeClock(), home=migrated_home)

    assert run.succeeded, run.tasks["hello"].error
    assert "a; b" in run.result("hello")


def test_env_and_cwd_values_are_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "work dir").mkdir()

    @pipeline(params={"greeting": "hello world; it's me", "folder": str(tmp_path / "work dir")})
    def unquoted_env() -> None:
        shell_task(
            "where",
            'echo "$GREETING in $(basename "$PWD")"',
            env={"GREETING": "{{ params.greeting }}"},
            cwd="{{ params.folder }}",
        )

    run = run_pipeline_test(unquoted_env, clock=FakeClock(), home=tmp_path / "home")

    assert run.result("where") == "hello world; it's me in work dir"


# the timeout, whatever sets it


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("source", ["default_task_args", "shell_task"])
def test_a_shell_tasks_timeout_kills_its_command_whatever_sets_it(
    tmp_path: Path, source: str
) -> None:
    pid_file = tmp_path / "sleep.pid"
    command = f"sleep 20 & echo $! > {pid_file}; wait"

    @pipeline(default_task_args={"timeout": 0.5} if source == "default_task_args" else {})
    def sleepy() -> None:
        if source == "default_task_args":
            shell_task("nap", command)
        else:
            shell_task("nap", command, timeout=0.5)

    started = time.monotonic()
    run = run_pipeline_test(sleepy, executor="thread", home=tmp_path / "home")
    elapsed = time.monotonic() - started

    result = run.tasks["nap"]
    assert result.state == "failed"
    assert result.error == "TaskTimeoutError: task ran longer than its timeout of 0:00:00.500000"
    assert elapsed < 5
    pid = int(pid_file.read_text())
    # the command's whole process group is killed, not only the try given up on
    assert wait_until(lambda: not process_alive(pid), timeout=5), "the command still runs"
