"""A dbt project's nodes, lineage and tests, read from its ``manifest.json`` (no dbt import).

Asset keys:
    A model, seed or snapshot of the root project gets ``key_prefix + (name,)``; one that
    comes from an installed package gets ``key_prefix + (package, name)``, so that a package
    can reuse a name of the project. A versioned model's last part is ``name_v<version>``
    (``dim_customers_v2``), as dbt names its relation. Shown joined by "/":
    ``read_manifest(path, key_prefix=("warehouse",))`` keys ``stg_orders`` as
    ``warehouse/stg_orders``. Two nodes with one key are an error.

Lineage:
    ``depends_on`` lists the models, seeds and snapshots a node reads. A dbt *source* whose
    relation is the relation of one of the project's seeds (the usual "seed loaded, then read
    as a source" layout) counts as that seed; any other source is listed, as
    ``"source_name.table"``, in ``sources`` instead. dbt itself orders a build by ``ref()``
    only, not by such a seed: ``build_steps`` splits a selection so that the seed is built
    by an earlier ``dbt build`` (or the model says ``-- depends_on: {{ ref('seed') }}``).

Tests and checks:
    Each dbt data test (generic or singular) becomes a check of every node it is attached
    to: a generic test's ``attached_node`` (the model whose YAML declares it, even when it
    reads a second model, as ``relationships`` does), else, for singular tests, every node it
    reads. A test with ``severity: error`` (dbt's default) is a *blocking* check: when it
    fails, dbt skips what is downstream. One with ``severity: warn`` is non-blocking: it can
    only warn. A test attached to none of the nodes (a test of a source that is not a seed)
    is left out. dbt unit tests are not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError

# The node types that become assets; tests become their checks.
ASSET_RESOURCE_TYPES = frozenset({"model", "seed", "snapshot"})
# Adapters whose database is a file with one writer at a time.
SINGLE_WRITER_ADAPTERS = frozenset({"duckdb", "sqlite"})


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtTest:
    """A dbt data test, a check of the nodes in ``attached_to``.

    Attributes:
        unique_id: dbt's id, ``test.<package>.<name>[.<hash>]``.
        name: the test's name (``unique_stg_orders_order_id``).
        column: the column a generic test was declared on, if any.
        severity: ``"error"`` (a blocking check) or ``"warn"`` (a non-blocking one).
        attached_to: unique ids of the models, seeds and snapshots it checks.
        reads: unique ids of the models, seeds and snapshots it reads (a ``relationships``
            test reads a second model).
    """

    unique_id: str
    name: str
    column: str | None
    severity: str
    attached_to: tuple[str, ...]
    reads: tuple[str, ...] = ()

    @property
    def blocking(self) -> bool:
        """Whether a failure of this test must stop what is downstream."""
        return self.severity == "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtNode:
    """A dbt model, seed or snapshot: one asset.

    Attributes:
        unique_id: dbt's id, ``<resource_type>.<package>.<name>[.v<version>]``.
        resource_type: ``"model"``, ``"seed"`` or ``"snapshot"``.
        name: dbt's name of the node.
        asset_key: the asset's key (see the module's docstring).
        depends_on: unique ids of the project's nodes it reads, in dbt's order.
        sources: the sources it reads that are none of the project's seeds, as
            ``"source_name.table"``.
        source_seeds: the seeds of ``depends_on`` it reads only through a source, which dbt
            does not order it after.
        tests: the tests attached to it, by unique id.
        description: its description from the YAML, "" when none.
        tags: its dbt tags.
        group: its dbt group, if any.
        materialized: its materialization (``table``, ``view``, ``incremental``...).
        relation_name: the relation it builds, quoted as the warehouse needs, if any.
        original_file_path: its file, relative to the project directory.
        fqn: dbt's fully qualified name (package, folders, name), which selects it.
    """

    unique_id: str
    resource_type: str
    name: str
    asset_key: tuple[str, ...]
    depends_on: tuple[str, ...]
    sources: tuple[str, ...]
    source_seeds: tuple[str, ...]
    tests: tuple[DbtTest, ...]
    description: str
    tags: tuple[str, ...]
    group: str | None
    materialized: str | None
    relation_name: str | None
    original_file_path: str
    fqn: tuple[str, ...]


@dataclass(frozen=True)
class DbtProject:
    """The assets of a dbt project, as its manifest describes them.

    Attributes:
        nodes: every model, seed and snapshot, by unique id.
        project_name: the root project's name (``name:`` in ``dbt_project.yml``).
        manifest_path: the manifest they were read from.
        adapter_type: the adapter of the target it was parsed for (``duckdb``,
            ``postgres``...), or "" when the manifest does not say.
    """

    nodes: dict[str, DbtNode]
    project_name: str
    manifest_path: Path
    adapter_type: str = ""

    @property
    def single_writer(self) -> bool:
        """Whether its warehouse is a file one process writes at a time (DuckDB, SQLite):
        two builds at once would fail on its lock, so they take turns."""
        return self.adapter_type in SINGLE_WRITER_ADAPTERS

    def by_key(self) -> dict[tuple[str, ...], DbtNode]:
        """The nodes by asset key."""
        return {node.asset_key: node for node in self.nodes.values()}


def read_manifest(path: Path, *, key_prefix: tuple[str, ...] = ()) -> DbtProject:
    """Read the models, seeds, snapshots and tests of a dbt ``manifest.json``.

    Args:
        path: the manifest, usually ``<project>/target/manifest.json`` (``ensure_manifest``
            makes it).
        key_prefix: parts put before every asset key.

    Raises:
        ConfigError: the file is missing, is not JSON or not a dbt manifest, or two nodes
            would get one asset key. The message names the file.
    """
    manifest = _load(path)
    project_name = _project_name(manifest, path)
    raw_nodes: Mapping[str, Any] = manifest["nodes"]
    assets = {uid: raw for uid, raw in raw_nodes.items() if _type(raw) in ASSET_RESOURCE_TYPES}
    seeds_by_relation = {
        _relation_key(raw["relation_name"]): uid
        for uid, raw in assets.items()
        if _type(raw) == "seed" and raw.get("relation_name")
    }
    source_seeds = {
        uid: seeds_by_relation.get(_relation_key(source.get("relation_name")))
        for uid, source in manifest.get("sources", {}).items()
    }
    tests = _tests(raw_nodes, assets, source_seeds)
    nodes = {
        uid: _node(raw, project_name, key_prefix, manifest.get("sources", {}), source_seeds, tests)
        for uid, raw in assets.items()
    }
    _check_unique_keys(nodes, path)
    adapter = manifest.get("metadata", {}).get("adapter_type")
    return DbtProject(
        nodes=nodes,
        project_name=project_name,
        manifest_path=path,
        adapter_type=adapter if isinstance(adapter, str) else "",
    )


def select_arguments(project: DbtProject, unique_ids: Iterable[str]) -> list[str]:
    """The ``dbt build --select`` arguments that build exactly these nodes.

    One argument per node, ``resource_type:<type>,fqn:<fqn>`` (the intersection of the two),
    so that a seed and a model with one name are never taken for each other. ``dbt build``
    also runs the tests attached to the selected nodes.

    Raises:
        ConfigError: a unique id is not one of the project's models, seeds or snapshots.
    """
    arguments: list[str] = []
    for unique_id in dict.fromkeys(unique_ids):
        node = project.nodes.get(unique_id)
        if node is None:
            raise ConfigError(
                f"dbt node {unique_id!r} is not a model, seed or snapshot of project "
                f"{project.project_name!r} (manifest {project.manifest_path}); "
                f"expected one of: {', '.join(sorted(project.nodes)) or 'none'}"
            )
        arguments.append(f"resource_type:{node.resource_type},fqn:{'.'.join(node.fqn)}")
    return arguments


def build_steps(project: DbtProject, unique_ids: Iterable[str]) -> list[list[str]]:
    """The nodes split into ``dbt build`` runs to make one after the other, in that order.

    Mostly one step: dbt orders the nodes of a build by their ``ref()``. A node that reads a
    seed of the selection only through a source (``source_seeds``) goes in a later step than
    that seed, and so does everything after it.

    Raises:
        ConfigError: a unique id is not one of the project's models, seeds or snapshots.
    """
    selected = dict.fromkeys(unique_ids)
    select_arguments(project, selected)  # the same check, the same message
    levels: dict[str, int] = {}

    def level(unique_id: str) -> int:
        if unique_id not in levels:
            node = project.nodes[unique_id]
            levels[unique_id] = max(
                (
                    level(parent) + (parent in node.source_seeds and parent in selected)
                    for parent in node.depends_on
                    if parent in project.nodes
                ),
                default=0,
            )
        return levels[unique_id]

    steps: dict[int, list[str]] = {}
    for unique_id in selected:
        steps.setdefault(level(unique_id), []).append(unique_id)
    return [steps[index] for index in sorted(steps)]


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"dbt manifest {str(path)!r} does not exist: run `dbt parse` in the project "
            "(ensure_manifest does it) or check the project directory"
        )
    except OSError as exc:
        raise ConfigError(f"dbt manifest {str(path)!r} cannot be read: {exc}")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"dbt manifest {str(path)!r} is not valid JSON ({exc}); run `dbt parse` again"
        )
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict):
        raise ConfigError(
            f"dbt manifest {str(path)!r} has no 'nodes': it is not a manifest.json written "
            "by dbt; run `dbt parse` again"
        )
    return manifest


def _project_name(manifest: Mapping[str, Any], path: Path) -> str:
    name = manifest.get("metadata", {}).get("project_name")
    if isinstance(name, str) and name:
        return name
    raise ConfigError(
        f"dbt manifest {str(path)!r} names no project (metadata.project_name): it was "
        "written by a dbt older than 1.6 or by hand; run `dbt parse` with dbt-core 1.8 or later"
    )


def _type(raw: Mapping[str, Any]) -> str:
    return str(raw.get("resource_type", ""))


def _relation_key(relation_name: object) -> str | None:
    """A relation name compared without quotes or case: ``"shop"."raw"."x"`` is shop.raw.x."""
    if not isinstance(relation_name, str):
        return None
    return relation_name.replace('"', "").replace("`", "").lower()


def _tests(
    raw_nodes: Mapping[str, Any],
    assets: Mapping[str, Any],
    source_seeds: Mapping[str, str | None],
) -> dict[str, list[DbtTest]]:
    """The tests of each asset node, by the node's unique id."""
    by_node: dict[str, list[DbtTest]] = {uid: [] for uid in assets}
    for uid, raw in raw_nodes.items():
        if _type(raw) != "test":
            continue
        attached = raw.get("attached_node")
        read = [source_seeds.get(p) or p for p in raw.get("depends_on", {}).get("nodes", [])]
        reads = tuple(dict.fromkeys(t for t in read if t in assets))
        targets = [source_seeds.get(attached) or attached] if attached else reads
        attached_to = tuple(dict.fromkeys(t for t in targets if t in assets))
        if not attached_to:
            continue
        severity = str(raw.get("config", {}).get("severity") or "error").lower()
        test = DbtTest(
            unique_id=uid,
            name=str(raw["name"]),
            column=raw.get("column_name") or None,
            severity="warn" if severity == "warn" else "error",
            attached_to=attached_to,
            reads=reads,
        )
        for target in attached_to:
            by_node[target].append(test)
    return by_node


def _node(
    raw: Mapping[str, Any],
    project_name: str,
    key_prefix: tuple[str, ...],
    sources: Mapping[str, Any],
    source_seeds: Mapping[str, str | None],
    tests: Mapping[str, list[DbtTest]],
) -> DbtNode:
    uid = str(raw["unique_id"])
    depends_on: list[str] = []
    read_sources: list[str] = []
    seeds_of_sources: list[str] = []
    for parent in raw.get("depends_on", {}).get("nodes", []):
        if parent in sources:
            seed = source_seeds.get(parent)
            if seed is None:
                source = sources[parent]
                read_sources.append(f"{source['source_name']}.{source['name']}")
            else:
                seeds_of_sources.append(seed)
        elif _type_of_id(parent) in ASSET_RESOURCE_TYPES:
            depends_on.append(parent)
    config = raw.get("config", {})
    return DbtNode(
        unique_id=uid,
        resource_type=_type(raw),
        name=str(raw["name"]),
        asset_key=_asset_key(raw, project_name, key_prefix),
        depends_on=tuple(dict.fromkeys(depends_on + seeds_of_sources)),
        sources=tuple(dict.fromkeys(read_sources)),
        source_seeds=tuple(dict.fromkeys(s for s in seeds_of_sources if s not in depends_on)),
        tests=tuple(sorted(tests[uid], key=lambda test: test.unique_id)),
        description=str(raw.get("description") or ""),
        tags=tuple(raw.get("tags") or ()),
        group=raw.get("group") or config.get("group") or None,
        materialized=config.get("materialized"),
        relation_name=raw.get("relation_name"),
        original_file_path=str(raw.get("original_file_path", "")),
        fqn=tuple(raw.get("fqn") or ()),
    )


def _type_of_id(unique_id: str) -> str:
    return unique_id.split(".", 1)[0]


def _asset_key(
    raw: Mapping[str, Any], project_name: str, key_prefix: tuple[str, ...]
) -> tuple[str, ...]:
    name = str(raw["name"])
    version = raw.get("version")
    last = name if version is None else f"{name}_v{version}"
    package = raw.get("package_name")
    if package and package != project_name:
        return (*key_prefix, str(package), last)
    return (*key_prefix, last)


def _check_unique_keys(nodes: Mapping[str, DbtNode], path: Path) -> None:
    seen: dict[tuple[str, ...], str] = {}
    for uid, node in sorted(nodes.items()):
        other = seen.setdefault(node.asset_key, uid)
        if other != uid:
            raise ConfigError(
                f"dbt nodes {other!r} and {uid!r} (manifest {str(path)!r}) would both be asset "
                f"{'/'.join(node.asset_key)!r}; rename one of them in the dbt project"
            )
