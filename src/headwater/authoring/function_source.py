"""A Python function's own source and syntax tree, found cheaply and never run.

For checks that read a task's code (``wall_clock.py``): the function behind a callable,
the names its code uses, its source lines and its node in the parsed source.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import operator
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import CodeType, FunctionType, MethodType

_LAMBDA_ATTEMPTS = 200

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


@dataclass(frozen=True, slots=True)
class FunctionSource:
    """A function's source lines and its node, whose line 1 is the first of the lines.

    Attributes:
        lines: the function's lines, decorators included.
        first_line: the line of the file the first of them is.
        node: the function's def (or lambda) in the parsed lines.
    """

    lines: list[str]
    first_line: int
    node: FunctionNode

    def file_line(self, line: int) -> int:
        """The line of the file that is line ``line`` of the tree."""
        return self.first_line + line - 1

    def text_of(self, line: int) -> str:
        """The text of line ``line`` of the tree ("" past its ends)."""
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""


def python_function(fn: object, depth: int = 0) -> FunctionType | None:
    """The Python function whose body runs when ``fn`` is called, if there is one.

    Partials, methods, decorated functions (``__wrapped__``) and objects with a Python
    ``__call__`` lead to it; builtins, classes and anything odd give None, never an error.
    """
    if depth > 10:
        return None
    try:
        if isinstance(fn, functools.partial):
            return python_function(fn.func, depth + 1)
        if isinstance(fn, MethodType | staticmethod | classmethod):
            return python_function(fn.__func__, depth + 1)
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None and wrapped is not fn:
            return python_function(wrapped, depth + 1)
        if isinstance(fn, FunctionType):
            return fn
        if isinstance(fn, type):
            return None  # calling a class runs its __init__: not a task body
        return python_function(inspect.getattr_static(type(fn), "__call__", None), depth + 1)
    except Exception:  # a proxy's __getattr__ may raise anything: no body to look at
        return None


def names_used(code: CodeType) -> set[str]:
    """The global and attribute names of the code and of the functions defined in it."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            names |= names_used(constant)
    return names


def file_lines(function: FunctionType) -> list[str]:
    """The lines of the function's file, as ``inspect.getsource`` reads them (linecache)."""
    filename = function.__code__.co_filename
    try:
        linecache.checkcache(filename)  # a file changed on disk is read again
        return linecache.getlines(filename, function.__globals__)
    except Exception:  # a module's own loader may raise anything: no source then
        return []


def last_line(code: CodeType, *, statement_ends: bool) -> int:
    """The last line of the code's source, nested functions included.

    The lines where instructions start are cheap to read (``co_lines``); those where
    expressions end (``co_positions``) include the closing lines of the last statement.
    Tokenizing the file, as ``inspect.getsource`` does, costs ten times more.
    """
    if statement_ends:
        lines = filter(None, map(operator.itemgetter(1), code.co_positions()))
    else:
        lines = filter(None, map(operator.itemgetter(2), code.co_lines()))
    last = max(lines, default=code.co_firstlineno)
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            last = max(last, last_line(constant, statement_ends=statement_ends))
    return last


def parse_function(function: FunctionType, lines: list[str]) -> FunctionSource | None:
    """The function's node in ``lines`` (its own lines of its file), if it can be found.

    When the lines end too early (positions without end lines, ``python -X
    no_debug_ranges``), ``inspect.getsourcelines`` gives them again by tokenizing.
    """
    code = function.__code__
    node = _node_in(lines, code)
    if node is not None:
        return FunctionSource(lines, code.co_firstlineno, node)
    try:
        lines, first_line = inspect.getsourcelines(function)
    except (OSError, TypeError, IndexError):  # no file, or a file that changed under us
        return None
    node = _node_in(lines, code)
    return None if node is None else FunctionSource(lines, max(first_line, 1), node)


def _node_in(lines: list[str], code: CodeType) -> FunctionNode | None:
    source = "".join(lines)
    with warnings.catch_warnings():
        # the module was compiled already: its invalid escape sequences were reported then
        warnings.simplefilter("ignore")
        for text, offset in _parse_attempts(source, code):
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            if offset:
                ast.increment_lineno(tree, offset)
            node = _function_node(tree, code)
            if node is not None:
                return node
    return None


def _parse_attempts(source: str, code: CodeType) -> Iterator[tuple[str, int]]:
    """Texts to parse for the source, each with the line offset that brings it back."""
    if source[:1] in (" ", "\t"):
        # an indented def (a method, a nested function) is nested as it is: textwrap.dedent
        # costs more and is stopped by a string literal less indented than the def
        yield "if True:\n" + source, -1
    yield textwrap.dedent(source), 0
    if code.co_name == "<lambda>":
        # a lambda's lines may hold only part of a larger expression: from "lambda" on,
        # cut what follows it one character at a time
        start = source.find("lambda")
        text = source[start:].rstrip() if start >= 0 else ""
        for _ in range(_LAMBDA_ATTEMPTS):
            if not text:
                break
            yield f"({text})", 0
            text = text[:-1].rstrip()


def _function_node(tree: ast.AST, code: CodeType) -> FunctionNode | None:
    """The node of ``code`` in the parsed source: the outermost def, or its lambda."""
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


def body_nodes(node: FunctionNode) -> Iterator[ast.AST]:
    """Every node run when the function runs: parameters, default values and body.

    Not its decorators nor its annotations. Depth first, without the ``ctx`` of names:
    ``ast.walk`` goes breadth first at twice the cost, and this is the hot loop.
    """
    arguments = node.args
    yield from (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
    yield from (a for a in (arguments.vararg, arguments.kwarg) if a is not None)
    defaults = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
    body = node.body if isinstance(node.body, list) else [node.body]
    todo: list[ast.AST] = [*defaults, *body][::-1]
    while todo:
        child = todo.pop()
        yield child
        for field in child._fields:
            value = getattr(child, field, None)
            if type(value) is list:
                todo.extend(item for item in reversed(value) if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST) and field != "ctx":
                todo.append(value)
