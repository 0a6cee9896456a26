"""The builder that records task calls and edges while a pipeline function runs.

Calling a task inside a ``@pipeline`` function does not run it: it adds a ``TaskCall`` to
the active ``PipelineBuilder`` and returns a ``TaskHandle`` standing for its result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from headwater.authoring.retry import (
    check_id_length,
    check_identifier,
    resolve_options,
    shortened,
)
from headwater.errors import DefinitionError
from headwater.graph.build import NodeSpec, Placeholder

if TYPE_CHECKING:
    from headwater.authoring.task import Task

_active_builder: ContextVar[PipelineBuilder | None] = ContextVar("headwater_builder", default=None)

Linkable = Union["TaskHandle", "TaskGroup", "list[TaskHandle | TaskGroup]"]


@dataclass(slots=True, kw_only=True)
class TaskCall:
    """One task instance declared in a pipeline: the task, its arguments and its edges."""

    task_id: str
    task: Task[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    upstream: list[str] = field(default_factory=list)
    upstream_set: set[str] = field(default_factory=set)  # for O(1) duplicate checks
    map_over: str | None = None  # name of the parameter a mapped task iterates over
    line: int | None = None


class _Linkable:
    """Shared ``>>`` / ``<<`` behaviour of task handles and task groups."""

    def _upstream_ids(self) -> list[str]:
        """Ids that become upstream when this object stands left of ``>>``."""
        raise NotImplementedError

    def _downstream_ids(self) -> list[str]:
        """Ids that become downstream when this object stands right of ``>>``."""
        raise NotImplementedError

    def _builder(self) -> PipelineBuilder:
        raise NotImplementedError

    def __rshift__(self, other: Any) -> Any:
        self._builder().link(self, other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        self._builder().link(other, self)
        return self

    def __lshift__(self, other: Any) -> Any:
        self._builder().link(other, self)
        return other

    def __rlshift__(self, other: Any) -> Any:
        self._builder().link(self, other)
        return self


class TaskHandle(_Linkable):
    """Stands for a task's result inside a pipeline definition.

    Pass it to another task to make an edge and hand over the value; use ``>>`` and
    ``<<`` for edges that carry no value.
    """

    __slots__ = ("_owner", "task_id")

    def __init__(self, owner: PipelineBuilder, task_id: str) -> None:
        self._owner = owner
        self.task_id = task_id

    def _builder(self) -> PipelineBuilder:
        return self._owner

    def _upstream_ids(self) -> list[str]:
        return [self.task_id]

    def _downstream_ids(self) -> list[str]:
        return [self.task_id]

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task_id!r}>"

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"task {self.task_id!r}: a task's result is not known while the pipeline is "
            "defined, so it cannot be tested with 'if' or 'bool()'; use @task.branch to "
            "choose between tasks at run time"
        )


class TaskGroup(_Linkable):
    """A named group of tasks: prefixes their ids and can stand on either side of ``>>``."""

    def __init__(self, owner: PipelineBuilder, group_id: str, prefix: str) -> None:
        self._owner = owner
        self.group_id = group_id
        self.prefix = prefix
        self.members: list[str] = []

    def _builder(self) -> PipelineBuilder:
        return self._owner

    def _upstream_ids(self) -> list[str]:
        # the group's leaves: members with no downstream inside the group
        members = set(self.members)
        has_inner_downstream = {
            up for tid in self.members for up in self._owner.calls[tid].upstream if up in members
        }
        return [tid for tid in self.members if tid not in has_inner_downstream]

    def _downstream_ids(self) -> list[str]:
        # the group's roots: members with no upstream inside the group
        members = set(self.members)
        return [
            tid
            for tid in self.members
            if not any(up in members for up in self._owner.calls[tid].upstream)
        ]

    def __repr__(self) -> str:
        return f"<TaskGroup {self.group_id!r}>"


class PipelineBuilder:
    """Collects the task calls and edges of one pipeline while its function runs."""

    def __init__(self, pipeline_id: str) -> None:
        self.pipeline_id = pipeline_id
        self.calls: dict[str, TaskCall] = {}
        self._groups: list[TaskGroup] = []
        self._explicit_ids: set[str] = set()

    @contextmanager
    def activate(self) -> Iterator[PipelineBuilder]:
        token = _active_builder.set(self)
        try:
            yield self
        finally:
            _active_builder.reset(token)

    def new_task_id(self, base_id: str, *, explicit: bool) -> str:
        """The id of a call of task ``base_id``: its groups' prefix, and ``__N`` if repeated.

        Raises:
            DefinitionError: the id is taken (``explicit``) or longer than MAX_ID_LENGTH.
        """
        # a group's prefix already holds those of the groups around it
        prefix = self._groups[-1].prefix if self._groups else ""
        task_id, n = prefix + base_id, 0
        if explicit:
            if task_id in self.calls:
                raise DefinitionError(
                    f"pipeline {self.pipeline_id!r}: duplicate task id {task_id!r}; "
                    "give each call its own task_id, e.g. task.override(task_id=...)"
                )
        else:
            while task_id in self.calls:
                n += 1
                task_id = f"{prefix}{base_id}__{n}"
        parts = (("task group prefix", prefix), ("suffix", n))
        added = " and ".join(part for part, used in parts if used)
        check_id_length(
            "task id",
            task_id,
            f"pipeline {self.pipeline_id!r}",
            detail=f" with its {added} (task {shortened(base_id)!r})" if added else "",
        )
        if explicit:
            self._explicit_ids.add(task_id)
        return task_id

    def add(self, call: TaskCall) -> TaskHandle:
        if call.task_id in self.calls:
            raise DefinitionError(
                f"pipeline {self.pipeline_id!r}: duplicate task id {call.task_id!r}; "
                "give each call its own task_id, e.g. task.override(task_id=...)"
            )
        self.calls[call.task_id] = call
        for group in self._groups:
            group.members.append(call.task_id)
        return TaskHandle(self, call.task_id)

    def link(self, left: Any, right: Any) -> None:
        """Add edges from every task on the left to every task on the right."""
        for upstream_id in self._ends(left, upstream=True):
            for downstream_id in self._ends(right, upstream=False):
                self.add_edge(upstream_id, downstream_id)

    def add_edge(self, upstream_id: str, downstream_id: str) -> None:
        if upstream_id == downstream_id:
            raise DefinitionError(
                f"pipeline {self.pipeline_id!r}: task {upstream_id!r} cannot depend on "
                f"itself (cycle: {upstream_id} -> {upstream_id})"
            )
        call = self.calls[downstream_id]
        if upstream_id not in call.upstream_set:
            call.upstream_set.add(upstream_id)
            call.upstream.append(upstream_id)

    def _ends(self, value: Any, *, upstream: bool) -> list[str]:
        if isinstance(value, (list, tuple, set)):
            return [tid for item in value for tid in self._ends(item, upstream=upstream)]
        if isinstance(value, _Linkable):
            if value._builder() is not self:
                raise DefinitionError(
                    f"pipeline {self.pipeline_id!r}: {value!r} belongs to another pipeline"
                )
            return value._upstream_ids() if upstream else value._downstream_ids()
        raise DefinitionError(
            f"pipeline {self.pipeline_id!r}: '>>' and '<<' link tasks, task groups or "
            f"lists of them, got {value!r}"
        )

    @contextmanager
    def group(self, group_id: str) -> Iterator[TaskGroup]:
        prefix = "".join(g.prefix for g in self._groups) + group_id + "."
        group = TaskGroup(self, group_id, prefix)
        self._groups.append(group)
        try:
            yield group
        finally:
            self._groups.pop()


def active_builder() -> PipelineBuilder | None:
    """The builder of the pipeline being defined, or None outside a pipeline function."""
    return _active_builder.get()


@contextmanager
def task_group(group_id: str) -> Iterator[TaskGroup]:
    """Group the tasks called inside the ``with`` block under ``group_id``.

    Their ids become ``"<group_id>.<task_id>"``; the group can be linked with ``>>``:
    ``extract >> group`` feeds the group's first tasks, ``group >> load`` waits for its last.
    """
    builder = active_builder()
    if builder is None:
        raise DefinitionError(f"task_group({group_id!r}) must be used inside a @pipeline function")
    check_identifier("task group id", group_id, f"pipeline {builder.pipeline_id!r}")
    with builder.group(group_id) as group:
        yield group


def node_specs(
    pipeline_id: str, calls: Mapping[str, TaskCall], default_task_args: Mapping[str, Any]
) -> dict[str, NodeSpec]:
    """The recorded calls as the graph takes them: options resolved, handles placeheld.

    Raises:
        DefinitionError: a bad option, naming the pipeline and the task.
    """
    specs = {}
    for task_id, call in calls.items():
        task = call.task
        defaults = default_task_args
        if task.sensor is not None:
            # a sensor's wait is bounded by its own timeout, not by the tries' default one
            defaults = {k: v for k, v in default_task_args.items() if k != "timeout"}
        specs[task_id] = NodeSpec(
            task_id=task_id,
            base_id=task.task_id,
            kind=task.kind.name,
            fn=task.fn,
            args=_placeheld(call.args),
            kwargs=_placeheld(call.kwargs),
            context_parameters=task.context_parameters,
            options=resolve_options(
                call.options, defaults, f"pipeline {pipeline_id!r}, task {task_id!r}"
            ),
            upstream=tuple(call.upstream),
            map_over=call.map_over,
            description=task.description,
            line=call.line,
            sensor=task.sensor,
            engine_side=task.engine_side,
        )
    return specs


def _placeheld(value: Any) -> Any:
    """``value`` with each TaskHandle in it (in lists, tuples, dicts) as a Placeholder."""
    if isinstance(value, TaskHandle):
        return Placeholder(value.task_id)
    if isinstance(value, (list, tuple)):
        return type(value)(_placeheld(item) for item in value)
    if isinstance(value, dict):
        return {key: _placeheld(item) for key, item in value.items()}
    return value
