"""Importing a Python file as a module under a stable name, the same in every process.

The loader imports pipeline files this way, and a worker process finds an asset's
function again the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from headwater.errors import PipelineLoadError

MODULE_PREFIX = "headwater_pipelines"


def module_name_for(path: Path) -> str:
    """A stable module name for a pipeline file, the same in every process."""
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", resolved.stem)
    return f"{MODULE_PREFIX}.{stem}_{digest}"


def _error_line(exc: BaseException, path: Path) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if Path(frame.f_code.co_filename).resolve() == path:
            line = lineno
    return line


def import_file(path: Path, module_name: str | None = None) -> ModuleType:
    """Import ``path`` as a module; its folder goes on ``sys.path`` for its own imports.

    Raises:
        PipelineLoadError: with the file, the line and the original error chained.
    """
    path = path.resolve()
    if not path.is_file():
        raise PipelineLoadError(f"{path}: no such pipeline file", path=str(path))
    name = module_name or module_name_for(path)
    if MODULE_PREFIX not in sys.modules:
        sys.modules[MODULE_PREFIX] = ModuleType(MODULE_PREFIX)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineLoadError(f"{path}: cannot be imported as a Python module", path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        line = _error_line(exc, path)
        where = f"{path}:{line}" if line else str(path)
        raise PipelineLoadError(
            f"{where}: {type(exc).__name__}: {exc}", path=str(path), line=line
        ) from exc
    return module
