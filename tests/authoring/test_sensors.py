"""``@sensor``, ``file_sensor``, ``pipeline_sensor``: settings checked when defined; poke times."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from headwater import (
    ConfigError,
    Context,
    DefinitionError,
    file_sensor,
    pipeline,
    pipeline_sensor,
    sensor,
    task,
)
from headwater.authoring.sensor_policy import is_met, next_poke_at, poke_delay
from headwater.authoring.task import SENSOR
from headwater.graph.options import SensorMode, SensorPolicy

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@sensor
def ready() -> bool:
    return True


@task
def use(value: Any) -> Any:
    return value


def test_a_bare_sensor_has_the_default_settings() -> None:
    assert ready.kind is SENSOR
    assert ready.sensor == SensorPolicy(
        poke_interval=timedelta(seconds=60),
        timeout=timedelta(hours=1),
        mode=SensorMode.POKE,
        soft_fail=False,
        exponential_backoff=False,
    )


def test_settings_accept_seconds_and_task_options_pass_through() -> None:
    @sensor(
        poke_interval=30,
        timeout=timedelta(minutes=10),
        mode="reschedule",
        soft_fail=True,
        exponential_backoff=True,
        max_poke_interval=120,
        retries=2,
        trigger_rule="all_done",
    )
    def arrived(ctx: Context) -> bool:
        return False

    assert arrived.sensor == SensorPolicy(
        poke_interval=timedelta(seconds=30),
        timeout=timedelta(minutes=10),
        mode=SensorMode.RESCHEDULE,
        soft_fail=True,
        exponential_backoff=True,
        max_poke_interval=timedelta(seconds=120),
    )
    assert arrived.options == {"retries": 2, "trigger_rule": "all_done"}
    assert arrived.context_parameters == ("ctx",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"poke_interval": 0},
            "sensor 'bad' (",
        ),
        (
            {"poke_interval": 0},
            "poke_interval must be more than zero, got 0",
        ),
        (
            {"timeout": "1h"},
            "timeout must be a timedelta or a number of seconds, got '1h'",
        ),
        (
            {"mode": "wait"},
            "mode must be 'poke' or 'reschedule', got 'wait'",
        ),
        (
            {"soft_fail": "yes"},
            "soft_fail must be True or False, got 'yes'",
        ),
        (
            {"exponential_backoff": 1},
            "exponential_backoff must be True or False, got 1",
        ),
        (
            {"poke_interval": 60, "max_poke_interval": 30},
            "max_poke_interval must be at least poke_interval (0:01:00), got 30",
        ),
        (
            {"retries": -1},
            "retries must be a whole number from 0 to 1000000, got -1",
        ),
    ],
)
def test_an_invalid_setting_is_refused_when_decorating(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:

        @sensor(task_id="bad", **settings)
        def poke() -> bool:
            return True

    assert message in str(raised.value)


def test_an_unknown_option_names_both_kinds_of_options() -> None:
    with pytest.raises(DefinitionError) as raised:

        @sensor(poke_intervall=5)
        def typo() -> bool:
            return True

    message = str(raised.value)
    assert message.startswith("sensor 'typo': unknown option(s) 'poke_intervall'; ")
    assert "sensor settings are exponential_backoff, max_poke_interval, mode, " in message
    assert "task options are " in message
    assert "retries" in message


def test_the_timeout_is_the_sensors_own_not_the_tries() -> None:
    @sensor(timeout=600)
    def arrived() -> bool:
        return True

    @pipeline(default_task_args={"timeout": 30})
    def bounded() -> None:
        use(arrived())

    node = bounded.plan.node("arrived")
    assert node.kind == "sensor"
    assert node.options.timeout is None
    assert node.sensor is not None
    assert node.sensor.timeout == timedelta(seconds=600)
    assert bounded.plan.node("use").options.timeout == timedelta(seconds=30)


def test_override_changes_sensor_settings_and_task_options() -> None:
    fast = ready.override(task_id="fast", poke_interval=5, mode="reschedule", retries=1)

    assert fast.sensor is not None
    assert fast.sensor.poke_interval == timedelta(seconds=5)
    assert fast.sensor.mode is SensorMode.RESCHEDULE
    assert fast.sensor.timeout == timedelta(hours=1)
    assert fast.options == {"retries": 1}
    assert ready.sensor is not None
    assert ready.sensor.mode is SensorMode.POKE


def test_override_checks_sensor_settings_too() -> None:
    with pytest.raises(DefinitionError, match="mode must be 'poke' or 'reschedule', got 'x'"):
        ready.override(mode="x")
    with pytest.raises(DefinitionError, match=r"unknown option\(s\) \['interval'\]"):
        ready.override(interval=5)


def test_outside_a_pipeline_a_sensor_pokes_once() -> None:
    assert ready() is True


def test_built_in_sensors_are_declared_inside_a_pipeline_only() -> None:
    with pytest.raises(DefinitionError, match=r"file_sensor\('f'\) must be called inside"):
        file_sensor("f", "/data/*.csv")
    with pytest.raises(DefinitionError, match=r"pipeline_sensor\('p'\) must be called inside"):
        pipeline_sensor("p", "upstream")


def test_built_in_sensors_check_their_arguments() -> None:
    with pytest.raises(DefinitionError, match="path_glob must be a non-empty string, got ''"):

        @pipeline
        def no_glob() -> None:
            file_sensor("files", "")

    with pytest.raises(DefinitionError, match="invalid pipeline id 'not an id'"):

        @pipeline
        def bad_upstream() -> None:
            pipeline_sensor("wait", "not an id")

    with pytest.raises(DefinitionError, match="pipeline 'bad_option', sensor 'files'"):

        @pipeline
        def bad_option() -> None:
            file_sensor("files", "/data/*.csv", mode="sometimes")


def test_built_in_sensors_are_sensor_nodes_with_their_settings() -> None:
    @pipeline
    def waits() -> None:
        files = file_sensor("files", "/data/{{ ds }}/*.csv", poke_interval=5, retries=1)
        upstream = pipeline_sensor("upstream", "extract", mode="reschedule", soft_fail=True)
        use(files) << upstream

    files = waits.plan.node("files")
    assert files.kind == "sensor"
    assert files.sensor == SensorPolicy(poke_interval=timedelta(seconds=5))
    assert files.options.retries == 1
    upstream = waits.plan.node("upstream")
    assert upstream.sensor == SensorPolicy(mode=SensorMode.RESCHEDULE, soft_fail=True)


class TestPokeDelay:
    def test_without_backoff_every_wait_is_the_interval(self) -> None:
        policy = SensorPolicy(poke_interval=timedelta(seconds=10))
        waits = [poke_delay(policy, timedelta(seconds=s)) for s in (0, 10, 95)]
        assert waits == [timedelta(seconds=10)] * 3

    def test_with_backoff_the_wait_doubles_after_each_poke(self) -> None:
        policy = SensorPolicy(poke_interval=timedelta(seconds=10), exponential_backoff=True)
        # pokes on time at 0, 10, 30, 70 s (plus how long each poke took)
        waits = [poke_delay(policy, timedelta(seconds=s)) for s in (0.2, 10.3, 30.1, 70.5)]
        assert waits == [timedelta(seconds=s) for s in (10, 20, 40, 80)]

    def test_the_backoff_stops_at_the_cap(self) -> None:
        policy = SensorPolicy(
            poke_interval=timedelta(seconds=10),
            exponential_backoff=True,
            max_poke_interval=timedelta(seconds=30),
        )
        waits = [poke_delay(policy, timedelta(seconds=s)) for s in (0, 10, 30, 60, 10**9)]
        assert waits == [timedelta(seconds=s) for s in (10, 20, 30, 30, 30)]

    def test_without_a_cap_the_backoff_never_exceeds_the_timeout(self) -> None:
        policy = SensorPolicy(
            poke_interval=timedelta(seconds=1),
            timeout=timedelta(seconds=100),
            exponential_backoff=True,
        )
        assert poke_delay(policy, timedelta(days=365 * 1000)) == timedelta(seconds=100)


class TestNextPokeAt:
    policy = SensorPolicy(poke_interval=timedelta(minutes=25), timeout=timedelta(hours=1))

    def test_the_next_poke_comes_after_the_interval(self) -> None:
        assert next_poke_at(self.policy, T0, T0) == T0 + timedelta(minutes=25)

    def test_the_last_poke_is_at_the_timeout(self) -> None:
        now = T0 + timedelta(minutes=50)
        assert next_poke_at(self.policy, T0, now) == T0 + timedelta(hours=1)

    def test_an_unmet_poke_at_the_timeout_ends_the_wait(self) -> None:
        assert next_poke_at(self.policy, T0, T0 + timedelta(hours=1)) is None


def test_any_truthy_value_meets_the_condition() -> None:
    met: tuple[object, ...] = (True, "path", [1], 3)
    unmet: tuple[object, ...] = (False, None, [], 0, "")
    assert [is_met(v) for v in met] == [True] * 4
    assert [is_met(v) for v in unmet] == [False] * 5


def test_a_value_without_truth_is_an_error_saying_what_to_return() -> None:
    class Ambiguous:
        def __bool__(self) -> bool:
            raise ValueError("ambiguous")

    with pytest.raises(TypeError) as raised:
        is_met(Ambiguous())
    assert str(raised.value) == (
        "a sensor must return True or a truthy value when its condition holds and False or "
        "None otherwise; the truth of the Ambiguous it returned is undefined (ambiguous)"
    )


def test_pipeline_sensor_says_it_cannot_poke_outside_the_engine() -> None:
    @pipeline
    def waits_for_extract() -> None:
        pipeline_sensor("wait", "extract")

    poke = waits_for_extract.plan.node("wait").fn
    context = Context(
        run_id="r",
        pipeline_id="waits_for_extract",
        task_id="wait",
        map_index=-1,
        try_number=1,
        logical_date=T0,
        data_interval_start=T0,
        data_interval_end=T0 + timedelta(days=1),
        params={},
        log=logging.getLogger("test"),
        upstream_states={},
    )
    with pytest.raises(ConfigError) as raised:
        poke(context)
    assert str(raised.value) == (
        "pipeline_sensor 'wait' pokes in the engine, which gives it the runs to look at; "
        "it cannot be called by itself"
    )
