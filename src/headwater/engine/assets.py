"""The engine's side of assets: what an asset's try is given, and what its success records.

Tries cannot read the store, so the engine hands an asset step what its checks compare
with (the previous partition's metadata) and the dynamic partitions it reads; and when
the try succeeds, the engine turns its report into store changes, committed with the
try's success. A blocking check that failed makes the try fail, without a retry: the
data was refused, and running the same code again does not make it right.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from headwater.assets.checks import Check, CheckContext
from headwater.assets.graph import AssetGraph
from headwater.assets.keys import AssetKey
from headwater.assets.partitions import DynamicPartitions, PartitionsDefinition
from headwater.assets.report import AssetTryInfo, Materialized, StepReport
from headwater.assets.step import AssetStep
from headwater.assets.values import value_metadata
from headwater.engine.run_state import RunView
from headwater.engine.states import TaskState
from headwater.executors.base import TryRequest
from headwater.graph.plan import PlanNode
from headwater.store.base import StateStore
from headwater.store.records import (
    AddPartitions,
    AssetRecord,
    Change,
    CheckOutcome,
    RecordMaterialization,
)

MATERIALIZED = "materialized"
REFUSED = "failed"


def previous_key(
    partitions: PartitionsDefinition | None,
    key: str | None,
    dynamic: Any = None,
) -> str | None:
    """The partition before ``key`` (the same one for an unpartitioned asset: None)."""
    if partitions is None or key is None:
        return None
    window = partitions.time_window(key)
    split = getattr(partitions, "split", None)
    if window is not None and split is None:
        earlier: str | None = partitions.key_of(window[0] - timedelta(microseconds=1))  # type: ignore[attr-defined]
        return earlier
    try:
        keys = partitions.keys(dynamic=dynamic)
    except Exception:  # keys that cannot be listed (a time dimension without an end)
        return None
    try:
        index = keys.index(key)
    except ValueError:
        return None
    return keys[index - 1] if index > 0 else None


def dynamic_names(partitions: PartitionsDefinition | None) -> list[str]:
    if partitions is None:
        return []
    if isinstance(partitions, DynamicPartitions):
        return [partitions.name]
    dimensions = getattr(partitions, "dimensions", None)
    if isinstance(dimensions, dict):
        return [n for d in dimensions.values() for n in dynamic_names(d)]
    return []


class AssetLedger:
    """Reads what asset tries need, and writes what they did, for one engine host."""

    def __init__(self, store: StateStore, base_url: str) -> None:
        self.store = store
        self.base_url = base_url

    def try_info(self, step: AssetStep, partition_key: str | None, now: datetime) -> AssetTryInfo:
        names = dynamic_names(step.partitions)
        for item in step.inputs:
            names.extend(dynamic_names(item.partitions))
        dynamic = self.store.dynamic_keys(names) if names else {}
        previous: dict[str, dict[str, Any]] = {}
        if step.checks or step.user_checks:
            earlier = previous_key(step.partitions, partition_key, dynamic)
            if partition_key is None or earlier is not None:
                found = self.store.previous_metadata(step.name, earlier)
                if found is not None:
                    previous[step.name] = found
        return AssetTryInfo(base_url=self.base_url, now=now, previous=previous, dynamic=dynamic)


def run_view_of_assets(info: AssetTryInfo, view: RunView) -> AssetTryInfo:
    """``info`` told which asset tasks of the run have not started, and which are guarded
    by a blocking check of their own (``AssetTryInfo.waiting`` and ``guarded``)."""
    nodes = view.plan.nodes
    waiting = {}
    guarded = set()
    for node in nodes:
        if not isinstance(node.fn, AssetStep):
            continue
        if any(check.blocking for check in node.fn.user_checks):
            guarded.add(node.task_id)
        instance = view.instances.get((node.index, -1))
        if instance is None or instance.state not in (TaskState.NONE, TaskState.QUEUED):
            continue
        waits = tuple(
            nodes[up].task_id
            for up in node.upstream
            if view.nodes[up].final is not TaskState.SUCCESS
        )
        waiting[node.task_id] = (instance.try_number + 1, waits)
    return replace(info, waiting=waiting, guarded=frozenset(guarded))


def report_changes(
    report: StepReport, run_id: str, task_id: str, try_number: int, now: datetime
) -> list[Change]:
    """The store changes of a successful asset try: its materializations and partitions."""
    changes: list[Change] = [
        AddPartitions(name=name, keys=tuple(keys), added_at=now)
        for name, keys in report.added_partitions.items()
        if keys
    ]
    for item in report.materializations:
        changes.append(
            RecordMaterialization(
                run_id=run_id,
                task_id=task_id,
                try_number=try_number,
                asset_key=item.asset_key,
                partition_key=item.partition_key,
                status=MATERIALIZED if item.written else REFUSED,
                created_at=now,
                metadata=dict(item.metadata),
                checks=tuple(
                    CheckOutcome(
                        check_name=c.check_name,
                        passed=c.passed,
                        blocking=c.blocking,
                        description=c.description,
                        metadata=dict(c.metadata),
                    )
                    for c in item.checks
                ),
            )
        )
    return changes


def refusal(report: StepReport) -> str | None:
    """The error of a try whose blocking checks failed, or None."""
    failures = report.blocking_failures
    if not failures:
        return None
    described = "; ".join(f"{check.check_name}: {check.description}" for _, check in failures)
    keys = sorted({key for key, _ in failures})
    return (
        f"blocking check(s) of asset {', '.join(keys)} failed ({described}); nothing was "
        "written, and the assets that read it do not run"
    )


def asset_definition(graph: AssetGraph, key: AssetKey) -> dict[str, Any]:
    """An asset's definition as stored and shown (the API, the UI, ``assets show``)."""
    item = graph.assets[key]
    checks = [{"name": c.name, "blocking": c.blocking} for c in item.checks]
    checks += [{"name": c.name, "blocking": c.blocking} for c in graph.checks.get(key, ())]
    return {
        "key": item.name,
        "group": item.group,
        "tags": list(item.tags),
        "upstream": ["/".join(k) for k in graph.upstream[key]],
        "downstream": ["/".join(k) for k in graph.downstream[key]],
        "partitions": None if item.partitions is None else item.partitions.to_json(),
        "partitions_description": None if item.partitions is None else item.partitions.describe(),
        "checks": checks,
        "freshness_seconds": None if item.freshness is None else item.freshness.total_seconds(),
        "automation": None if item.automation is None else item.automation.describe(),
        "io_manager": item.io_manager.describe() if item.io_manager else "files (default)",
        "alerts": list(item.alerts),
        "metadata": {k: str(v) for k, v in item.metadata.items()},
        "source_file": item.source_file,
        "line": item.line,
        "module_file": item.module_file,  # the file that defines it (dbt's: the caller's)
    }


def asset_records(graph: AssetGraph, now: datetime) -> list[AssetRecord]:
    return [
        AssetRecord(
            asset_key=graph.assets[key].name,
            group_name=graph.assets[key].group,
            description=graph.assets[key].description,
            source_file=graph.assets[key].source_file,
            definition=asset_definition(graph, key),
            updated_at=now,
        )
        for key in graph.order
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskGuard:
    """The outlets and checks of a plain task, applied to its value once it returned.

    Checked in the engine's process, on the thread that reports the try (off the
    engine's loop): the value is there for the result store anyway, and checks are
    objects that need not travel to workers.
    """

    task_id: str
    pipeline_id: str
    outlets: tuple[str, ...]
    checks: tuple[Check, ...]
    zone: ZoneInfo

    @classmethod
    def of(cls, node: PlanNode, pipeline: Any) -> TaskGuard:
        return cls(
            task_id=node.task_id,
            pipeline_id=pipeline.pipeline_id,
            outlets=node.options.outlets,
            checks=tuple(node.options.checks),
            zone=getattr(pipeline, "zone", ZoneInfo("UTC")),
        )

    def report(self, value: Any, request: TryRequest, now: datetime) -> StepReport:
        metadata = value_metadata(value)
        subject = self.outlets[0] if self.outlets else f"{self.pipeline_id}/{self.task_id}"
        context = CheckContext(
            asset_key=subject,
            partition_key=request.partition_key,
            window=(request.data_interval_start, request.data_interval_end),
            timezone=self.zone,
            logical_date=request.logical_date,
            now=now,
            metadata=metadata,
            previous=None,
        )
        results = tuple(check.evaluate(value, context) for check in self.checks)
        written = not any(r.blocking and not r.passed for r in results)
        keys = self.outlets or (f"task:{self.pipeline_id}/{self.task_id}",)
        return StepReport(
            materializations=tuple(
                Materialized(
                    asset_key=key,
                    partition_key=request.partition_key,
                    metadata=metadata,
                    checks=results,
                    written=written,
                )
                for key in keys
            ),
            value=value,
            task_value=True,
        )
