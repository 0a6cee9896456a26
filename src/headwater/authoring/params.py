"""Run params: a pipeline's declared ``params`` are their schema.

A run may override only the params its pipeline declares, and each value takes the type
of the param's default: from the command line, ``--param full_refresh=true`` gives
``True`` for a ``bool`` default, ``--param days=7`` gives ``7`` for an ``int``, and a list
or dict default reads the value as JSON. A value that does not convert is refused, and so
are NaN and the infinities, which JSON cannot hold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from headwater.errors import ConfigError

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def convert_params(
    pipeline_id: str, declared: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The params ``given`` for a run, checked against ``declared`` (name -> default).

    A value given as text (from the command line or a form) is converted to the type of
    the param's default; any other value must already have that type.

    Raises:
        ConfigError: an undeclared param, or a value that does not fit its param.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        if declared:
            known = ", ".join(sorted(declared))
            raise ConfigError(
                f"pipeline {pipeline_id!r} has no param {names}; its params are: {known}"
            )
        raise ConfigError(
            f"pipeline {pipeline_id!r} declares no params, so it takes none (got {names}); "
            "declare them with @pipeline(params={...})"
        )
    return {name: convert(pipeline_id, name, declared[name], v) for name, v in given.items()}


def convert(pipeline_id: str, name: str, default: Any, value: Any) -> Any:
    """``value`` as the type of ``default`` (see ``convert_params``)."""
    where = f"param {name!r} of pipeline {pipeline_id!r}"
    if isinstance(value, str) and not isinstance(default, str):
        value = _from_text(where, default, value)
    _check_type(where, default, value)
    _check_finite(where, value)
    return value


def _from_text(where: str, default: Any, text: str) -> Any:
    raw = text.strip()
    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(
            f"{where} must be true or false (its default is {default!r}), got {text!r}"
        )
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"{where} must be a whole number (its default is {default!r}), got {text!r}"
            ) from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(
                f"{where} must be a number (its default is {default!r}), got {text!r}"
            ) from None
    if isinstance(default, datetime):
        return _iso(where, datetime, default, raw)
    if isinstance(default, date):
        return _iso(where, date, default, raw)
    if isinstance(default, (list, dict)) or default is None:
        try:
            return json.loads(raw, parse_constant=_refuse_constant)
        except ValueError as exc:
            if default is None:
                return text  # a param without a typed default takes text as it is
            kind = "list" if isinstance(default, list) else "object"
            raise ConfigError(
                f"{where} must be a JSON {kind} such as {json.dumps(default)} ({exc}), got {text!r}"
            ) from None
    return text


def _iso(where: str, kind: type[date], default: date, raw: str) -> date:
    try:
        return kind.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"{where} must be an ISO {kind.__name__} such as {default.isoformat()}, got {raw!r}"
        ) from None


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON can hold")


def _check_type(where: str, default: Any, value: Any) -> None:
    if default is None:
        expected: tuple[type, ...] | None = None
    elif isinstance(default, bool):
        expected = (bool,)
    elif isinstance(default, int):
        expected = (int,)
    elif isinstance(default, float):
        expected = (int, float)
    elif isinstance(default, (list, tuple)):
        expected = (list, tuple)
    else:
        expected = (type(default),)
    wrong_bool = isinstance(value, bool) and not isinstance(default, bool) and default is not None
    if expected is not None and (wrong_bool or not isinstance(value, expected)):
        raise ConfigError(
            f"{where} must be a {type(default).__name__} like its default {default!r}, "
            f"got {value!r}"
        )


def _check_finite(where: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_finite(where, item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_finite(where, item)
