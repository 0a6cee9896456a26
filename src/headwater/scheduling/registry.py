"""PipelineRegistry: the pipelines of a folder, re-read when their files change.

A file that fails to import is reported once per change and skipped; the pipelines of
the other files are unaffected. A pipeline whose file breaks keeps its last good
definition for the runs already in flight, but gets no new runs until it is fixed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from headwater.authoring.pipeline import Pipeline
from headwater.errors import PipelineLoadError
from headwater.loader import find_files, load_file

logger = logging.getLogger("headwater.scheduler")


@dataclass(slots=True)
class _FileState:
    mtime: float
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    error: PipelineLoadError | None = None


class PipelineRegistry:
    """The pipelines defined under a folder, as of the last ``refresh``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[Path, _FileState] = {}
        self.pipelines: dict[str, Pipeline] = {}

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
        for path in sorted(found):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            state = self._files.get(path)
            if state is not None and state.mtime == mtime:
                continue
            loaded = load_file(path)
            if loaded.error is not None:
                logger.error("%s", loaded.error)
                new_errors.append(loaded.error)
                kept = state.pipelines if state is not None else {}
                self._files[path] = _FileState(mtime, kept, loaded.error)
                continue
            self._files[path] = _FileState(mtime, loaded.pipelines)
        for path in set(self._files) - found:
            del self._files[path]
        self._rebuild()
        return new_errors

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
        self.pipelines = pipelines

    def definition(self, pipeline_id: str) -> Pipeline | None:
        """The pipeline, or its last good definition if its file is now broken."""
        if pipeline_id in self.pipelines:
            return self.pipelines[pipeline_id]
        for state in self._files.values():
            if pipeline_id in state.pipelines:
                return state.pipelines[pipeline_id]
        return None
