"""Importing pipeline files: each in isolation, so one broken file never hides the others."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from headwater.assets.catalog import AssetCatalog, FileDefinitions, build_catalog
from headwater.assets.definition import find_definitions
from headwater.assets.jobs import AssetJob, materialize_pipeline
from headwater.authoring.pipeline import Pipeline
from headwater.errors import ConfigError, NotFoundError, PipelineLoadError
from headwater.graph.plan import PipelineRef
from headwater.modules import MODULE_PREFIX, import_file


@dataclass(slots=True)
class LoadedFile:
    """The pipelines a file defines, or the error that stopped its import."""

    path: Path
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    error: PipelineLoadError | None = None
    assets: FileDefinitions | None = None  # its assets, checks and asset pipelines


def pipelines_in(module: ModuleType) -> dict[str, Pipeline]:
    found: dict[str, Pipeline] = {}
    for value in vars(module).values():
        if isinstance(value, Pipeline):
            found[value.pipeline_id] = value
    return found


def asset_definitions_in(module: ModuleType, path: Path) -> FileDefinitions:
    values = list(vars(module).values())
    assets, checks = find_definitions(values)
    jobs = [value for value in values if isinstance(value, AssetJob)]
    return FileDefinitions(path=path, assets=assets, checks=checks, jobs=jobs)


def load_file(path: Path) -> LoadedFile:
    """Import one file and collect its pipelines; an error is returned, not raised."""
    loaded = LoadedFile(path=path)
    try:
        module = import_file(path)
        loaded.pipelines = pipelines_in(module)
        loaded.assets = asset_definitions_in(module, path.resolve())
    except PipelineLoadError as exc:
        loaded.error = exc
    return loaded


def catalog_of(loaded: list[LoadedFile]) -> AssetCatalog:
    """The asset graph of the files that imported, and their compiled asset pipelines."""
    definitions = [f.assets for f in loaded if f.error is None and f.assets is not None]
    return build_catalog(definitions)


def load_folder(folder: Path) -> tuple[list[LoadedFile], AssetCatalog]:
    """Import every file of ``folder`` in isolation; their assets form one graph."""
    loaded = [load_file(path) for path in find_files([folder])] if folder.is_dir() else []
    return loaded, catalog_of(loaded)


def find_files(paths: list[Path]) -> list[Path]:
    """The ``.py`` files named, or found in the folders named (sorted, no hidden ones)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*.py"))
                if not any(part.startswith((".", "__")) for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    return files


def load_pipeline(spec: str) -> Pipeline:
    """Load ``FILE[:PIPELINE]``; PIPELINE may be left out when the file defines one.

    Raises:
        PipelineLoadError: the file is missing or fails to import.
        NotFoundError: the file has no such pipeline, or several and none was named.
    """
    file_part, _, pipeline_id = spec.partition(":")
    if ":" in spec and Path(spec).is_file():  # a path that itself contains ':'
        file_part, pipeline_id = spec, ""
    path = Path(file_part)
    pipelines = pipelines_in(import_file(path))
    if pipeline_id:
        if pipeline_id not in pipelines:
            known = ", ".join(sorted(pipelines)) or "none"
            raise NotFoundError(f"{path}: no pipeline {pipeline_id!r}; the file defines: {known}")
        return pipelines[pipeline_id]
    if len(pipelines) == 1:
        return next(iter(pipelines.values()))
    if not pipelines:
        raise NotFoundError(f"{path}: defines no pipeline (no @pipeline function found)")
    raise NotFoundError(
        f"{path}: defines several pipelines ({', '.join(sorted(pipelines))}); "
        f"name one as {path}:PIPELINE"
    )


def looks_like_a_file(spec: str) -> bool:
    """Whether a pipeline spec names a file (``FILE[:PIPELINE]``) rather than an id."""
    return ":" in spec or "/" in spec or "\\" in spec or spec.endswith(".py")


def find_pipeline(spec: str, pipelines_dir: Path) -> Pipeline:
    """The pipeline ``spec`` names: ``FILE[:PIPELINE]``, or an id defined under ``pipelines_dir``.

    A spec that names an existing file, or looks like a path (it has ``/``, ``:`` or ends
    with ``.py``), is loaded with :func:`load_pipeline`. Otherwise every file of the folder
    is imported in isolation and the one pipeline with that id is returned; files that
    fail to import are skipped, and named in the error if the id is not found.

    Raises:
        PipelineLoadError: the named file is missing or fails to import.
        NotFoundError: no pipeline has that id (or the folder does not exist).
        ConfigError: several files define a pipeline with that id.
    """
    if Path(spec).is_file() or Path(spec.partition(":")[0]).is_file() or looks_like_a_file(spec):
        return load_pipeline(spec)
    if not pipelines_dir.is_dir():
        raise NotFoundError(
            f"no pipeline file or pipeline id {spec!r}: the pipelines folder "
            f"{pipelines_dir} does not exist; name a file as FILE[:PIPELINE], or the folder "
            "with --pipelines DIR or HEADWATER_PIPELINES"
        )
    found: dict[Path, Pipeline] = {}
    known: set[str] = set()
    broken: list[Path] = []
    for path in find_files([pipelines_dir]):
        loaded = load_file(path)
        if loaded.error is not None:
            broken.append(path)
        elif spec in loaded.pipelines:
            found[path] = loaded.pipelines[spec]
        known.update(loaded.pipelines)
    if len(found) == 1:
        return next(iter(found.values()))
    if found:
        raise ConfigError(
            f"pipeline id {spec!r} is defined in several files: "
            f"{', '.join(map(str, found))}; name one as FILE:{spec}"
        )
    message = (
        f"no pipeline {spec!r} in {pipelines_dir} "
        f"(pipelines there: {', '.join(sorted(known)) or 'none'})"
    )
    if broken:
        message += (
            f"; {len(broken)} file(s) failed to import and may define it: "
            f"{', '.join(map(str, broken))} (see 'headwater validate {pipelines_dir}')"
        )
    raise NotFoundError(message)


def resolve_pipeline(ref: PipelineRef) -> Pipeline:
    """Find a pipeline again in another process, from its module name or its file."""
    module = sys.modules.get(ref.module_name)
    if module is None:
        if ref.module_name.startswith(MODULE_PREFIX + ".") or ref.module_name == "__main__":
            if ref.source_file is None:
                raise NotFoundError(f"pipeline {ref.pipeline_id!r} has no source file")
            module = import_file(
                Path(ref.source_file), ref.module_name if ref.module_name != "__main__" else None
            )
        else:
            try:
                module = importlib.import_module(ref.module_name)
            except ImportError:
                if ref.source_file is None:
                    raise
                module = import_file(Path(ref.source_file), ref.module_name)
    pipelines = pipelines_in(module)
    if ref.pipeline_id not in pipelines:
        raise NotFoundError(
            f"pipeline {ref.pipeline_id!r} is no longer defined in {ref.source_file}"
        )
    return pipelines[ref.pipeline_id]


def find_recorded(
    pipeline_id: str, source_file: str, asset_keys: list[str] | None = None
) -> Pipeline | None:
    """A pipeline again from where a run recorded it: its file, or a pipelines folder.

    An asset pipeline is compiled against the assets of its file's folder; an ad hoc
    ``materialize.*`` pipeline (recorded with the folder) is made again from
    ``asset_keys``, the assets it was made for. None if it is no longer defined.
    """
    path = Path(source_file)
    if path.is_file():
        found = pipelines_in(import_file(path))
        if pipeline_id in found:
            return found[pipeline_id]
        path = path.parent
    if not path.is_dir():
        return None
    _, catalog = load_folder(path)
    if pipeline_id in catalog.pipelines:
        return catalog.pipelines[pipeline_id]
    if not asset_keys:
        return None
    keys = [tuple(name.split("/")) for name in asset_keys]
    if any(key not in catalog.graph.assets for key in keys):
        return None
    rebuilt = materialize_pipeline(catalog.graph, keys, source_file=str(path.resolve()))
    return rebuilt if rebuilt.pipeline_id == pipeline_id else None
