"""Task options (retries, backoff, timeout, trigger rule) and the backoff arithmetic."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from headwater.errors import DefinitionError
from headwater.graph.options import TaskOptions, TriggerRule

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
        "outlets",
        "checks",
    }
)
_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
# Ids name folders of the log tree and fill columns of 250 characters: 200 leaves room for
# a mapped instance's ".N" and keeps every path component well under 255 bytes.
MAX_ID_LENGTH = 200
# The longest wait before a retry, whatever the options: it keeps the backoff arithmetic
# and the date of the next try in range (``retry_delay`` and ``max_retry_delay`` are
# refused above it).
MAX_RETRY_DELAY = timedelta(days=365)
# The most retries, or pool slots for one try: counts stored in 32-bit integer columns.
MAX_COUNT = 1_000_000


def check_identifier(kind: str, value: object, where: str) -> str:
    """Return ``value`` if it is a valid task, pipeline, group or pool id, else raise.

    Raises:
        DefinitionError: ``value`` is not text of letters, digits, ``_``, ``.`` and ``-``
            starting with a letter or ``_``, or it is longer than ``MAX_ID_LENGTH``.
    """
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise DefinitionError(
            f"{where}: invalid {kind} {value!r}; use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    check_id_length(kind, value, where)
    return value


def check_id_length(kind: str, value: str, where: str, *, detail: str = "") -> None:
    """Raise DefinitionError if ``value`` is longer than ``MAX_ID_LENGTH`` characters."""
    if len(value) > MAX_ID_LENGTH:
        raise DefinitionError(
            f"{where}: {kind} {shortened(value)!r} is {len(value)} characters long{detail}; "
            f"ids are at most {MAX_ID_LENGTH} characters, shorten it"
        )


def shortened(text: str, width: int = 40) -> str:
    """``text``, cut to ``width`` characters with "..." when longer, for messages."""
    return text if len(text) <= width else text[: width - 3] + "..."


def check_timedelta(
    name: str,
    value: object,
    where: str,
    *,
    allow_zero: bool,
    maximum: timedelta = timedelta.max,
) -> timedelta:
    """``value`` (a timedelta or seconds) as a timedelta, else raise DefinitionError."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise DefinitionError(
            f"{where}: {name} must be a timedelta or a number of seconds, got {value!r}"
        )
    at_most = "" if maximum == timedelta.max else f" of at most {maximum.days} days"
    try:
        delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except (OverflowError, ValueError):  # inf, nan, or past timedelta's range
        raise DefinitionError(
            f"{where}: {name} must be a finite duration{at_most}, got {value!r}"
        ) from None
    if delta < timedelta(0) or (not allow_zero and delta == timedelta(0)):
        expected = "zero or more" if allow_zero else "more than zero"
        raise DefinitionError(f"{where}: {name} must be {expected}, got {value!r}")
    if delta > maximum:
        raise DefinitionError(f"{where}: {name} must be a duration{at_most}, got {value!r}")
    return delta


def _check_factor(name: str, value: object, where: str, *, minimum: float, meaning: str) -> float:
    """A finite number of at least ``minimum`` (booleans, NaN and infinity refused)."""
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int past the floats
            number = math.inf
    if not math.isfinite(number) or number < minimum:
        raise DefinitionError(f"{where}: {name} must be {meaning}, got {value!r}")
    return number


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
        if (
            isinstance(retries, bool)
            or not isinstance(retries, int)
            or not 0 <= retries <= MAX_COUNT
        ):
            raise DefinitionError(
                f"{where}: retries must be a whole number from 0 to {MAX_COUNT}, got {retries!r}"
            )
        values["retries"] = retries
    if "retry_delay" in merged:
        values["retry_delay"] = check_timedelta(
            "retry_delay", merged["retry_delay"], where, allow_zero=True, maximum=MAX_RETRY_DELAY
        )
    if "retry_backoff" in merged:
        values["retry_backoff"] = _check_factor(
            "retry_backoff",
            merged["retry_backoff"],
            where,
            minimum=1,
            meaning="a number of 1 or more (1 keeps the delay constant)",
        )
    if merged.get("max_retry_delay") is not None:
        values["max_retry_delay"] = check_timedelta(
            "max_retry_delay",
            merged["max_retry_delay"],
            where,
            allow_zero=False,
            maximum=MAX_RETRY_DELAY,
        )
    if "retry_jitter" in merged:
        jitter = merged["retry_jitter"]
        values["retry_jitter"] = _check_factor(
            "retry_jitter",
            1.0 if jitter is True else 0.0 if jitter is False or jitter is None else jitter,
            where,
            minimum=0,
            meaning="True, False or a factor of 0 or more",
        )
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
                or (name == "pool_slots" and not 1 <= number <= MAX_COUNT)
            ):
                expected = f" from 1 to {MAX_COUNT}" if name == "pool_slots" else ""
                raise DefinitionError(
                    f"{where}: {name} must be a whole number{expected}, got {number!r}"
                )
            values[name] = number
    if "allow_failure" in merged:
        allow = merged["allow_failure"]
        if not isinstance(allow, bool):
            raise DefinitionError(f"{where}: allow_failure must be True or False, got {allow!r}")
        values["allow_failure"] = allow
    if merged.get("outlets"):
        values["outlets"] = _outlets(merged["outlets"], where)
    if merged.get("checks"):
        checks = merged["checks"]
        checks = [checks] if not isinstance(checks, (list, tuple)) else checks
        if not all(callable(getattr(c, "evaluate", None)) for c in checks):
            raise DefinitionError(
                f"{where}: checks must be a list of checks such as [not_empty()], got {checks!r}"
            )
        values["checks"] = tuple(checks)
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

    ``retry_delay × retry_backoff^(try_number-1)``, capped by ``max_retry_delay`` (and by
    ``MAX_RETRY_DELAY`` in any case), plus a random extra of up to ``retry_jitter`` times
    that delay (the cap applies to the total). Any try number works, however large.
    """
    cap = MAX_RETRY_DELAY.total_seconds()
    if options.max_retry_delay is not None:
        cap = min(cap, options.max_retry_delay.total_seconds())
    seconds = capped_backoff(
        options.retry_delay.total_seconds(), options.retry_backoff, try_number - 1, cap
    )
    if options.retry_jitter:
        seconds += (rng or random).uniform(0, min(options.retry_jitter * seconds, cap))
    return timedelta(seconds=min(seconds, cap))


def capped_backoff(base: float, factor: float, exponent: int, cap: float) -> float:
    """``min(base × factor^exponent, cap)``, without computing a power that overflows.

    The power is computed only below the exponent at which it reaches the cap,
    ``log(cap / base) / log(factor)``; from there on the answer is the cap.
    """
    if base <= 0:
        return 0.0
    if base >= cap:
        return cap
    if factor <= 1 or exponent <= 0:
        return base
    if exponent >= math.log(cap / base) / math.log(factor):
        return cap
    return min(base * factor**exponent, cap)


_ASSET_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(/[A-Za-z_][A-Za-z0-9_\-]*)*$")


def _outlets(value: object, where: str) -> tuple[str, ...]:
    """Asset keys a task produces, as ``a/b`` strings (an asset's ``key`` is taken too)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise DefinitionError(f"{where}: outlets must be a list of asset keys, got {value!r}")
    keys = []
    for item in items:
        key = getattr(item, "key", item)
        if isinstance(key, (list, tuple)):
            key = "/".join(map(str, key))
        if not isinstance(key, str) or not _ASSET_KEY.match(key) or len(key) > MAX_ID_LENGTH:
            raise DefinitionError(
                f"{where}: outlet {item!r} is not an asset key such as 'sales/orders_raw'"
            )
        keys.append(key)
    return tuple(dict.fromkeys(keys))
