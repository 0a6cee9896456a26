"""Task options (retries, backoff, timeout, trigger rule) and the backoff arithmetic."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from headwater.authoring.trigger_rules import TriggerRule
from headwater.errors import DefinitionError

TASK_OPTION_NAMES = frozenset(
    {
        "retries",
        "retry_delay",
        "retry_backoff",
        "max_retry_delay",
        "retry_jitter",
        "timeout",
        "trigger_rule",
        "tags",
        "pool",
        "pool_slots",
        "priority_weight",
        "on_failure",
        "on_retry",
        "on_success",
        "allow_failure",
    }
)
_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """The resolved options of one task: explicit values over pipeline defaults."""

    retries: int = 0
    retry_delay: timedelta = timedelta(seconds=30)
    retry_backoff: float = 1.0
    max_retry_delay: timedelta | None = None
    retry_jitter: float = 0.0
    timeout: timedelta | None = None
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    tags: tuple[str, ...] = field(default=())
    pool: str | None = None
    pool_slots: int = 1
    priority_weight: int = 1
    on_failure: Callable[..., Any] | None = None
    on_retry: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    allow_failure: bool = False  # its failure is recorded but does not fail the run


def check_identifier(kind: str, value: object, where: str) -> str:
    """Return ``value`` if it is a valid task or pipeline id, else raise DefinitionError."""
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise DefinitionError(
            f"{where}: invalid {kind} {value!r}; use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    return value


def check_timedelta(name: str, value: object, where: str, *, allow_zero: bool) -> timedelta:
    """``value`` (a timedelta or seconds) as a timedelta, else raise DefinitionError."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise DefinitionError(
            f"{where}: {name} must be a timedelta or a number of seconds, got {value!r}"
        )
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta < timedelta(0) or (not allow_zero and delta == timedelta(0)):
        expected = "zero or more" if allow_zero else "more than zero"
        raise DefinitionError(f"{where}: {name} must be {expected}, got {value!r}")
    return delta


def resolve_options(
    explicit: Mapping[str, Any], defaults: Mapping[str, Any], where: str
) -> TaskOptions:
    """Merge ``explicit`` over ``defaults``, validate every value and build TaskOptions.

    Raises:
        DefinitionError: naming ``where`` (the task, and the pipeline when known), the
            option, the value given and what is expected.
    """
    merged = {**defaults, **explicit}
    unknown = sorted(set(merged) - TASK_OPTION_NAMES)
    if unknown:
        raise DefinitionError(
            f"{where}: unknown task option(s) {', '.join(map(repr, unknown))}; "
            f"known options are {', '.join(sorted(TASK_OPTION_NAMES))}"
        )
    values: dict[str, Any] = {}
    if "retries" in merged:
        retries = merged["retries"]
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise DefinitionError(
                f"{where}: retries must be a whole number of 0 or more, got {retries!r}"
            )
        values["retries"] = retries
    if "retry_delay" in merged:
        values["retry_delay"] = check_timedelta(
            "retry_delay", merged["retry_delay"], where, allow_zero=True
        )
    if "retry_backoff" in merged:
        backoff = merged["retry_backoff"]
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 1:
            raise DefinitionError(
                f"{where}: retry_backoff must be a number of 1 or more "
                f"(1 keeps the delay constant), got {backoff!r}"
            )
        values["retry_backoff"] = float(backoff)
    if merged.get("max_retry_delay") is not None:
        values["max_retry_delay"] = check_timedelta(
            "max_retry_delay", merged["max_retry_delay"], where, allow_zero=False
        )
    if "retry_jitter" in merged:
        jitter = merged["retry_jitter"]
        if jitter is True:
            jitter = 1.0
        elif jitter is False or jitter is None:
            jitter = 0.0
        if not isinstance(jitter, (int, float)) or jitter < 0:
            raise DefinitionError(
                f"{where}: retry_jitter must be True, False or a factor of 0 or more, "
                f"got {merged['retry_jitter']!r}"
            )
        values["retry_jitter"] = float(jitter)
    if merged.get("timeout") is not None:
        values["timeout"] = check_timedelta("timeout", merged["timeout"], where, allow_zero=False)
    if "trigger_rule" in merged:
        rule = merged["trigger_rule"]
        try:
            values["trigger_rule"] = TriggerRule(rule)
        except ValueError:
            known = ", ".join(r.value for r in TriggerRule)
            raise DefinitionError(
                f"{where}: unknown trigger_rule {rule!r}; expected one of {known}"
            ) from None
    if "tags" in merged:
        tags = merged["tags"]
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise DefinitionError(f"{where}: tags must be a list of strings, got {tags!r}")
        values["tags"] = tuple(tags)
    if merged.get("pool") is not None:
        values["pool"] = check_identifier("pool", merged["pool"], where)
    for name in ("pool_slots", "priority_weight"):
        if name in merged:
            number = merged[name]
            if (
                isinstance(number, bool)
                or not isinstance(number, int)
                or (name == "pool_slots" and number < 1)
            ):
                raise DefinitionError(f"{where}: {name} must be a whole number, got {number!r}")
            values[name] = number
    if "allow_failure" in merged:
        allow = merged["allow_failure"]
        if not isinstance(allow, bool):
            raise DefinitionError(f"{where}: allow_failure must be True or False, got {allow!r}")
        values["allow_failure"] = allow
    for name in ("on_failure", "on_retry", "on_success"):
        callback = merged.get(name)
        if callback is not None:
            if not callable(callback):
                raise DefinitionError(f"{where}: {name} must be callable, got {callback!r}")
            values[name] = callback
    return TaskOptions(**values)


def compute_retry_delay(
    options: TaskOptions, try_number: int, rng: random.Random | None = None
) -> timedelta:
    """Delay before the try after ``try_number`` failed.

    ``retry_delay × retry_backoff^(try_number-1)``, capped by ``max_retry_delay``, plus a
    random extra of up to ``retry_jitter`` times that delay (the cap applies to the total).
    """
    seconds = options.retry_delay.total_seconds() * options.retry_backoff ** (try_number - 1)
    if options.retry_jitter:
        seconds += (rng or random).uniform(0, options.retry_jitter * seconds)
    if options.max_retry_delay is not None:
        seconds = min(seconds, options.max_retry_delay.total_seconds())
    return timedelta(seconds=seconds)
