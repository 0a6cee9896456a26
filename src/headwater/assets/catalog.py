"""The assets of a pipelines folder: one graph, and the pipelines that select from it.

Built from every file's definitions. A file whose assets break the graph (a duplicate
key, an unknown dependency, a cycle) is reported and left out, so the other files'
assets and pipelines go on; a job whose selection fails is reported alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from headwater.assets.definition import Asset, AssetCheck
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetJob, AssetPipeline
from headwater.assets.keys import AssetKey
from headwater.errors import DefinitionError, PipelineLoadError


@dataclass(slots=True)
class FileDefinitions:
    """What one imported file defines for the asset graph."""

    path: Path
    assets: list[Asset] = field(default_factory=list)
    checks: list[AssetCheck] = field(default_factory=list)
    jobs: list[AssetJob] = field(default_factory=list)


@dataclass(slots=True)
class AssetCatalog:
    graph: AssetGraph
    pipelines: dict[str, AssetPipeline]
    errors: dict[Path, PipelineLoadError]
    files: dict[AssetKey, Path] = field(default_factory=dict)


def _file_of(error: DefinitionError, files: Sequence[FileDefinitions]) -> FileDefinitions | None:
    """The file an error is about: the first whose path it names."""
    text = str(error)
    named = [f for f in files if str(f.path) in text]
    return min(named, key=lambda f: text.index(str(f.path))) if named else None


def _error(path: Path, error: Exception) -> PipelineLoadError:
    return PipelineLoadError(str(error), path=str(path))


def build_catalog(
    files: Sequence[FileDefinitions], *, external: Iterable[AssetKey] = ()
) -> AssetCatalog:
    """The asset graph of ``files`` and their compiled asset pipelines."""
    remaining = [f for f in files if f.assets or f.checks or f.jobs]
    errors: dict[Path, PipelineLoadError] = {}
    external = tuple(external)
    while True:
        try:
            graph = AssetGraph(
                [a for f in remaining for a in f.assets],
                [c for f in remaining for c in f.checks],
                external=external,
            )
            break
        except DefinitionError as exc:
            culprit = _file_of(exc, remaining)
            if culprit is None:  # not one file's fault: no asset graph at all
                for f in remaining:
                    errors[f.path] = _error(f.path, exc)
                return AssetCatalog(AssetGraph([]), {}, errors)
            errors[culprit.path] = _error(culprit.path, exc)
            remaining = [f for f in remaining if f is not culprit]
    pipelines: dict[str, AssetPipeline] = {}
    for definitions in remaining:
        for job in definitions.jobs:
            try:
                pipelines[job.pipeline_id] = job.compile(graph)
            except DefinitionError as exc:
                errors.setdefault(definitions.path, _error(definitions.path, exc))
    where = {a.key: f.path for f in remaining for a in f.assets}
    return AssetCatalog(graph, pipelines, errors, where)
