"""dbt projects as assets: one asset per model, seed and snapshot, dbt tests as checks.

``read_manifest`` reads a project's nodes, lineage and tests from ``target/manifest.json``
(``ensure_manifest`` runs ``dbt parse`` when it is out of date); ``dbt_build`` runs
``dbt build --select`` for chosen nodes (``select_arguments``) and returns each node's
result. dbt runs in a child process: importing this package does not import dbt.
"""

from headwater.assets.dbt.manifest import (
    DbtNode,
    DbtProject,
    DbtTest,
    build_steps,
    read_manifest,
    select_arguments,
)
from headwater.assets.dbt.runner import (
    DbtBuildResult,
    DbtNodeResult,
    dbt_build,
    ensure_manifest,
    manifest_is_fresh,
)

__all__ = [
    # the project, from its manifest
    "DbtNode",
    "DbtProject",
    "DbtTest",
    "build_steps",
    "read_manifest",
    "select_arguments",
    # running dbt
    "DbtBuildResult",
    "DbtNodeResult",
    "dbt_build",
    "ensure_manifest",
    "manifest_is_fresh",
]
