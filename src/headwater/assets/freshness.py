"""Whether a column's newest value is fresh, and the sentence that says so.

Fresh means inside a partition's time window, or at most a maximum age before a
reference moment (the window's end, or now). A date is a day in the partitions' time
zone. The verdicts have the form a check function returns: a dict with ``passed``,
``description`` and ``metadata``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def judge_window(
    column: str, newest: date, *, window: tuple[datetime, datetime], zone: ZoneInfo, where: str
) -> dict[str, Any]:
    """Whether ``newest`` falls in ``window`` (aware, ``[start, end)``).

    A datetime must be inside the window; a date must be one of the days the window
    touches in ``zone``. ``where`` names the window for people ("partition 2026-11-24").
    """
    start, end = window
    if isinstance(newest, datetime):
        inside = start <= newest < end
        shown = format_instant(newest, zone)
    else:
        last_day = (end.astimezone(zone) - timedelta(microseconds=1)).date()
        inside = start.astimezone(zone).date() <= newest <= last_day
        shown = newest.isoformat()
    covers = window_text(start, end, zone)
    metadata = {"newest": newest, "window_start": start, "window_end": end}
    if inside:
        text = f"newest {column} {shown} falls in {where} ({covers})"
    else:
        text = f"newest {column} is {shown}, but {where} covers {covers}"
    return {"passed": inside, "description": text, "metadata": metadata}


def judge_age(
    column: str,
    newest: date,
    max_age: timedelta,
    *,
    reference: datetime,
    against: str,
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Whether ``newest`` is at most ``max_age`` before ``reference`` (aware).

    A date counts as its last moment, the start of the next day in ``zone``: data of
    yesterday is a day old at midnight. ``against`` names the reference ("now").
    """
    if isinstance(newest, datetime):
        moment, shown = newest, format_instant(newest, zone)
    else:
        next_day = datetime.combine(newest + timedelta(days=1), time(), tzinfo=zone)
        moment, shown = next_day.astimezone(UTC), newest.isoformat()
    against = f"{against} ({format_instant(reference, zone)})"
    lag = reference - moment
    passed = lag <= max_age
    if passed:
        text = f"newest {column} {shown} is within {format_duration(max_age)} of {against}"
    else:
        text = (
            f"newest {column} is {shown}, {format_duration(lag)} before {against}; "
            f"the limit is {format_duration(max_age)}"
        )
    metadata = {"newest": newest, "oldest_allowed": reference - max_age, "max_age": max_age}
    return {"passed": passed, "description": text, "metadata": metadata}


def window_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A window for people: "2026-11-24 (UTC)", "2026-11-01 to 2026-11-30 (Europe/Paris)",
    "2026-11-24 05:00 to 2026-11-24 06:00 (UTC)"."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    name = getattr(zone, "key", None) or str(zone)
    if local_start.time() == local_end.time() == time():
        first, last = local_start.date(), local_end.date() - timedelta(days=1)
        days = first.isoformat() if first == last else f"{first} to {last}"
        return f"{days} ({name})"
    return f"{local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M} ({name})"


def format_duration(duration: timedelta) -> str:
    """``duration`` for people, to two units: "26 hours", "1 day 2 hours", "90 seconds"."""
    seconds = int(abs(duration).total_seconds())
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    if days == 0 and hours == 0 and minutes < 2:
        minutes, seconds = 0, minutes * 60 + seconds
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second")]
    shown = [f"{count} {unit}{'s' if count != 1 else ''}" for count, unit in parts if count]
    return " ".join(shown[:2]) or "0 seconds"


def format_instant(moment: datetime, zone: ZoneInfo) -> str:
    """``moment`` (aware) for people, in ``zone``: "2026-11-24 06:00:00+01:00"."""
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")
