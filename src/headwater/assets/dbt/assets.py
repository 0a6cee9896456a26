"""``dbt_assets``: a dbt project's models, seeds and snapshots as headwater assets.

One asset per node, with dbt's lineage as dependencies; each test attached to a node is a
check of that asset (severity ``error``: blocking; ``warn``: a warning). Materializing an
asset runs ``dbt build --select`` for that node (and for what of its run can be built
with it: see ``batches``), which builds it and runs its tests, and records the node's
result (rows affected, time) and each test's. dbt writes to the
warehouse itself: the asset's IO manager stores nothing, and an asset that reads a dbt
model names it in ``deps=[...]`` and reads the table with SQL.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.assets.checks import Check, CheckContext, CheckResult
from headwater.assets.dbt.batches import batch, run_builds
from headwater.assets.dbt.manifest import DbtNode, DbtProject, read_manifest, select_arguments
from headwater.assets.dbt.runner import DbtBuildResult, dbt_build, ensure_manifest
from headwater.assets.definition import Asset
from headwater.assets.io.base import InputContext, IOManager, IOManagerError, OutputContext
from headwater.assets.keys import task_id_of
from headwater.assets.report import AssetTryInfo
from headwater.authoring.context import Context
from headwater.errors import ExecutorError

PASSED = frozenset({"pass", "success"})


@dataclass(frozen=True, slots=True)
class DbtRelation(IOManager):
    """Where dbt wrote a node: nothing to store, the relation to show."""

    relation: str | None

    def handle_output(self, context: OutputContext, value: Any) -> dict[str, Any]:
        metadata: dict[str, Any] = {"relation": self.relation}
        if isinstance(value, DbtBuildResult):
            metadata["dbt_command"] = f"dbt build {value.selection}"
        return metadata

    def load_input(self, context: InputContext) -> Any:
        raise IOManagerError(
            f"{'/'.join(context.asset_key)} is a dbt node: dbt wrote it to the warehouse as "
            f"{self.relation}; depend on it with deps=[...] and read the table with SQL"
        )

    def fingerprint(
        self, asset_key: tuple[str, ...], partition_key: str | None, default_base_url: str
    ) -> str | None:
        return None  # the warehouse is dbt's: not compared by the idempotency test

    def relocated(self, base_url: str) -> IOManager:
        return self

    def describe(self) -> str:
        return f"dbt ({self.relation or 'no relation'})"


def _build(
    project_dir: Path,
    profiles_dir: Path | None,
    target: str | None,
    node: DbtNode,
    project: DbtProject,
    task_of: Mapping[str, str],
) -> Callable[..., DbtBuildResult]:
    def materialize(ctx: Context) -> DbtBuildResult:
        info = ctx.asset_info
        waiting = info.waiting if isinstance(info, AssetTryInfo) else {}
        guarded = info.guarded if isinstance(info, AssetTryInfo) else frozenset()
        with run_builds(project_dir, ctx.run_id, ctx.log.info) as builds:
            found = builds.built(node.unique_id, ctx.try_number)
            if found is not None:
                result, builder = found
                ctx.log.info(
                    "built by the dbt build of task %s of this run: %s", builder, result.selection
                )
                ctx.add_metadata(dbt_built_by=builder)
            else:
                others = batch(project, node.unique_id, task_of, waiting, guarded, builds)
                # a test that also reads another node runs with this one when that node
                # is upstream of it or in the same build, not otherwise: its check then
                # warns that it was not run
                result = dbt_build(
                    project_dir,
                    profiles_dir,
                    select_arguments(project, [node.unique_id, *others]),
                    target=target,
                    log=ctx.log.info,
                    indirect_selection="buildable",
                    one_at_a_time=project.single_writer,
                )
                builds.record(result, ctx.task_id, {node.unique_id: ctx.try_number, **others})
        own = result.results.get(node.unique_id)
        if own is None or own.status not in PASSED:
            message = own.message if own is not None else "no result (skipped?)"
            raise ExecutorError(f"dbt {node.resource_type} {node.name} failed: {message}")
        ctx.add_metadata(
            dbt_unique_id=node.unique_id,
            rows_affected=own.rows_affected,
            dbt_seconds=round(own.execution_time, 3),
        )
        return result

    materialize.__name__ = materialize.__qualname__ = node.name
    materialize.__doc__ = node.description or f"dbt {node.resource_type} {node.name}"
    return materialize


def _test_check(test_id: str, name: str, blocking: bool, others: Sequence[str]) -> Check:
    def verdict(value: Any, context: CheckContext) -> tuple[bool, str] | CheckResult:
        if not isinstance(value, DbtBuildResult):
            return False, "the dbt build gave no results"
        result = value.results.get(test_id)
        if result is None:
            # with --indirect-selection buildable, dbt leaves out only the tests that also
            # read a node neither built nor upstream (a relationships test)
            # not a pass, and no reason to refuse the node: a warning
            reads = ", ".join(others) or "another node"
            return CheckResult(
                check_name=name,
                passed=False,
                blocking=False,
                description=(
                    f"dbt test {name} not run: it also reads {reads}, which is not upstream "
                    "of this node (a dbt build of both runs it)"
                ),
                metadata={"dbt_status": "not run"},
            )
        failures = f" ({result.failures} failing rows)" if result.failures else ""
        return result.status in PASSED, f"dbt test {name}: {result.status}{failures}"

    return Check(name=name, function=verdict, blocking=blocking, description=f"dbt test {name}")


def dbt_assets(
    project_dir: str | Path,
    profiles_dir: str | Path | None = None,
    *,
    target: str | None = None,
    key_prefix: Sequence[str] = (),
    group: str = "dbt",
    **options: Any,
) -> list[Asset]:
    """The models, seeds and snapshots of a dbt project, as assets.

    ``project_dir`` and ``profiles_dir`` relative to the calling file's folder (or
    absolute). The manifest is parsed with ``dbt parse`` when the project changed.
    ``options`` are asset options given to every node (``retries``, ``pool``...).
    """
    caller = sys._getframe(1)
    module_name = caller.f_globals.get("__name__", "__main__")
    here = Path(caller.f_code.co_filename).resolve().parent
    project = Path(project_dir) if Path(project_dir).is_absolute() else here / project_dir
    profiles = None
    if profiles_dir is not None:
        profiles = Path(profiles_dir) if Path(profiles_dir).is_absolute() else here / profiles_dir
    manifest = read_manifest(
        ensure_manifest(project, profiles, target=target), key_prefix=tuple(key_prefix)
    )
    found = []
    task_of = {unique_id: task_id_of(n.asset_key) for unique_id, n in manifest.nodes.items()}
    for node in manifest.nodes.values():
        fn = _build(project, profiles, target, node, manifest, task_of)
        fn.__module__ = module_name
        item = Asset(
            fn,
            key=list(node.asset_key),
            deps=[manifest.nodes[d].asset_key for d in _upstream(node, manifest.nodes)],
            group=node.group or group,
            tags=list(node.tags),
            io_manager=DbtRelation(node.relation_name),
            checks=[
                _test_check(
                    t.unique_id,
                    t.name,
                    t.blocking,
                    [manifest.nodes[o].name for o in t.reads if o != node.unique_id],
                )
                for t in node.tests
            ],
            metadata={"dbt": node.unique_id, "materialized": node.materialized or ""},
            **options,
        )
        item.sees_run = True  # builds what it can of its run at once (see batches.py)
        found.append(item)
    return found


def _upstream(node: DbtNode, nodes: Mapping[str, DbtNode]) -> list[str]:
    return [d for d in dict.fromkeys((*node.depends_on, *node.source_seeds)) if d in nodes]
