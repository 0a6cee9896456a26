"""When the scheduler materializes an asset by itself: on an upstream update, or on a clock.

``automation="on_upstream_update"`` materializes an asset (partition by partition) once an
asset it reads was materialized since; ``automation=cron("0 6 * * *")`` materializes it
at those times. Either way, at most once per upstream change or clock tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from headwater.errors import DefinitionError
from headwater.schedules.cron import check_cron

ON_UPSTREAM_UPDATE = "on_upstream_update"


@dataclass(frozen=True, slots=True)
class OnUpstreamUpdate:
    """Materialize when an upstream asset was materialized after this one."""

    def describe(self) -> str:
        return ON_UPSTREAM_UPDATE


@dataclass(frozen=True, slots=True)
class CronAutomation:
    """Materialize at the times of a cron expression, in a time zone."""

    expression: str
    timezone: str = "UTC"

    def describe(self) -> str:
        return f"cron({self.expression!r}, timezone={self.timezone!r})"


Automation = OnUpstreamUpdate | CronAutomation


def cron(expression: str, *, timezone: str = "UTC") -> CronAutomation:
    """An automation that materializes an asset at the times of ``expression``."""
    try:
        check_cron(expression)
    except DefinitionError as exc:
        raise DefinitionError(f"cron({expression!r}): {exc}") from None
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DefinitionError(
            f"cron({expression!r}): unknown timezone {timezone!r}; use an IANA name such as "
            "'UTC' or 'Europe/Paris'"
        ) from None
    return CronAutomation(expression, timezone)


def check_automation(value: object, where: str) -> Automation | None:
    if value is None or isinstance(value, (OnUpstreamUpdate, CronAutomation)):
        return value
    if value == ON_UPSTREAM_UPDATE:
        return OnUpstreamUpdate()
    raise DefinitionError(
        f"{where}: automation must be 'on_upstream_update' or cron('0 6 * * *'), got {value!r}"
    )
