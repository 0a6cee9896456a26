"""``@pipeline``: declare a pipeline from a function that calls tasks."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from headwater.authoring.definition import PipelineBuilder, node_specs
from headwater.authoring.retry import TASK_OPTION_NAMES, check_identifier, resolve_options
from headwater.errors import DefinitionError
from headwater.graph.build import build_plan
from headwater.graph.plan import ExecutionPlan
from headwater.schedules.events import AfterPipeline, EventSchedule, OnAsset, OnFile
from headwater.schedules.local_time import to_utc
from headwater.schedules.timetables import Timetable, timetable_for

if TYPE_CHECKING:
    from headwater.testing.runs import TestRun

Callback = Callable[..., Any]

PIPELINE_OPTION_NAMES = frozenset(
    {
        "pipeline_id",
        "schedule",
        "start",
        "end",
        "timezone",
        "catchup",
        "max_active_runs",
        "max_active_tasks",
        "default_task_args",
        "params",
        "tags",
        "description",
        "on_failure",
        "on_success",
        "alerts",
        "deadline",
        "freshness",
    }
)


def _check_alerts(alerts: object, where: str) -> tuple[str, ...]:
    """The channel names of ``alerts=``, checked (the config file declares the channels)."""
    if isinstance(alerts, str) or not isinstance(alerts, (list, tuple)):
        raise DefinitionError(
            f"{where}: alerts must be a list of channel names such as ['oncall'], got {alerts!r}"
        )
    return tuple(check_identifier("alert channel", name, where) for name in alerts)


def _check_duration(name: str, value: object, where: str) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise DefinitionError(
            f"{where}: {name} must be a positive timedelta such as timedelta(hours=3), "
            f"got {value!r}"
        )
    return value


def _parse_moment(name: str, value: object, zone: ZoneInfo, where: str) -> datetime | None:
    """A ``start``/``end`` value as an aware datetime (naive values are in the pipeline zone)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DefinitionError(
                f"{where}: {name} must be an ISO date such as '2026-01-01', got {value!r}"
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise DefinitionError(f"{where}: {name} must be a date or datetime, got {value!r}")
    if value.tzinfo is not None:
        return value
    # a naive local time in a daylight-saving gap means the end of the gap, as for --date
    moment = to_utc(value, zone)
    if moment is None:
        raise DefinitionError(f"{where}: {name} {value.isoformat()} is out of range in {zone}")
    return moment


class Pipeline:
    """A pipeline: its graph (``plan``) and the options that say when and how it runs."""

    def __init__(
        self,
        fn: Callable[[], Any],
        *,
        pipeline_id: str | None = None,
        schedule: str | timedelta | EventSchedule | None = None,
        start: str | date | datetime | None = None,
        end: str | date | datetime | None = None,
        timezone: str = "UTC",
        catchup: bool = False,
        max_active_runs: int | None = None,
        max_active_tasks: int | None = None,
        default_task_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | tuple[str, ...] = (),
        description: str | None = None,
        on_failure: Callback | None = None,
        on_success: Callback | None = None,
        alerts: list[str] | tuple[str, ...] = (),
        deadline: timedelta | None = None,
        freshness: timedelta | None = None,
    ) -> None:
        self.fn = fn
        self.pipeline_id = fn.__name__ if pipeline_id is None else pipeline_id
        code = fn.__code__
        where = f"pipeline {self.pipeline_id!r} ({code.co_filename}:{code.co_firstlineno})"
        check_identifier("pipeline id", self.pipeline_id, where)
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DefinitionError(
                f"{where}: unknown timezone {timezone!r}; use an IANA name such as "
                "'UTC' or 'Europe/Paris'"
            ) from None
        if schedule is not None and not isinstance(
            schedule, (str, timedelta, OnFile, AfterPipeline, OnAsset)
        ):
            raise DefinitionError(
                f"{where}: schedule must be a cron string, a preset such as '@daily', "
                f"a timedelta, on_file(...), after(...), on_asset(...) or None, "
                f"got {schedule!r}"
            )
        for name, limit in (
            ("max_active_runs", max_active_runs),
            ("max_active_tasks", max_active_tasks),
        ):
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
            ):
                raise DefinitionError(
                    f"{where}: {name} must be a whole number of 1 or more, got {limit!r}"
                )
        for name, callback in (("on_failure", on_failure), ("on_success", on_success)):
            if callback is not None and not callable(callback):
                raise DefinitionError(f"{where}: {name} must be callable, got {callback!r}")
        self.default_task_args = dict(default_task_args or {})
        unknown = sorted(set(self.default_task_args) - TASK_OPTION_NAMES)
        if unknown:
            raise DefinitionError(
                f"{where}: default_task_args has unknown option(s) {unknown}; "
                f"known options are {', '.join(sorted(TASK_OPTION_NAMES))}"
            )
        resolve_options({}, self.default_task_args, where)
        self.schedule = schedule
        self.timezone = timezone
        self.start = _parse_moment("start", start, self.zone, where)
        self.end = _parse_moment("end", end, self.zone, where)
        try:
            self.timetable: Timetable | None = (
                None
                if isinstance(schedule, (OnFile, AfterPipeline, OnAsset))
                else timetable_for(schedule, self.zone, self.start, self.end)
            )
        except DefinitionError as exc:
            raise DefinitionError(f"{where}: {exc}") from None
        self.catchup = bool(catchup)
        self.max_active_runs = max_active_runs
        # tries of this pipeline in flight at once in one process, over all its runs
        self.max_active_tasks = max_active_tasks
        self.params: dict[str, Any] = dict(params or {})
        self.tags = tuple(tags)
        self.description = description if description is not None else (inspect.getdoc(fn) or "")
        self.on_failure = on_failure
        self.on_success = on_success
        # alert channels (declared in headwater.toml) told of this pipeline's failures
        self.alerts: tuple[str, ...] = _check_alerts(alerts, where)
        # a run must succeed within ``deadline`` after its data interval ends
        self.deadline = _check_duration("deadline", deadline, where)
        if self.deadline is not None and self.timetable is None:
            raise DefinitionError(
                f"{where}: deadline needs a time schedule (cron, preset or timedelta): "
                "it counts from the end of each data interval"
            )
        # stale when the newest successfully processed interval ended longer ago
        self.freshness = _check_duration("freshness", freshness, where)
        self.module_name = fn.__module__
        module = sys.modules.get(fn.__module__)
        self.source_file: str | None = getattr(module, "__file__", None) or code.co_filename
        self.plan: ExecutionPlan = self._build()

    def _build(self) -> ExecutionPlan:
        builder = PipelineBuilder(self.pipeline_id)
        with builder.activate():
            self.fn()
        specs = node_specs(self.pipeline_id, builder.calls, self.default_task_args)
        return build_plan(self.pipeline_id, specs)

    def __repr__(self) -> str:
        return f"<Pipeline {self.pipeline_id!r} ({len(self.plan.nodes)} tasks)>"

    @property
    def task_ids(self) -> list[str]:
        return [node.task_id for node in self.plan.nodes]

    def test(
        self,
        date: str | date | datetime | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str = "thread",
    ) -> TestRun:
        """Run this pipeline once, in this process, against a temporary store.

        For users' unit tests: no database or server to set up. Returns the finished run
        with each task's state, tries and result.
        """
        # The testing helpers sit above the engine and the store; importing them here
        # keeps ``import headwater`` free of database code until a test actually runs.
        from headwater.testing.runs import run_pipeline_test

        return run_pipeline_test(self, date=date, params=params, executor=executor)


@overload
def pipeline(fn: Callable[[], Any], /) -> Pipeline: ...


@overload
def pipeline(fn: None = None, /, **options: Any) -> Callable[[Callable[[], Any]], Pipeline]: ...


def pipeline(
    fn: Callable[[], Any] | None = None, /, **options: Any
) -> Pipeline | Callable[[Callable[[], Any]], Pipeline]:
    """Declare a pipeline. The function body calls tasks; their calls become the graph.

    Options: ``pipeline_id``, ``schedule``, ``start``, ``end``, ``timezone``, ``catchup``,
    ``max_active_runs``, ``max_active_tasks``, ``default_task_args``, ``params``, ``tags``,
    ``description``, ``on_failure``, ``on_success``, ``alerts`` (channel names),
    ``deadline`` and ``freshness`` (timedeltas; see docs/alerts.md).
    """

    unknown = sorted(set(options) - PIPELINE_OPTION_NAMES)
    if unknown:
        raise DefinitionError(
            f"@pipeline got unknown option(s) {', '.join(map(repr, unknown))}; known options "
            f"are {', '.join(sorted(PIPELINE_OPTION_NAMES))}"
        )

    def decorate(function: Callable[[], Any]) -> Pipeline:
        return Pipeline(function, **options)

    return decorate(fn) if fn is not None else decorate
