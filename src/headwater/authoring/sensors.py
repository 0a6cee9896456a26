"""``@sensor``: tasks that wait for a condition; ``file_sensor`` and ``pipeline_sensor``.

A sensor's function is a *poke*: it returns a falsy value (False, None) while its
condition does not hold, and True or any truthy value once it does; that value is the
task's result. How the pokes are repeated is the executor's and the engine's business
(``executors/poking.py``, ``RunDriver``), ruled by the sensor's ``SensorPolicy``.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, overload

from headwater.authoring.context import Context, RunLookup
from headwater.authoring.definition import TaskHandle, active_builder
from headwater.authoring.retry import TASK_OPTION_NAMES, check_identifier
from headwater.authoring.sensor_policy import SENSOR_OPTION_NAMES
from headwater.authoring.task import SENSOR, Task
from headwater.authoring.templating import render
from headwater.errors import ConfigError, DefinitionError

P = ParamSpec("P")
R = TypeVar("R")


def make_sensor(
    fn: Callable[P, R],
    task_id: str | None,
    options: dict[str, Any],
    *,
    explicit_id: bool = False,
) -> Task[P, R]:
    """A sensor task of ``fn``; ``options`` mixes sensor settings and task options."""
    unknown = sorted(set(options) - SENSOR_OPTION_NAMES - TASK_OPTION_NAMES)
    if unknown:
        name = task_id or getattr(fn, "__name__", "?")
        raise DefinitionError(
            f"sensor {name!r}: unknown option(s) {', '.join(map(repr, unknown))}; sensor "
            f"settings are {', '.join(sorted(SENSOR_OPTION_NAMES))}; task options are "
            f"{', '.join(sorted(TASK_OPTION_NAMES - SENSOR_OPTION_NAMES))}"
        )
    # "timeout" is the sensor's own: how long it waits, from its first poke
    settings = {k: v for k, v in options.items() if k in SENSOR_OPTION_NAMES}
    task_options = {k: v for k, v in options.items() if k not in SENSOR_OPTION_NAMES}
    return Task(
        fn, task_options, task_id=task_id, kind=SENSOR, explicit_id=explicit_id, sensor=settings
    )


@overload
def sensor(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def sensor(
    fn: None = None,
    /,
    *,
    task_id: str | None = None,
    poke_interval: timedelta | float = ...,
    timeout: timedelta | float = ...,
    mode: str = ...,
    soft_fail: bool = ...,
    exponential_backoff: bool = ...,
    max_poke_interval: timedelta | float | None = ...,
    **task_options: Any,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def sensor(
    fn: Callable[P, R] | None = None, /, *, task_id: str | None = None, **options: Any
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Declare a sensor: a task whose function returns a truthy value once its condition holds.

    Args:
        poke_interval: the wait between pokes (a timedelta or seconds; default 60 s).
        timeout: how long after the first poke the sensor gives up (default 1 hour).
        mode: ``"poke"`` waits inside one try, holding its worker and pool slot;
            ``"reschedule"`` gives them back between pokes (the instance shows
            ``up_for_reschedule``).
        soft_fail: on timeout the sensor is ``skipped`` rather than ``failed``.
        exponential_backoff: double the wait after each poke.
        max_poke_interval: a cap on the wait (default: none but the timeout).
        **task_options: ``retries``, ``trigger_rule``, ``pool``... as for ``@task``.
    """

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        if not callable(function):
            raise DefinitionError(f"@sensor decorates a function, got {function!r}")
        return make_sensor(function, task_id, options)

    return decorate(fn) if fn is not None else decorate


def _declare(name: str, fn: Callable[..., Any], options: dict[str, Any]) -> TaskHandle:
    made = make_sensor(fn, name, options, explicit_id=True)
    handle: TaskHandle = made()
    return handle


def file_sensor(task_id: str, path_glob: str, **sensor_options: Any) -> TaskHandle:
    """Declare a sensor that waits for files matching ``path_glob``.

    The glob is a Jinja2 template (``/data/{{ ds }}/*.csv``) and may use ``**``. Once
    files match, the task's result is their sorted list of paths. ``sensor_options`` are
    ``@sensor``'s settings and ``@task``'s options.
    """
    if active_builder() is None:
        raise DefinitionError(f"file_sensor({task_id!r}) must be called inside a @pipeline")
    if not isinstance(path_glob, str) or not path_glob.strip():
        raise DefinitionError(
            f"file_sensor {task_id!r}: path_glob must be a non-empty string, got {path_glob!r}"
        )

    def find_files(ctx: Context) -> list[str] | None:
        pattern = render(path_glob, ctx)
        paths = sorted(glob.glob(pattern, recursive=True))
        ctx.log.info("%d file(s) match %s", len(paths), pattern)
        return paths or None

    find_files.__name__ = task_id
    find_files.__doc__ = f"Waits for files matching {path_glob}"
    return _declare(task_id, find_files, sensor_options)


def pipeline_sensor(task_id: str, pipeline_id: str, **sensor_options: Any) -> TaskHandle:
    """Declare a sensor that waits for ``pipeline_id``'s run of the same logical date to succeed.

    The task's result is that run's id. A run that failed is waited on too (it may be
    retried) until the sensor's timeout. ``sensor_options`` are ``@sensor``'s settings
    and ``@task``'s options. Its pokes run in the engine, which reads the metadata store:
    no try is given the store's credentials.
    """
    if active_builder() is None:
        raise DefinitionError(f"pipeline_sensor({task_id!r}) must be called inside a @pipeline")
    check_identifier("pipeline id", pipeline_id, f"pipeline_sensor {task_id!r}")

    def wait_for_run(ctx: Context, *, runs: RunLookup | None = None) -> str | None:
        if runs is None:
            raise ConfigError(
                f"pipeline_sensor {task_id!r} pokes in the engine, which gives it the runs "
                "to look at; it cannot be called by itself"
            )
        found = runs.run_state(pipeline_id, ctx.logical_date)
        if found is None:
            day = ctx.logical_date.isoformat()
            ctx.log.info("pipeline %r has no run for %s yet", pipeline_id, day)
            return None
        run_id, state = found
        ctx.log.info("run %s of pipeline %r is %s", run_id, pipeline_id, state)
        return run_id if state == "success" else None

    wait_for_run.__name__ = task_id
    wait_for_run.__doc__ = f"Waits for the run of pipeline {pipeline_id!r} of the same date"
    made = make_sensor(wait_for_run, task_id, sensor_options, explicit_id=True)
    made.engine_side = True
    handle: TaskHandle = made()
    return handle
