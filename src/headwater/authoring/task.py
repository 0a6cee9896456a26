"""``@task``: turn a function into a task that pipelines call to declare work."""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any, Generic, ParamSpec, TypeVar, overload

from headwater.authoring.context import Context
from headwater.authoring.definition import TaskCall, TaskHandle, active_builder
from headwater.authoring.retry import (
    MAX_ID_LENGTH,
    TASK_OPTION_NAMES,
    check_identifier,
    resolve_options,
    shortened,
)
from headwater.authoring.sensor_policy import SENSOR_OPTION_NAMES, resolve_sensor_policy
from headwater.errors import DefinitionError
from headwater.graph.options import SensorPolicy

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TaskKind:
    """What the engine does with a task's return value."""

    name: str  # "python", "branch", "shell" or "sensor"


PYTHON = TaskKind("python")
BRANCH = TaskKind("branch")
SHELL = TaskKind("shell")
SENSOR = TaskKind("sensor")


def _context_parameters(fn: Callable[..., Any]) -> tuple[str, ...]:
    """Names of the parameters annotated ``Context`` (also as a string annotation)."""
    names = []
    for name, parameter in inspect.signature(fn).parameters.items():
        annotation = parameter.annotation
        if annotation is Context or (
            isinstance(annotation, str) and annotation.split(".")[-1] == "Context"
        ):
            names.append(name)
    return tuple(names)


class Task(Generic[P, R]):
    """A function declared as a task. Call it inside a ``@pipeline`` function.

    Inside a pipeline function a call records a task instance and returns a
    ``TaskHandle``; outside one it simply calls the function.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        options: dict[str, Any],
        *,
        task_id: str | None = None,
        kind: TaskKind = PYTHON,
        explicit_id: bool = False,
        sensor: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.explicit_id = explicit_id
        self.kind = kind
        # an empty task_id is refused like any invalid id, not replaced by the function's name
        self.task_id = fn.__name__ if task_id is None else task_id
        self.options = self._checked(self.task_id, options)
        # how a sensor pokes (from its settings: poke_interval...); None for other tasks
        self.sensor: SensorPolicy | None = None
        if sensor is not None:
            self.sensor = resolve_sensor_policy(sensor, self._where(self.task_id))
        # a task the engine runs itself, given a RunLookup (``pipeline_sensor``)
        self.engine_side = False
        self.description = inspect.getdoc(fn) or ""
        self.signature = inspect.signature(fn)
        self.context_parameters = _context_parameters(fn)
        # The signature a pipeline calls: without the Context parameters, wherever they are.
        self.call_signature = self.signature.replace(
            parameters=[
                p
                for p in self.signature.parameters.values()
                if p.name not in self.context_parameters
            ]
        )
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", self.task_id)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.task_id!r}>"

    def _where(self, task_id: str) -> str:
        builder = active_builder()  # set when override() or shell_task() runs in a pipeline
        in_pipeline = f"pipeline {builder.pipeline_id!r}, " if builder is not None else ""
        kind = "sensor" if self.kind is SENSOR else "task"
        shown = task_id if len(task_id) <= MAX_ID_LENGTH else shortened(task_id)  # refused
        return f"{in_pipeline}{kind} {shown!r} ({_where_defined(self.fn)})"

    def _checked(self, task_id: str, options: dict[str, Any]) -> dict[str, Any]:
        """Validate an id and options now, naming the task (and pipeline, inside one)."""
        where = self._where(task_id)
        check_identifier("task id", task_id, where)
        resolve_options(options, {}, where)
        return dict(options)

    def override(self, *, task_id: str | None = None, **options: Any) -> Task[P, R]:
        """A copy of this task with another id or other options, as in Airflow.

        A sensor's settings (``poke_interval``, ``timeout``, ``mode``...) may be
        overridden too.
        """
        # a sensor's "timeout" is its own: tasks' try timeout does not apply to sensors
        sensor_names = SENSOR_OPTION_NAMES if self.sensor is not None else frozenset()
        known = TASK_OPTION_NAMES | sensor_names
        unknown = sorted(set(options) - known)
        if unknown:
            raise DefinitionError(
                f"task {self.task_id!r}: override() got unknown option(s) {unknown}; "
                f"known options are {', '.join(sorted(known))}"
            )
        # A shallow copy keeps the signature work already done (override is called in loops).
        overridden = copy.copy(self)
        overridden.task_id = self.task_id if task_id is None else task_id
        task_options = {k: v for k, v in options.items() if k not in sensor_names}
        overridden.options = self._checked(overridden.task_id, {**self.options, **task_options})
        if self.sensor is not None:
            changed = {k: v for k, v in options.items() if k in sensor_names}
            if changed:
                settings = {**_policy_settings(self.sensor), **changed}
                overridden.sensor = resolve_sensor_policy(settings, self._where(overridden.task_id))
        overridden.explicit_id = task_id is not None or self.explicit_id
        return overridden

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = active_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return self._declare(args, kwargs, map_over=None)

    def map(self, *args: Any, **kwargs: Any) -> TaskHandle:
        """Run one task instance per item of the first argument (a list, or a task's result).

        Other arguments are passed unchanged to every instance. Downstream tasks receive
        the results as a list, in the order of the items.
        """
        if active_builder() is None:
            raise DefinitionError(f"task {self.task_id!r}: .map() must be called in a @pipeline")
        if not args and not kwargs:
            raise DefinitionError(f"task {self.task_id!r}: .map() needs the items to map over")
        parameters = [
            name for name in self.signature.parameters if name not in self.context_parameters
        ]
        if args:
            if not parameters:
                raise DefinitionError(f"task {self.task_id!r} takes no argument to map over")
            map_over = parameters[0]
            kwargs = {map_over: args[0], **kwargs}
            args = args[1:]
        else:
            map_over = next(iter(kwargs))
        return self._declare(args, kwargs, map_over=map_over)

    def _declare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], *, map_over: str | None
    ) -> TaskHandle:
        builder = active_builder()
        assert builder is not None  # callers check; not user input
        where = f"pipeline {builder.pipeline_id!r}, task {self.task_id!r}"
        try:
            bound = self.call_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise DefinitionError(f"{where}: {exc}") from None
        if not any(
            p.kind is inspect.Parameter.VAR_POSITIONAL for p in self.signature.parameters.values()
        ):
            # Pass everything by name, so a Context parameter may stand anywhere.
            args, kwargs = (), _as_keywords(bound)
        task_id = builder.new_task_id(self.task_id, explicit=self.explicit_id)
        call = TaskCall(
            task_id=task_id,
            task=self,
            args=args,
            kwargs=kwargs,
            options=self.options,
            map_over=map_over,
            line=_caller_line(),
        )
        handle = builder.add(call)
        for upstream_id in _handles_in((args, kwargs)):
            builder.add_edge(upstream_id, task_id)
        return handle


def _policy_settings(policy: SensorPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in SENSOR_OPTION_NAMES}


def _as_keywords(bound: inspect.BoundArguments) -> dict[str, Any]:
    keywords: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if bound.signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            keywords.update(value)
        else:
            keywords[name] = value
    return keywords


def _handles_in(value: Any) -> list[str]:
    """Task ids of the handles found in ``value`` (searched through lists, tuples, dicts)."""
    if isinstance(value, TaskHandle):
        return [value.task_id]
    if isinstance(value, (list, tuple, set)):
        return [tid for item in value for tid in _handles_in(item)]
    if isinstance(value, dict):
        return [tid for item in value.values() for tid in _handles_in(item)]
    return []


def _where_defined(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        return "defined in an unknown file"
    return f"{code.co_filename}:{code.co_firstlineno}"


def _caller_line() -> int | None:
    """The line of the pipeline function that declared the task, for error messages."""
    frame: FrameType | None = sys._getframe(1)
    package_dir = __file__.rsplit("/", 2)[0]
    while frame is not None and frame.f_code.co_filename.startswith(package_dir):
        frame = frame.f_back
    return frame.f_lineno if frame is not None else None


class _TaskDecorator:
    """``@task``, ``@task(...)`` and ``@task.branch``."""

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def __call__(
        self, fn: None = None, /, *, task_id: str | None = None, **options: Any
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def __call__(
        self, fn: Callable[P, R] | None = None, /, *, task_id: str | None = None, **options: Any
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        return _make(fn, task_id, options, PYTHON)

    @overload
    def branch(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def branch(
        self, fn: None = None, /, *, task_id: str | None = None, **options: Any
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def branch(
        self, fn: Callable[P, R] | None = None, /, *, task_id: str | None = None, **options: Any
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """A task that returns which of its direct downstream tasks run; the rest are skipped.

        It returns a task id, a task, a list of them, or None to skip them all.
        """
        return _make(fn, task_id, options, BRANCH)


def _make(
    fn: Callable[P, R] | None, task_id: str | None, options: dict[str, Any], kind: TaskKind
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    def decorate(function: Callable[P, R]) -> Task[P, R]:
        if not callable(function):
            raise DefinitionError(f"@task decorates a function, got {function!r}")
        return Task(function, options, task_id=task_id, kind=kind)

    return decorate(fn) if fn is not None else decorate


task = _TaskDecorator()
