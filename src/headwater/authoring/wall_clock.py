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
"""

from __future__ import annotations

import ast
import datetime
import functools
import inspect
import re
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any

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

_CACHE_LIMIT = 4096
_LAMBDA_ATTEMPTS = 200
_cache: dict[tuple[CodeType, str], tuple[WallClockRead, ...]] = {}
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
    none: this never raises. Results are cached per code object.
    """
    function = _python_function(fn)
    if function is None:
        return []
    code = function.__code__
    key = (code, code.co_filename)  # code objects compare equal across files: add the file
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        cached = tuple(_find_reads(function))
        with _cache_lock:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[key] = cached
    return list(cached)


def _python_function(fn: object, depth: int = 0) -> FunctionType | None:
    """The Python function whose body runs when ``fn`` is called, if there is one."""
    if depth > 10:
        return None
    try:
        if isinstance(fn, functools.partial):
            return _python_function(fn.func, depth + 1)
        if isinstance(fn, MethodType | staticmethod | classmethod):
            return _python_function(fn.__func__, depth + 1)
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None and wrapped is not fn:
            return _python_function(wrapped, depth + 1)
        if isinstance(fn, FunctionType):
            return fn
        if isinstance(fn, type):
            return None  # calling a class runs its __init__: not a task body
        return _python_function(inspect.getattr_static(type(fn), "__call__", None), depth + 1)
    except Exception:  # a proxy's __getattr__ may raise anything: no body to look at
        return None


def _find_reads(function: FunctionType) -> Iterator[WallClockRead]:
    source = _parsed_source(function)
    if source is None:
        return
    lines, first_line, tree = source
    node = _function_node(tree, function)
    if node is None or _allowed(lines, _def_line(node)):
        return
    scope = _Scope(function, node)
    for call in _calls(node):
        shown = _clock_call(call, scope)
        if shown is not None and not any(
            _allowed(lines, n) for n in range(call.lineno, (call.end_lineno or call.lineno) + 1)
        ):
            yield WallClockRead(function.__code__.co_filename, first_line + call.lineno - 1, shown)


def _parsed_source(function: FunctionType) -> tuple[list[str], int, ast.Module] | None:
    """The source lines of ``function``, the file line of the first one, and their tree."""
    try:
        lines, first_line = inspect.getsourcelines(function)
    except (OSError, TypeError, IndexError):  # no file, or a file that changed under us
        return None
    first_line = max(first_line, 1)
    source = "".join(lines)
    with warnings.catch_warnings():
        # the module was compiled already: its invalid escape sequences were reported then
        warnings.simplefilter("ignore")
        for text, offset in _parse_attempts(source, function):
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            if offset:
                ast.increment_lineno(tree, offset)
            return lines, first_line, tree
    return None


def _parse_attempts(source: str, function: FunctionType) -> Iterator[tuple[str, int]]:
    """Texts to parse for the source, each with the line offset that brings it back."""
    yield textwrap.dedent(source), 0
    # a string literal less indented than the def stops dedent: nest the def instead
    yield "if True:\n" + source, -1
    if function.__code__.co_name == "<lambda>":
        # a lambda's source is the lines it is on, maybe part of a larger expression
        start = source.find("lambda")
        text = source[start:].rstrip() if start >= 0 else ""
        for _ in range(_LAMBDA_ATTEMPTS):
            if not text:
                break
            yield f"({text})", 0
            text = text[:-1].rstrip()  # cut what follows the lambda, one character at a time


def _function_node(tree: ast.Module, function: FunctionType) -> ast.AST | None:
    """The node of ``function`` in its parsed source: the def, or the lambda on its line."""
    code = function.__code__
    if code.co_name != "<lambda>":
        defs = (ast.FunctionDef, ast.AsyncFunctionDef)
        return next((node for node in ast.walk(tree) if isinstance(node, defs)), None)
    lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
    # several lambdas on the line: the one that uses the names its code uses
    names = {*code.co_names, *code.co_varnames, *code.co_freevars}
    same = (node for node in lambdas if _identifiers(node) == names)
    return next(same, lambdas[0] if lambdas else None)


def _identifiers(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.arg):
            found.add(child.arg)
    return found


def _def_line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


def _allowed(lines: list[str], line: int) -> bool:
    return 1 <= line <= len(lines) and _ALLOW.search(lines[line - 1]) is not None


def _calls(node: ast.AST) -> list[ast.Call]:
    """The calls run when the function runs (defaults too), not its decorators' or annotations.

    In the order of the source: ``ast.walk`` goes breadth first.
    """
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        roots: list[ast.AST] = [*defaults, *node.body]
    else:
        roots = [node]
    found = [c for root in roots for c in ast.walk(root) if isinstance(c, ast.Call)]
    return sorted(found, key=lambda call: (call.lineno, call.col_offset))


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
    """What the names of a function's body stand for: imports, locals, closure, globals."""

    def __init__(self, function: FunctionType, node: ast.AST) -> None:
        self.imports: dict[str, str] = {}
        self.local_names: set[str] = set()
        declared_global: set[str] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self.imports[local] = alias.name if alias.asname else local
            elif isinstance(child, ast.ImportFrom):
                for alias in child.names:
                    if child.module and not child.level and alias.name != "*":
                        self.imports[alias.asname or alias.name] = f"{child.module}.{alias.name}"
            elif isinstance(child, ast.Global):
                declared_global.update(child.names)
            elif child is not node:  # the function's own name is not one of its locals
                self.local_names.update(_bound_names(child))
        self.local_names -= declared_global
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


def _bound_names(node: ast.AST) -> Iterator[str]:
    """The names a node binds in its function (assignment targets, parameters, defs...)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        yield node.id
    elif isinstance(node, ast.arg):
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
