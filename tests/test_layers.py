"""The layers import one way (see docs/architecture.md): a lower layer never imports a
higher one. Checked from the source, so a new import that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "headwater"

# For each layer, the layers it may import (besides its own modules, errors and the
# leaf modules config, private_files and clock).
ALLOWED: dict[str, set[str]] = {
    "schedules": set(),
    "graph": set(),
    "store": set(),
    "authoring": {"graph", "schedules"},
    # asset definitions and the graph and pipelines built from them
    "assets": {"authoring", "graph", "schedules"},
    "loader": {"assets", "authoring", "graph"},
    "executors": {"authoring", "graph", "loader"},
    # per-process counters (instruments) and the store's gauges: the engine records
    "metrics": {"asset_status", "store"},
    "engine": {"assets", "authoring", "graph", "schedules", "store", "executors", "metrics"},
    "reporting": {"engine", "store"},
    "asset_status": {"assets", "store"},
    "idempotency": {"assets", "authoring", "runtime", "schedules"},
    "accounts": {"store"},
    "alerts": {"asset_status", "assets", "authoring", "schedules", "store"},
    "config_file": {"alerts", "authoring"},
    "runtime": {"authoring", "engine", "executors", "loader", "reporting", "schedules", "store"},
    "scheduling": {
        *("alerts", "asset_status", "assets", "authoring", "config_file", "engine"),
        *("executors", "loader", "metrics", "runtime", "schedules", "store"),
    },
    # the server sits on top, beside the CLI: it imports neither the CLI nor testing
    "server": {
        *("accounts", "alerts", "asset_status", "assets", "authoring", "config_file"),
        *("engine", "metrics"),
        *("reporting", "schedules", "scheduling", "store"),
    },
}
LEAVES = {"errors", "config", "private_files", "clock", "modules"}
# Pipeline.test() runs a pipeline in-process: a facade on the top layer, imported when
# called, so that importing headwater stays light.
EXCEPTIONS = {("authoring/pipeline.py", "testing")}


def imported_layers(path: Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "headwater" and len(parts) > 1:
                layers.add(parts[1])
    return layers


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    root = PACKAGE / layer
    files = sorted(root.rglob("*.py")) if root.is_dir() else [PACKAGE / f"{layer}.py"]
    wrong = []
    for path in files:
        relative = path.relative_to(PACKAGE).as_posix()
        for imported in imported_layers(path) - ALLOWED[layer] - LEAVES - {layer}:
            if (relative, imported) not in EXCEPTIONS:
                wrong.append(f"{relative} imports headwater.{imported}")
    assert wrong == []
