"""``@task``: the decorator forms, plain calls, ``override`` and option validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from headwater import (
    Context,
    DefinitionError,
    Task,
    TriggerRule,
    pipeline,
    shell_task,
    task,
    task_group,
)


@task
def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


@task(retries=2, retry_delay=5)
def fetch() -> str:
    return "rows"


@task
def needs_context(ctx: Context, n: int) -> int:
    return n


def test_calling_a_task_outside_a_pipeline_calls_the_function() -> None:
    assert add(2, 3) == 5
    assert add(2) == 3
    assert fetch() == "rows"


def test_the_decorator_keeps_the_functions_name_and_docstring() -> None:
    assert isinstance(add, Task)
    assert add.task_id == "add"
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert add.description == "Add two numbers."
    assert repr(add) == "<Task 'add'>"


def test_task_id_can_be_given_to_the_decorator() -> None:
    @task(task_id="load_rows")
    def load() -> None:
        return None

    assert load.task_id == "load_rows"


def test_parameters_typed_context_are_found() -> None:
    assert needs_context.context_parameters == ("ctx",)
    assert add.context_parameters == ()


def test_override_returns_a_copy_with_other_options() -> None:
    copy = fetch.override(task_id="fetch_again", retries=5)

    assert copy.task_id == "fetch_again"
    assert copy.options == {"retries": 5, "retry_delay": 5}
    assert copy.fn is fetch.fn
    # the original is unchanged
    assert fetch.task_id == "fetch"
    assert fetch.options == {"retries": 2, "retry_delay": 5}


def test_override_rejects_an_unknown_option() -> None:
    with pytest.raises(DefinitionError) as caught:
        fetch.override(retrys=3)
    message = str(caught.value)
    assert "task 'fetch'" in message
    assert "override() got unknown option(s) ['retrys']" in message
    assert "retries" in message  # the known options are listed


def test_an_unknown_decorator_option_is_rejected_naming_the_task() -> None:
    with pytest.raises(DefinitionError, match=r"task 'load' .*unknown task option\(s\) 'retry'"):

        @task(retry=3)
        def load() -> None:
            return None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"retries": -1}, "retries must be a whole number from 0 to 1000000, got -1"),
        ({"retries": 1.5}, "retries must be a whole number from 0 to 1000000, got 1.5"),
        ({"retries": True}, "retries must be a whole number from 0 to 1000000, got True"),
        ({"retry_delay": -1}, "retry_delay must be zero or more, got -1"),
        (
            {"retry_delay": "30s"},
            "retry_delay must be a timedelta or a number of seconds, got '30s'",
        ),
        (
            {"retry_backoff": 0.5},
            "retry_backoff must be a number of 1 or more (1 keeps the delay constant), got 0.5",
        ),
        (
            {"retry_backoff": "2"},
            "retry_backoff must be a number of 1 or more (1 keeps the delay constant), got '2'",
        ),
        ({"max_retry_delay": 0}, "max_retry_delay must be more than zero, got 0"),
        (
            {"retry_jitter": -0.5},
            "retry_jitter must be True, False or a factor of 0 or more, got -0.5",
        ),
        ({"timeout": 0}, "timeout must be more than zero, got 0"),
        ({"timeout": -5}, "timeout must be more than zero, got -5"),
        (
            {"timeout": timedelta(seconds=-1)},
            "timeout must be more than zero, got datetime.timedelta(days=-1, seconds=86399)",
        ),
        ({"timeout": "10"}, "timeout must be a timedelta or a number of seconds, got '10'"),
        (
            {"trigger_rule": "sometimes"},
            "unknown trigger_rule 'sometimes'; expected one of all_success, all_failed, "
            "all_done, all_skipped, one_success, one_failed, one_done, none_failed, "
            "none_failed_min_one_success, none_skipped, always",
        ),
        ({"tags": "etl"}, "tags must be a list of strings, got 'etl'"),
        ({"pool_slots": 0}, "pool_slots must be a whole number from 1 to 1000000, got 0"),
        ({"on_failure": "page me"}, "on_failure must be callable, got 'page me'"),
    ],
)
def test_an_invalid_option_is_rejected_at_decoration_naming_the_task(
    options: dict[str, Any], expected: str
) -> None:
    # When: a task is declared with a bad value
    with pytest.raises(DefinitionError) as caught:

        @task(**options)
        def load() -> None:
            return None

    # Then: the message names the task, where it is defined, the value and what is expected
    message = str(caught.value)
    assert message.startswith("task 'load' (")
    assert __file__ in message
    assert expected in message


def test_options_are_normalised_in_the_plan() -> None:
    @task(
        retries=3,
        retry_delay=2.5,
        max_retry_delay=60,
        retry_jitter=True,
        timeout=10,
        trigger_rule="all_done",
        tags=["a", "b"],
    )
    def load() -> None:
        return None

    @pipeline
    def normalised() -> None:
        load()

    options = normalised.plan.node("load").options
    assert options.retries == 3
    assert options.retry_delay == timedelta(seconds=2.5)
    assert options.max_retry_delay == timedelta(seconds=60)
    assert options.retry_jitter == 1.0
    assert options.timeout == timedelta(seconds=10)
    assert options.trigger_rule is TriggerRule.ALL_DONE
    assert options.tags == ("a", "b")


def test_an_invalid_override_inside_a_pipeline_names_the_pipeline_and_the_task() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def nightly() -> None:
            fetch.override(retries=-1)()

    message = str(caught.value)
    assert "pipeline 'nightly'" in message
    assert "task 'fetch'" in message
    assert "retries must be a whole number from 0 to 1000000, got -1" in message


def test_a_call_with_wrong_arguments_names_the_pipeline_and_the_task() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def nightly() -> None:
            add()

    assert str(caught.value) == ("pipeline 'nightly', task 'add': missing a required argument: 'a'")


def test_a_context_parameter_is_not_a_required_argument() -> None:
    @pipeline
    def with_context() -> None:
        needs_context(n=1)

    assert with_context.task_ids == ["needs_context"]


def test_pipeline_default_task_args_apply_unless_the_task_overrides_them() -> None:
    @task(retries=5)
    def stubborn() -> None:
        return None

    @task
    def plain() -> None:
        return None

    @pipeline(default_task_args={"retries": 2, "timeout": 30})
    def defaults() -> None:
        stubborn()
        plain()

    assert defaults.plan.node("stubborn").options.retries == 5
    assert defaults.plan.node("plain").options.retries == 2
    assert defaults.plan.node("plain").options.timeout == timedelta(seconds=30)


def test_invalid_default_task_args_name_the_pipeline() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline(default_task_args={"retry_backoff": 0})
        def defaults() -> None:
            add(1)

    message = str(caught.value)
    assert message.startswith("pipeline 'defaults' (")
    assert "retry_backoff must be a number of 1 or more" in message


def test_unknown_default_task_args_are_listed() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"default_task_args has unknown option\(s\) \['retry'\]",
    ):

        @pipeline(default_task_args={"retry": 1})
        def defaults() -> None:
            add(1)


@pytest.mark.parametrize("task_id", ["1st", "has space", "semi;colon"])
def test_an_invalid_task_id_is_rejected(task_id: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        add.override(task_id=task_id)
    assert (
        f"invalid task id {task_id!r}; use letters, digits, '_', '.' or '-', starting "
        "with a letter or '_'" in str(caught.value)
    )


def test_task_decorates_only_callables() -> None:
    with pytest.raises(DefinitionError, match="@task decorates a function, got 42"):
        task()(42)  # type: ignore[arg-type]  # the point is a wrong argument


def test_map_outside_a_pipeline_is_an_error() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"task 'add': \.map\(\) must be called in a @pipeline",
    ):
        add.map([1, 2])


def test_map_needs_the_items_to_map_over() -> None:
    with pytest.raises(DefinitionError, match=r"\.map\(\) needs the items to map over"):

        @pipeline
        def mapping() -> None:
            add.map()


def test_a_task_result_cannot_be_tested_with_if() -> None:
    with pytest.raises(DefinitionError) as caught:

        @pipeline
        def branching() -> None:
            if add(1):
                add(2)

    assert "task 'add': a task's result is not known while the pipeline is defined" in str(
        caught.value
    )
    assert "use @task.branch" in str(caught.value)


def test_task_group_and_shell_task_need_a_pipeline() -> None:
    with (
        pytest.raises(
            DefinitionError,
            match=r"task_group\('g'\) must be used inside a @pipeline function",
        ),
        task_group("g"),
    ):
        pass
    with pytest.raises(
        DefinitionError,
        match=r"shell_task\('echo'\) must be called inside a @pipeline",
    ):
        shell_task("echo", "echo hi")


def test_a_context_parameter_may_come_first() -> None:

    @task
    def scale(ctx: Context, value: int, *, factor: int = 10) -> int:
        return value * factor + ctx.try_number

    @task
    def total(values: list[int], ctx: Context) -> int:
        return sum(values)

    @pipeline
    def context_first() -> None:
        total(scale.map([1, 2], factor=100))

    run = context_first.test()
    assert run.result("scale") == [101, 201]
    assert run.result("total") == 302
