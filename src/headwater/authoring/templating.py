"""Jinja2 templating of shell commands and other strings: ``{{ ds }}``, ``{{ params.x }}``.

In a shell command (``render_shell``) the value of each ``{{ expression }}`` is quoted
for the shell (``shlex.quote``), so that a run's params cannot inject commands; values
made only of safe characters (dates, paths, identifiers) are left as they are. The
``unquoted`` filter opts out: ``{{ params.flags | unquoted }}`` goes in as it is. A
quoted value is one shell word wherever it stands outside quotes, even inside a larger
word (``/data/{{ ds }}.csv``); inside quotes the command writes itself, its quotes would
be added to the value, or end the command's own, so such a place is refused.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headwater.authoring.context import Context
from headwater.errors import DefinitionError

if TYPE_CHECKING:
    import jinja2


def template_variables(ctx: Context) -> dict[str, Any]:
    """The variables a template sees, named as in Airflow."""
    return {
        "ds": ctx.ds,
        "ds_nodash": ctx.ds_nodash,
        "logical_date": ctx.logical_date.isoformat(),
        "data_interval_start": ctx.data_interval_start.isoformat(),
        "data_interval_end": ctx.data_interval_end.isoformat(),
        "params": dict(ctx.params),
        "run_id": ctx.run_id,
        "pipeline_id": ctx.pipeline_id,
        "task_id": ctx.task_id,
        "try_number": ctx.try_number,
    }


class Unquoted(str):
    """A value the ``unquoted`` filter lets into a shell command as it is."""

    __slots__ = ()


def _environment(finalize: Any = None) -> jinja2.Environment:
    import jinja2  # imported on first use: most runs render nothing

    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, finalize=finalize
    )
    environment.filters["unquoted"] = Unquoted
    return environment


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(template: str, ctx: Context) -> str:
    """Render ``template`` with the run's variables, values as they are.

    For strings no shell parses: ``env`` values, ``cwd``, a file sensor's glob. An
    unknown variable is an error.
    """
    if not _is_template(template):
        return template
    return _environment().from_string(template).render(template_variables(ctx))


def render_shell(template: str, ctx: Context) -> str:
    """Render a shell command, each ``{{ ... }}`` value quoted for the shell.

    Raises:
        DefinitionError: a value stands where quoting cannot keep it one plain word
            (inside the command's own quotes, backquotes, ``${...}``, a here-document).
    """
    if not _is_template(template):
        return template
    # Each value is first rendered as a placeholder; once the whole command is known,
    # where each placeholder stands decides how its value goes in.
    nonce = secrets.token_hex(8)
    values: list[str] = []

    def finalize(value: Any) -> str:
        if isinstance(value, Unquoted):
            return str.__str__(value)
        values.append(str(value))
        return f"\x00{nonce}:{len(values) - 1}\x00"

    rendered = _environment(finalize).from_string(template).render(template_variables(ctx))
    placeholder = re.compile(f"\x00{nonce}:(\\d+)\x00")

    def expand(index: int) -> str:
        # a value may hold earlier ones, as a {% set %} block captures them
        return placeholder.sub(lambda inner: expand(int(inner[1])), values[index])

    parts: list[str] = []
    end = 0
    for match, problem in shell_placements(rendered, placeholder):
        if problem is not None:
            raise DefinitionError(_misplaced(ctx, rendered, match.start(), problem, placeholder))
        parts += [rendered[end : match.start()], shlex.quote(expand(int(match[1])))]
        end = match.end()
    return "".join(parts) + rendered[end:]


def _misplaced(
    ctx: Context, rendered: str, start: int, problem: str, placeholder: re.Pattern[str]
) -> str:
    before = placeholder.sub("…", rendered[:start])[-40:]
    return (
        f"pipeline {ctx.pipeline_id!r}, shell task {ctx.task_id!r}: a templated value "
        f"stands {problem} in the command, after {before!r}; headwater quotes each "
        "{{ ... }} value for the shell itself: write it outside quotes "
        '(echo "{{ x }}" becomes echo {{ x }}), or write {{ x | unquoted }} to quote it '
        "yourself"
    )


@dataclass(slots=True)
class _Frame:
    """A nesting level of a shell command: the top, or a ``$(``, backquote or ``${``."""

    kind: str  # "top", "$(", "`" or "${"
    quote: str = ""  # the open quote: "", "'", '"' or "$'"
    depth: int = 0  # parentheses open inside a "$(" frame


_WORD_BREAKS = frozenset(" \t\n;&|()<>")


def shell_placements(
    command: str, placeholder: re.Pattern[str]
) -> list[tuple[re.Match[str], str | None]]:
    """Each placeholder of ``command``, and where it stands if a quoted value is unsafe there.

    A small POSIX shell lexer: it follows quotes, backslashes, comments, ``$(...)``
    (whose content is quoted afresh, even inside double quotes), backquotes, ``${...}``
    and here-documents. A placeholder outside any quote and comment, at the top level or
    in a ``$(...)``, gets None: its quoted value is one word there. Anywhere else the
    reason is given; where the lexer is unsure, it errs towards refusing.
    """
    found: list[tuple[re.Match[str], str | None]] = []
    frames = [_Frame("top")]
    heredoc = False
    index, length = 0, len(command)
    word_start = True
    while index < length:
        frame = frames[-1]
        match = placeholder.match(command, index) if command[index] == "\x00" else None
        if match is not None:
            found.append((match, _problem(frames, heredoc, command, index)))
            index, word_start = match.end(), False
            continue
        char = command[index]
        if frame.quote == "'":
            frame.quote = "" if char == "'" else frame.quote
            index += 1
            continue
        if char == "\\":
            escaped = placeholder.match(command, index + 1)
            if escaped is not None:
                found.append((escaped, "right after a backslash"))
                index = escaped.end()
            else:
                index += 2
            word_start = False
            continue
        if frame.quote == "$'":
            frame.quote = "" if char == "'" else frame.quote
            index += 1
            continue
        if frame.quote == '"':
            index = _in_double_quotes(command, index, frames)
            continue
        if char == "#" and word_start:
            # a comment ends at a newline, even one inside a quoted value
            newline = command.find("\n", index)
            newline = length if newline < 0 else newline
            found += [(m, "in a comment") for m in placeholder.finditer(command, index, newline)]
            index = newline
            continue
        heredoc = heredoc or command.startswith("<<", index)
        index = _unquoted(command, index, frames)
        word_start = char in _WORD_BREAKS
    return found


def _in_double_quotes(command: str, index: int, frames: list[_Frame]) -> int:
    """Step over one character inside double quotes; returns the next index."""
    char = command[index]
    if char == '"':
        frames[-1].quote = ""
    elif command.startswith("$(", index) or command.startswith("${", index):
        frames.append(_Frame(command[index : index + 2]))
        return index + 2
    elif char == "`":
        frames.append(_Frame("`"))
    return index + 1


def _unquoted(command: str, index: int, frames: list[_Frame]) -> int:
    """Step over one character outside quotes; returns the next index."""
    frame = frames[-1]
    char = command[index]
    if char in "'\"":
        frame.quote = char
    elif command.startswith("$'", index):
        frame.quote = "$'"
        return index + 2
    elif command.startswith("$(", index) or command.startswith("${", index):
        frames.append(_Frame(command[index : index + 2]))
        return index + 2
    elif char == "`":
        if frame.kind == "`":
            frames.pop()
        else:
            frames.append(_Frame("`"))
    elif frame.kind == "$(" and char == "(":
        frame.depth += 1
    elif frame.kind == "$(" and char == ")":
        if frame.depth:
            frame.depth -= 1
        else:
            frames.pop()
    elif frame.kind == "${" and char == "}":
        frames.pop()
    return index + 1


def _problem(frames: list[_Frame], heredoc: bool, command: str, index: int) -> str | None:
    """Why a quoted value is unsafe at ``index``, or None where it is one plain word."""
    if heredoc:
        return "after a here-document (<<)"
    kinds = {frame.kind for frame in frames}
    if "`" in kinds:
        return "inside backquotes"
    if "${" in kinds:
        return "inside ${...}"
    quote = frames[-1].quote
    if quote:
        return {"'": "inside single quotes", '"': "inside double quotes"}.get(
            quote, "inside $'...' quotes"
        )
    if index > 0 and command[index - 1] == "$":
        return "right after a $"
    return None
