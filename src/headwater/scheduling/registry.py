"""PipelineRegistry: the pipelines of a folder, re-read when their files change.

A file that fails to import is reported once per change and skipped; the pipelines of
the other files are unaffected. A pipeline whose file breaks keeps its last good
definition for the runs already in flight, but gets no new runs until it is fixed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from headwater.assets.catalog import AssetCatalog, FileDefinitions, build_catalog
from headwater.assets.graph import AssetGraph
from headwater.assets.jobs import AssetPipeline, materialize_pipeline
from headwater.authoring.pipeline import Pipeline
from headwater.errors import DefinitionError, NotFoundError, PipelineLoadError
from headwater.loader import find_files, load_file
from headwater.scheduling.automation import automation_pipelines
from headwater.store.base import StateStore
from headwater.store.records import AssetRecord, PipelineRecord

logger = logging.getLogger("headwater.scheduler")

# the ids of the ad hoc pipelines of ``headwater materialize`` and the server's action
MATERIALIZE_PREFIX = "materialize."


@dataclass(slots=True)
class _FileState:
    mtime: float
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    error: PipelineLoadError | None = None
    assets: FileDefinitions | None = None


class PipelineRegistry:
    """The pipelines defined under a folder, as of the last ``refresh``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[Path, _FileState] = {}
        self.pipelines: dict[str, Pipeline] = {}
        # the folder's assets, and the asset pipelines compiled against them
        self.catalog: AssetCatalog = build_catalog([])
        self.asset_errors: dict[Path, PipelineLoadError] = {}
        # materialize.* pipelines rebuilt for their runs, with the graph they were built on
        self._ad_hoc: dict[str, tuple[AssetGraph, AssetPipeline]] = {}

    @property
    def errors(self) -> dict[Path, PipelineLoadError]:
        return {path: state.error for path, state in self._files.items() if state.error}

    def refresh(self) -> list[PipelineLoadError]:
        """Re-read new and changed files, forget removed ones; returns the new errors."""
        found = (
            {path.resolve() for path in find_files([self.folder])}
            if self.folder.is_dir()
            else set()
        )
        new_errors = []
        changed = bool(set(self._files) - found) or not self._files
        for path in sorted(found):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            state = self._files.get(path)
            if state is not None and state.mtime == mtime:
                continue
            loaded = load_file(path)
            changed = True
            if loaded.error is not None:
                logger.error("%s", loaded.error)
                new_errors.append(loaded.error)
                kept = state.pipelines if state is not None else {}
                kept_assets = state.assets if state is not None else None
                self._files[path] = _FileState(mtime, kept, loaded.error, kept_assets)
                continue
            self._files[path] = _FileState(mtime, loaded.pipelines, assets=loaded.assets)
        for path in set(self._files) - found:
            del self._files[path]
        if not changed:
            return new_errors
        self._rebuild()
        for path, error in self.catalog.errors.items():
            if self.asset_errors.get(path) is None or str(self.asset_errors[path]) != str(error):
                logger.error("%s", error)
                new_errors.append(error)
        self.asset_errors = dict(self.catalog.errors)
        return new_errors

    def no_longer_defines(self, record: AssetRecord) -> bool:
        """Whether the folder, as last read, no longer defines this recorded asset, absent
        from the catalog: its file is under the folder and was deleted, or imported without
        it. A file that fails to import, or breaks the graph, removes nothing."""
        return self._read_without(record.definition.get("module_file") or record.source_file)

    def no_longer_defines_pipeline(self, record: PipelineRecord) -> bool:
        """The same for a recorded pipeline this registry does not have."""
        return record.pipeline_id not in self.pipelines and self._read_without(record.source_file)

    def _read_without(self, where: str | None) -> bool:
        if not where or not self.folder.is_dir():
            return False  # a folder missing (unmounted, being replaced) removes nothing
        path = Path(where).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            return False  # another folder's (another scheduler's), or an installed package's
        state = self._files.get(path)
        if state is None:
            return not path.exists()  # deleted (a module imported but never listed: kept)
        return state.error is None and path not in self.catalog.errors

    def _rebuild(self) -> None:
        pipelines: dict[str, Pipeline] = {}
        for path, state in sorted(self._files.items()):
            if state.error is not None:
                continue  # no new runs until the file imports again
            for pipeline_id, pipeline in state.pipelines.items():
                if pipeline_id in pipelines:
                    logger.error(
                        "%s: pipeline %r is also defined in %s; this one is ignored",
                        path,
                        pipeline_id,
                        pipelines[pipeline_id].source_file,
                    )
                    continue
                pipelines[pipeline_id] = pipeline
        # a file that breaks keeps its last good assets, as its pipelines, for the graph
        self.catalog = build_catalog(
            [state.assets for _, state in sorted(self._files.items()) if state.assets]
        )
        for pipeline_id, asset_pipeline in self.catalog.pipelines.items():
            if pipeline_id in pipelines:
                logger.error(
                    "%s: asset pipeline %r is also defined in %s; this one is ignored",
                    asset_pipeline.source_file,
                    pipeline_id,
                    pipelines[pipeline_id].source_file,
                )
                continue
            pipelines[pipeline_id] = asset_pipeline
        # the assets with automation= materialize through pipelines of their own
        folder = str(self.folder.resolve())
        for pipeline_id, automated in automation_pipelines(self.catalog.graph, folder).items():
            if pipeline_id in pipelines:
                logger.error(
                    "%s: pipeline %r is also the automation pipeline of asset %s; the "
                    "asset is not automated",
                    pipelines[pipeline_id].source_file,
                    pipeline_id,
                    automated.asset_keys[0],
                )
                continue
            pipelines[pipeline_id] = automated
        self.pipelines = pipelines
        self._ad_hoc = {}

    def definition(self, pipeline_id: str) -> Pipeline | None:
        """The pipeline, or its last good definition if its file is now broken."""
        if pipeline_id in self.pipelines:
            return self.pipelines[pipeline_id]
        for state in self._files.values():
            if pipeline_id in state.pipelines:
                return state.pipelines[pipeline_id]
        return None

    def resolve(self, pipeline_id: str, store: StateStore) -> Pipeline | None:
        """The pipeline, or the ad hoc ``materialize.*`` pipeline its runs were made with.

        No file defines the pipelines of ``headwater materialize`` (and the server's
        *Materialize*): one is made per set of assets. It is made again from the asset
        keys recorded with it in the store (``graph["assets"]``) and this folder's asset
        graph, so that a scheduler can drive its runs. None when the pipeline is unknown,
        or names an asset this folder no longer defines.
        """
        found = self.definition(pipeline_id)
        if found is not None or not pipeline_id.startswith(MATERIALIZE_PREFIX):
            return found
        graph = self.catalog.graph
        cached = self._ad_hoc.get(pipeline_id)
        if cached is not None and cached[0] is graph:
            return cached[1]
        rebuilt = self._materialize_pipeline(pipeline_id, store, graph)
        if rebuilt is not None:
            self._ad_hoc[pipeline_id] = (graph, rebuilt)
        return rebuilt

    def _materialize_pipeline(
        self, pipeline_id: str, store: StateStore, graph: AssetGraph
    ) -> AssetPipeline | None:
        try:
            recorded = store.get_pipeline(pipeline_id).graph.get("assets")
        except NotFoundError:
            return None
        if not isinstance(recorded, list) or not recorded:
            return None
        keys = [tuple(str(name).split("/")) for name in recorded]
        if any(key not in graph.assets for key in keys):
            return None
        try:
            pipeline = materialize_pipeline(graph, keys, source_file=str(self.folder.resolve()))
        except DefinitionError as exc:  # the assets are no longer partitioned alike
            logger.error("pipeline %s: cannot be made again: %s", pipeline_id, exc)
            return None
        return pipeline if pipeline.pipeline_id == pipeline_id else None
