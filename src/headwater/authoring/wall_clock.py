"""Finding the places where a task's own code reads the wall clock (``datetime.now()``...).

A task that reads the clock processes "today" whatever run it belongs to, so re-running
or backfilling a past date quietly processes the wrong data. ``headwater validate`` warns
about such calls; the run's own dates (``ctx.logical_date``, ``ctx.data_interval_start``
and ``ctx.data_interval_end``) are what the task should use.

The function's source is parsed with :mod:`ast`, never run. Names are resolved through
the imports of the function's body, its closure and its module's globals, so
``from datetime import datetime as dt; dt.now()`` is found and a local variable named
``now`` is not. A call on a line carrying ``# headwater: allow-wall-clock`` (or anywhere
in a function whose ``def`` line carries it) is left out.

It is cheap enough to run on every task of a folder of pipelines: a function whose code
uses no clock-like name (``now``, ``time``, ``today``...) or whose source calls none is
not parsed at all, only the function's own lines are parsed, and results are cached per
code object.
"""

from __future__ import annotations

import ast
import datetime
import functools
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import CodeType, FunctionType, ModuleType
from typing import Any

from headwater.authoring.function_source import (
    FunctionNode,
    FunctionSource,
    body_nodes,
    file_lines,
    last_line,
    names_used,
    parse_function,
    python_function,
)

ADVICE = (
    "use ctx.logical_date or ctx.data_interval_start/end (ctx.partition_key for assets) "
    "so that re-runs and backfills of past dates process the right data"
)
ALLOW_COMMENT = "# headwater: allow-wall-clock"

_ALLOW = re.compile(r"#\s*headwater:\s*allow-wall-clock\b")

# Calls that read the clock whatever their arguments, by the qualified name of what they call.
_ALWAYS = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "pendulum.now",
        "pendulum.today",
        "pendulum.tomorrow",
        "pendulum.yesterday",
        "pendulum.DateTime.now",
        "pendulum.DateTime.today",
        "pendulum.DateTime.utcnow",
        "pendulum.Date.today",
        "pandas.Timestamp.now",
        "pandas.Timestamp.today",
        "pandas.Timestamp.utcnow",
        "arrow.now",
        "arrow.utcnow",
        "arrow.Arrow.now",
        "arrow.Arrow.utcnow",
    }
)
# Calls that read the clock when given no time to work on (``time.localtime()``).
_WITHOUT_ARGUMENTS = frozenset({"time.localtime", "time.gmtime", "time.ctime", "time.asctime"})
# Calls that read the clock when their first argument is the string "now" or "today".
_NOW_STRINGS = frozenset({"numpy.datetime64", "pandas.Timestamp", "pandas.to_datetime"})

# Public names of the third-party objects above; their ``__module__`` is a private one.
_KNOWN_OBJECTS = (
    "pandas.Timestamp",
    "pandas.to_datetime",
    "numpy.datetime64",
    "pendulum.now",
    "pendulum.today",
    "pendulum.tomorrow",
    "pendulum.yesterday",
    "pendulum.DateTime",
    "pendulum.Date",
    "arrow.now",
    "arrow.utcnow",
    "arrow.Arrow",
)
_KNOWN_MODULES = tuple(sorted({name.split(".")[0] for name in _KNOWN_OBJECTS}))

# Nodes that bind their ``name`` in the function they are in.
_NAMED_BINDINGS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ExceptHandler,
    ast.MatchAs,
    ast.MatchStar,
)

# The last part of every name above: a function whose code uses none of them (as a name,
# an attribute, or through a global or closure value) cannot read the clock.
_CLOCK_WORDS = frozenset(
    name.rsplit(".", 1)[-1]
    for name in (*_ALWAYS, *_WITHOUT_ARGUMENTS, *_NOW_STRINGS, "time.strftime")
)

# A call of one of them, or an import (``from time import time as stamp`` in the body).
_CLOCK_TEXT = re.compile(r"\b(?:" + "|".join(sorted(_CLOCK_WORDS)) + r")\s*\)*\s*\(|\bimport\b")

# headwater's own code: src/headwater/ (this file is in src/headwater/authoring/).
_HEADWATER_FOLDER = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

_CACHE_LIMIT = 4096
# By id of the code: code objects hash (slowly) and compare by content, equal across files.
# Each entry holds its code, so that the id is not reused while the entry lives.
_cache: dict[int, tuple[CodeType, tuple[WallClockRead, ...]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class WallClockRead:
    """A call in a function's source that reads the wall clock.

    Attributes:
        file: the file the function is defined in (its code's ``co_filename``).
        line: the line of the call in that file.
        call: the call as written, ``datetime.now()``.
    """

    file: str
    line: int
    call: str


def wall_clock_reads(fn: Callable[..., Any]) -> list[WallClockRead]:
    """The calls of ``fn``'s body (nested functions and lambdas included) that read the clock.

    ``fn`` may be a function, a method, a ``functools.partial``, a decorated function (its
    ``__wrapped__`` is looked at) or an object with a ``__call__`` method. Anything whose
    source cannot be found or parsed (builtins, C functions, code made by ``exec``) has
    none, and so have headwater's own functions (the bodies of ``shell_task``,
    ``file_sensor``...): their reads are not the user's to fix. This never raises.
    Results are cached per code object.
    """
    function = python_function(fn)
    if function is None or function.__code__.co_filename.startswith(_HEADWATER_FOLDER):
        return []
    code = function.__code__
    entry = _cache.get(id(code))
    if entry is not None and entry[0] is code:
        return list(entry[1])
    reads = tuple(_find_reads(function))
    with _cache_lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[id(code)] = (code, reads)
    return list(reads)


def _find_reads(function: FunctionType) -> Iterator[WallClockRead]:
    code = function.__code__
    names = names_used(code)
    # Default values are computed by the module's code, not the function's: always parsed.
    certain = bool(function.__defaults__ or function.__kwdefaults__)
    certain = certain or _has_clock_alias(function, names)
    if not certain and names.isdisjoint(_CLOCK_WORDS):
        return  # no clock-like name in the code: no need for its source
    lines = file_lines(function)
    first = code.co_firstlineno
    if not 1 <= first <= len(lines):
        return  # no source: a builtin, code made by exec, a file gone or changed
    if not certain:
        text = "".join(lines[first - 1 : last_line(code, statement_ends=False)])
        if _CLOCK_TEXT.search(text) is None:
            return  # ``time.perf_counter()``: the names are there, no clock-like call
    source = parse_function(function, lines[first - 1 : last_line(code, statement_ends=True)])
    if source is None or _allowed(source, source.node.lineno):
        return
    scope = _Scope(function, source.node)
    for call in scope.calls:
        shown = _clock_call(call, scope)
        lines_of_call = range(call.lineno, (call.end_lineno or call.lineno) + 1)
        if shown is not None and not any(_allowed(source, line) for line in lines_of_call):
            yield WallClockRead(code.co_filename, source.file_line(call.lineno), shown)


def _has_clock_alias(function: FunctionType, names: set[str]) -> bool:
    """Whether a global or closure name stands for a clock function under another name.

    ``from time import time as stamp``: the code says ``stamp``, its value says ``time.time``.
    """
    closure = _closure_values(function)
    for name in names | closure.keys():
        value = closure[name] if name in closure else function.__globals__.get(name)
        if value is None or isinstance(value, ModuleType):
            continue  # a module is not called: ``time.sleep`` is not ``time.time``
        qualified = _qualified_name_of(value)
        if qualified is not None and qualified.rsplit(".", 1)[-1] in _CLOCK_WORDS:
            return True
    return False


def _allowed(source: FunctionSource, line: int) -> bool:
    """Whether the line of the tree carries ``# headwater: allow-wall-clock``."""
    return _ALLOW.search(source.text_of(line)) is not None


def _clock_call(call: ast.Call, scope: _Scope) -> str | None:
    """How the call is written when it reads the clock, else None."""
    name = _qualified_name(call.func, scope)
    if name is None or not _reads_clock(name, call):
        return None
    shown = ast.unparse(call)
    return shown if len(shown) <= 60 else ast.unparse(call.func) + "(...)"


def _reads_clock(name: str, call: ast.Call) -> bool:
    """Whether calling ``name`` (a qualified name) with the call's arguments reads the clock."""
    if name in _ALWAYS:
        return True
    if name in _WITHOUT_ARGUMENTS:
        return not call.args and not call.keywords
    if name == "time.strftime":  # strftime(format) formats the current time
        return len(call.args) == 1 and not call.keywords
    if name in _NOW_STRINGS and call.args:
        first = call.args[0]
        return (
            isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and first.value.lower() in {"now", "today"}
        )
    return False


def _qualified_name(expression: ast.expr, scope: _Scope) -> str | None:
    """``datetime.datetime.now`` for ``dt.now`` when ``dt`` is ``datetime.datetime``."""
    attributes: list[str] = []
    while isinstance(expression, ast.Attribute):
        attributes.append(expression.attr)
        expression = expression.value
    if not isinstance(expression, ast.Name):
        return None
    root = scope.resolve(expression.id)
    if root is None:
        return None
    return ".".join([root, *reversed(attributes)])


class _Scope:
    """The calls of a function's body, and what its names stand for.

    Names: imports of the body first, then its locals (never resolved), its closure and
    its module's globals. Calls: those of the body and default values, in the order of
    the source, not those of its decorators or annotations.
    """

    def __init__(self, function: FunctionType, node: FunctionNode) -> None:
        self.imports: dict[str, str] = {}
        self.local_names: set[str] = set()
        self.calls: list[ast.Call] = []
        declared_global: set[str] = set()
        for child in body_nodes(node):
            if isinstance(child, ast.Call):
                self.calls.append(child)
            elif isinstance(child, ast.Name):
                if not isinstance(child.ctx, ast.Load):
                    self.local_names.add(child.id)
            elif isinstance(child, ast.Import | ast.ImportFrom):
                self.imports.update(_imported_names(child))
            elif isinstance(child, ast.Global):
                declared_global.update(child.names)
            else:
                self.local_names.update(_bound_names(child))
        self.local_names -= declared_global
        self.calls.sort(key=lambda call: (call.lineno, call.col_offset))
        self.closure = _closure_values(function)
        self.globals = function.__globals__

    def resolve(self, name: str) -> str | None:
        """The qualified name ``name`` stands for, or None for a local or unknown one."""
        if name in self.imports:
            return self.imports[name]
        if name in self.local_names:
            return None
        if name in self.closure:
            return _qualified_name_of(self.closure[name])
        if name in self.globals:
            return _qualified_name_of(self.globals[name])
        return None


def _imported_names(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """``(local name, qualified name)`` for each name an import binds."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                yield alias.asname, alias.name
            else:
                yield alias.name.split(".")[0], alias.name.split(".")[0]
    elif node.module and not node.level:  # a relative import is not followed
        for alias in node.names:
            if alias.name != "*":
                yield alias.asname or alias.name, f"{node.module}.{alias.name}"


def _bound_names(node: ast.AST) -> Iterator[str]:
    """The names a node other than a name binds in its function (parameters, defs...)."""
    if isinstance(node, ast.arg):
        yield node.arg
    elif isinstance(node, _NAMED_BINDINGS) and node.name:
        yield node.name


def _closure_values(function: FunctionType) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or (), strict=False):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
    return values


def _qualified_name_of(value: object) -> str | None:
    """``datetime.datetime`` for the class, ``pandas`` for the module, ``time.time``..."""
    try:
        if isinstance(value, ModuleType):
            return value.__name__
        known = _known_objects().get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        if isinstance(value, type) and issubclass(value, datetime.date):
            return "datetime.datetime" if issubclass(value, datetime.datetime) else "datetime.date"
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
    except Exception:  # a proxy object's attributes may raise anything: not a clock
        return None
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return None


def _known_objects() -> dict[int, tuple[object, str]]:
    """The third-party objects of ``_KNOWN_OBJECTS`` by id, of the modules already imported.

    Never imports a module: a function can only refer to objects of imported modules.
    """
    loaded = tuple(name for name in _KNOWN_MODULES if name in sys.modules)
    return _known_objects_of(loaded)


@functools.cache
def _known_objects_of(loaded: tuple[str, ...]) -> dict[int, tuple[object, str]]:
    found: dict[int, tuple[object, str]] = {}
    for name in _KNOWN_OBJECTS:
        module_name, _, attribute = name.partition(".")
        if module_name not in loaded:
            continue
        value = getattr(sys.modules[module_name], attribute, None)
        if value is not None:
            found[id(value)] = (value, name)
    return found
