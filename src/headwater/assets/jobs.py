"""Asset pipelines: a selection of the asset graph, run like any pipeline.

``asset_pipeline("daily_sales", select="group:sales", schedule="0 6 * * *")`` declares a
job; once every asset of the folder is known, the loader compiles it into an
``AssetPipeline``: one task per selected asset, edges from their dependencies, and the
same schedules, retries, pools, alerts and UI as a pipeline of tasks.

All partitioned assets of one pipeline share one partitions definition; each run
materializes one partition of them (a scheduled run, the newest partition complete at
its time), and the unpartitioned ones whole.
"""

from __future__ import annotations

import hashlib
import sys
import types
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from headwater.assets.graph import AssetGraph
from headwater.assets.io.files import FileIOManager
from headwater.assets.keys import AssetKey, key_string, task_id_of
from headwater.assets.partitions import PartitionsDefinition, TimePartitions
from headwater.assets.selection import select
from headwater.assets.step import AssetStep, StepInput
from headwater.authoring.pipeline import PIPELINE_OPTION_NAMES, Pipeline
from headwater.authoring.retry import check_identifier, resolve_options
from headwater.errors import ConfigError, DefinitionError
from headwater.graph.build import NodeSpec, build_plan
from headwater.graph.plan import ExecutionPlan

ASSET_KIND = "asset"
DEFAULT_IO_MANAGER = FileIOManager()
JOB_OPTION_NAMES = PIPELINE_OPTION_NAMES - {"pipeline_id"}


class AssetJob:
    """A declared asset pipeline, waiting for the asset graph to be compiled against."""

    def __init__(self, pipeline_id: str, select: str, options: dict[str, Any]) -> None:
        frame = sys._getframe(2)
        self.source_file: str = frame.f_code.co_filename
        self.line: int = frame.f_lineno
        self.module_name: str = frame.f_globals.get("__name__", "__main__")
        self.where = f"asset pipeline {pipeline_id!r} ({self.source_file}:{self.line})"
        self.pipeline_id = check_identifier("pipeline id", pipeline_id, self.where)
        if not isinstance(select, str) or not select.strip():
            raise DefinitionError(
                f"{self.where}: select must be a selection such as 'group:sales', "
                f"'+orders_cleaned' or '*', got {select!r}"
            )
        unknown = sorted(set(options) - JOB_OPTION_NAMES)
        if unknown:
            raise DefinitionError(
                f"{self.where}: unknown option(s) {', '.join(map(repr, unknown))}; known "
                f"options are {', '.join(sorted(JOB_OPTION_NAMES))}"
            )
        self.select = select
        self.options = options

    def __repr__(self) -> str:
        return f"<AssetJob {self.pipeline_id!r} select={self.select!r}>"

    def compile(self, graph: AssetGraph) -> AssetPipeline:
        """The pipeline this job stands for in ``graph``.

        Raises:
            DefinitionError: the selection is empty or mixes partitions definitions.
        """
        try:
            keys = select(graph, self.select, where=self.where)
        except ConfigError as exc:
            raise DefinitionError(str(exc)) from None
        return AssetPipeline(
            graph,
            keys,
            pipeline_id=self.pipeline_id,
            module_name=self.module_name,
            source_file=self.source_file,
            line=self.line,
            **self.options,
        )


def asset_pipeline(pipeline_id: str, *, select: str = "*", **options: Any) -> AssetJob:
    """Declare a pipeline that materializes the assets ``select`` picks.

    ``select``: asset keys, ``group:NAME``, ``tag:NAME``, ``*``, with ``+`` before a term
    for everything upstream and after it for everything downstream. The other options
    are those of ``@pipeline`` (``schedule``, ``timezone``, ``alerts``...).
    """
    return AssetJob(pipeline_id, select, options)


def _function(pipeline_id: str, module_name: str, source_file: str, line: int) -> Any:
    """A function standing for the job where Pipeline expects one (names, file, line)."""

    def job() -> None:
        return None

    code = job.__code__.replace(co_name=pipeline_id, co_filename=source_file, co_firstlineno=line)
    function = types.FunctionType(code, {"__name__": module_name})
    function.__module__ = module_name
    function.__doc__ = None
    return function


class AssetPipeline(Pipeline):
    """A pipeline whose tasks materialize assets of an asset graph."""

    def __init__(
        self,
        graph: AssetGraph,
        keys: Sequence[AssetKey],
        *,
        pipeline_id: str,
        module_name: str,
        source_file: str,
        line: int,
        **options: Any,
    ) -> None:
        self.graph = graph
        self.asset_keys = tuple(keys)
        where = f"asset pipeline {pipeline_id!r} ({source_file}:{line})"
        self.partitions = shared_partitions(graph, self.asset_keys, where)
        options.setdefault("description", f"materializes {len(keys)} asset(s)")
        super().__init__(
            _function(pipeline_id, module_name, source_file, line),
            pipeline_id=pipeline_id,
            **options,
        )
        self.source_file = source_file

    def _build(self) -> ExecutionPlan:
        return build_plan(self.pipeline_id, asset_specs(self.graph, self.asset_keys, self))

    def partition_for(self, run_after: datetime) -> str | None:
        """The partition a scheduled run materializes: the newest complete at its time."""
        if isinstance(self.partitions, TimePartitions):
            return self.partitions.last_complete_key(run_after)
        return None


def shared_partitions(
    graph: AssetGraph, keys: Sequence[AssetKey], where: str
) -> PartitionsDefinition | None:
    """The one partitions definition of the partitioned assets among ``keys``.

    Raises:
        DefinitionError: two different definitions (a run materializes one partition).
    """
    found: dict[PartitionsDefinition, AssetKey] = {}
    for key in keys:
        partitions = graph.assets[key].partitions
        if partitions is not None and partitions not in found:
            found[partitions] = key
    if len(found) > 1:
        (first, a), (second, b) = list(found.items())[:2]
        raise DefinitionError(
            f"{where}: selects assets partitioned differently ({key_string(a)}: "
            f"{first.describe()}; {key_string(b)}: {second.describe()}); a run materializes "
            "one partition, so put them in separate pipelines (or use automation)"
        )
    return next(iter(found), None)


def asset_specs(
    graph: AssetGraph, keys: Sequence[AssetKey], pipeline: Pipeline
) -> dict[str, NodeSpec]:
    """One node per selected asset; an edge for each dependency inside the selection."""
    selected = set(keys)
    specs: dict[str, NodeSpec] = {}
    for key in keys:
        item = graph.assets[key]
        inputs = tuple(
            StepInput(
                parameter=i.parameter,
                key=i.key,
                io_manager=_io_manager(graph, i.key),
                mapping=i.mapping,
                partitions=graph.assets[i.key].partitions if i.key in graph.assets else None,
                expects=item.parameter_annotation(i.parameter) if i.parameter else None,
            )
            for i in graph.inputs[key]
        )
        step = AssetStep.of(item, inputs, _io_manager(graph, key), graph.checks.get(key, ()))
        task_id = task_id_of(key)
        specs[task_id] = NodeSpec(
            task_id=task_id,
            base_id=task_id,
            kind=ASSET_KIND,
            fn=step,
            args=(),
            kwargs={},
            context_parameters=("ctx",),
            options=resolve_options(
                item.task_options,
                pipeline.default_task_args,
                f"pipeline {pipeline.pipeline_id!r}, {item.where}",
            ),
            upstream=tuple(task_id_of(up) for up in graph.upstream[key] if up in selected),
            description=item.description,
            line=item.line,
        )
    return specs


def _io_manager(graph: AssetGraph, key: AssetKey) -> Any:
    item = graph.assets.get(key)
    return (item.io_manager if item else None) or DEFAULT_IO_MANAGER


def materialize_pipeline(
    graph: AssetGraph, keys: Sequence[AssetKey], *, source_file: str
) -> AssetPipeline:
    """An ad hoc pipeline for ``headwater materialize``: one id per set of assets.

    The id names the first asset and, for several, a digest of them all, so runs of the
    same set share a pipeline (and its history) and different sets never do.
    """
    first = task_id_of(keys[0])
    if len(keys) == 1:
        pipeline_id = f"materialize.{first}"
    else:
        digest = hashlib.sha1("\n".join(sorted(map(key_string, keys))).encode()).hexdigest()
        pipeline_id = f"materialize.{first}.and-{len(keys) - 1}-more.{digest[:8]}"
    if len(pipeline_id) > 200:
        digest = hashlib.sha1(pipeline_id.encode()).hexdigest()
        pipeline_id = f"materialize.{digest[:16]}"
    return AssetPipeline(
        graph,
        keys,
        pipeline_id=pipeline_id,
        module_name="headwater_materialize",
        source_file=source_file,
        line=1,
        description="materializes "
        + ", ".join(key_string(k) for k in keys[:10])
        + (" ..." if len(keys) > 10 else ""),
        tags=["materialize"],
    )
