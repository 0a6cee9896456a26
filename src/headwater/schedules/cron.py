"""Cron expressions on the wall clock: checking one, and the local times it matches.

cronsim reads the expression. It is given naive local times, without a time zone, where
its iteration always moves on; the daylight-saving rules that turn local times into
instants are the timetables' (``CronTimetable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from cronsim import CronSim, CronSimError

from headwater.errors import DefinitionError, HeadwaterError

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# Any local time will do to check an expression.
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001
_TICK = timedelta(microseconds=1)
_EXPECTED = (
    "expected a cron expression of five fields (minute hour day-of-month month "
    "day-of-week) such as '0 2 * * *', or one of the presets @hourly, @daily, @weekly, "
    "@monthly, @yearly, @once"
)


def check_cron(expression: str) -> str:
    """The five-field cron expression ``expression`` stands for (presets expanded).

    Raises:
        DefinitionError: an unknown preset, or an expression cronsim rejects.
    """
    cron = PRESETS.get(expression.strip().lower(), expression.strip())
    fields = cron.split()
    if cron.startswith("@"):
        reason = "unknown preset"
    elif len(fields) != 5:
        reason = f"it has {len(fields)} field(s)"
    else:
        try:
            CronSim(cron, _EPOCH)
        except CronSimError as exc:
            reason = str(exc).lower()
        else:
            return " ".join(fields)
    raise DefinitionError(f"invalid schedule {expression!r}: {reason}; {_EXPECTED}")


def local_times_from(cron: str, start: datetime) -> Iterator[datetime]:
    """The local times (naive) that ``cron`` matches at or after ``start``, oldest first.

    Ends at the end of the range of datetimes, or when cronsim finds no match within 50
    years.
    """
    try:
        times = CronSim(cron, start - _TICK)
    except OverflowError:  # start is the first datetime there is
        if _matches(cron, start):
            yield start
        times = CronSim(cron, start)
    yield from _checked(times, cron, forward=True)


def local_times_before(cron: str, end: datetime) -> Iterator[datetime]:
    """The local times (naive) that ``cron`` matches strictly before ``end``, newest first."""
    yield from _checked(CronSim(cron, end, reverse=True), cron, forward=False)


def _checked(times: CronSim, cron: str, *, forward: bool) -> Iterator[datetime]:
    previous: datetime | None = None
    while True:
        try:
            local = next(times)
        except (StopIteration, OverflowError):
            return
        if previous is not None and (local <= previous if forward else local >= previous):
            # a sequence that stands still or turns back must fail, not loop
            raise HeadwaterError(
                f"cron {cron!r}: {local.isoformat()} does not move on from "
                f"{previous.isoformat()}; please report this bug"
            )
        previous = local
        yield local


def _matches(cron: str, local: datetime) -> bool:
    """Whether ``cron`` matches the local time ``local`` (a whole second)."""
    try:
        return next(CronSim(cron, local + timedelta(seconds=1), reverse=True), None) == local
    except OverflowError:
        return False
