"""Sensor settings (``SensorPolicy``), their validation, and the poke-interval arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from headwater.authoring.retry import check_timedelta
from headwater.errors import DefinitionError
from headwater.graph.options import (
    DEFAULT_POKE_INTERVAL,
    SensorMode,
    SensorPolicy,
)

SENSOR_OPTION_NAMES = frozenset(
    {"poke_interval", "timeout", "mode", "soft_fail", "exponential_backoff", "max_poke_interval"}
)


def resolve_sensor_policy(options: Mapping[str, Any], where: str) -> SensorPolicy:
    """Validate a sensor's settings and build its SensorPolicy.

    Raises:
        DefinitionError: naming ``where``, the setting, the value and what is expected.
    """
    unknown = sorted(set(options) - SENSOR_OPTION_NAMES)
    if unknown:
        raise DefinitionError(
            f"{where}: unknown sensor setting(s) {', '.join(map(repr, unknown))}; "
            f"known settings are {', '.join(sorted(SENSOR_OPTION_NAMES))}"
        )
    values: dict[str, Any] = {}
    for name in ("poke_interval", "timeout"):
        if name in options:
            values[name] = check_timedelta(name, options[name], where, allow_zero=False)
    if options.get("max_poke_interval") is not None:
        cap = check_timedelta(
            "max_poke_interval", options["max_poke_interval"], where, allow_zero=False
        )
        interval = values.get("poke_interval", DEFAULT_POKE_INTERVAL)
        if cap < interval:
            raise DefinitionError(
                f"{where}: max_poke_interval must be at least poke_interval ({interval}), "
                f"got {options['max_poke_interval']!r}"
            )
        values["max_poke_interval"] = cap
    if "mode" in options:
        try:
            values["mode"] = SensorMode(options["mode"])
        except ValueError:
            raise DefinitionError(
                f"{where}: mode must be 'poke' or 'reschedule', got {options['mode']!r}"
            ) from None
    for name in ("soft_fail", "exponential_backoff"):
        if name in options:
            if not isinstance(options[name], bool):
                raise DefinitionError(
                    f"{where}: {name} must be True or False, got {options[name]!r}"
                )
            values[name] = options[name]
    return SensorPolicy(**values)


def poke_delay(policy: SensorPolicy, elapsed: timedelta) -> timedelta:
    """The wait after a poke that found the condition unmet, ``elapsed`` after the first poke.

    Without backoff it is ``poke_interval``. With ``exponential_backoff`` the n-th wait is
    ``poke_interval × 2^(n-1)``: pokes at 0, 1, 3, 7, 15… intervals. The number of waits
    so far is read from ``elapsed`` (pokes on time after 0, 1, 3, 7… intervals), not
    counted, so the sequence goes on unchanged after the engine restarts. Capped by
    ``max_poke_interval``, else by the timeout.
    """
    interval = policy.poke_interval
    if not policy.exponential_backoff:
        return interval  # max_poke_interval is at least poke_interval (checked)
    delay = interval
    waits_so_far = (elapsed // interval + 1).bit_length() - 1
    cap = policy.max_poke_interval or policy.timeout
    # stop doubling at the cap: no huge numbers, however long the sensor has waited
    while waits_so_far > 0 and delay < cap:
        delay *= 2
        waits_so_far -= 1
    return min(delay, cap)


def next_poke_at(policy: SensorPolicy, first_poke: datetime, now: datetime) -> datetime | None:
    """When to poke next after an unmet poke that ended at ``now``; None once timed out.

    The last poke happens at the timeout (``first_poke + timeout``); a poke ending then
    or later that finds the condition unmet ends the wait.
    """
    deadline = first_poke + policy.timeout
    if now >= deadline:
        return None
    return min(now + poke_delay(policy, now - first_poke), deadline)


def timeout_message(
    task_id: str, policy: SensorPolicy, first_poke: datetime, pokes: int | None = None
) -> str:
    """What a sensor that ran out of time reports (its error, and its log)."""
    count = f" after {pokes} poke{'s' * (pokes != 1)}" if pokes is not None else ""
    outcome = "skipped (soft_fail)" if policy.soft_fail else "failed"
    return (
        f"sensor {task_id!r}: condition not met{count} within its timeout of "
        f"{policy.timeout} from the first poke at {first_poke.isoformat()}; {outcome}"
    )


def is_met(value: object) -> bool:
    """Whether a poke's return value says the condition holds: any truthy value does."""
    try:
        return bool(value)
    except Exception as exc:  # e.g. a DataFrame, whose truth is ambiguous
        raise TypeError(
            f"a sensor must return True or a truthy value when its condition holds and "
            f"False or None otherwise; the truth of the {type(value).__name__} it returned "
            f"is undefined ({exc})"
        ) from exc
