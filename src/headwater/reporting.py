"""The run document: a run, its tasks and their tries, as JSON-ready values.

``headwater run --json``, ``headwater runs show --json`` (and the REST API) print this
document; the tables of the command line are drawn from it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from headwater.engine.run_state import label
from headwater.store.records import BackfillRecord, RunRecord, TaskInstanceRecord, TryRecord

# states a task instance reaches without a try of its own: it shows no tries
DECIDED_WITHOUT_A_TRY = frozenset({"none", "skipped", "upstream_failed"})


def iso_or_none(moment: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime, for JSON output; None stays None."""
    return moment.isoformat() if moment is not None else None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 6)


def try_json(attempt: TryRecord) -> dict[str, Any]:
    return {
        "try": attempt.try_number,
        "state": attempt.state,
        "started_at": iso_or_none(attempt.started_at),
        "ended_at": iso_or_none(attempt.ended_at),
        "duration": attempt.duration,
        "error": attempt.error,
    }


def tries_shown(instance: TaskInstanceRecord) -> int:
    """The tries a task instance shows: none when its state was decided without one.

    A task skipped in this attempt of a run shows no tries, even if it ran in an
    earlier attempt (its tries stay in its history).
    """
    if instance.state in DECIDED_WITHOUT_A_TRY and instance.started_at is None:
        return 0
    return instance.try_number


def task_json(instance: TaskInstanceRecord, history: Sequence[TryRecord]) -> dict[str, Any]:
    return {
        "state": instance.state,
        "tries": tries_shown(instance),
        "started_at": iso_or_none(instance.started_at),
        "ended_at": iso_or_none(instance.ended_at),
        "duration": instance.duration,
        "next_try_at": iso_or_none(instance.next_try_at),
        "error": instance.error,
        "history": [try_json(attempt) for attempt in history],
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    """A run without its tasks (``runs list``)."""
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline_id,
        "state": run.state,
        "logical_date": iso_or_none(run.logical_date),
        "data_interval_start": iso_or_none(run.data_interval_start),
        "data_interval_end": iso_or_none(run.data_interval_end),
        "run_type": run.run_type,
        "triggered_by": run.triggered_by,
        "params": run.params,
        "created_at": iso_or_none(run.created_at),
        "started_at": iso_or_none(run.started_at),
        "ended_at": iso_or_none(run.ended_at),
        "duration": seconds_between(run.started_at, run.ended_at),
        "note": run.note,
        "cancel_requested_at": iso_or_none(run.cancel_requested_at),
    }


def run_document(
    run: RunRecord, instances: Sequence[TaskInstanceRecord], tries: Sequence[TryRecord]
) -> dict[str, Any]:
    """The run and each task instance with its try history, oldest try first."""
    history: dict[tuple[str, int], list[TryRecord]] = {}
    for attempt in tries:
        history.setdefault((attempt.task_id, attempt.map_index), []).append(attempt)
    return {
        **run_json(run),
        "tasks": {
            label(ti.task_id, ti.map_index): task_json(
                ti, history.get((ti.task_id, ti.map_index), [])
            )
            for ti in instances
        },
    }


def backfill_json(record: BackfillRecord) -> dict[str, object]:
    """A backfill as `backfills list --json` and the API show it."""
    return {
        "backfill_id": record.backfill_id,
        "pipeline": record.pipeline_id,
        "state": record.state,
        "start_date": record.start_date.isoformat(),
        "end_date": record.end_date.isoformat(),
        "max_active_runs": record.max_active_runs,
        "reprocess": record.reprocess,
        "reverse": record.reverse,
        "created_at": record.created_at.isoformat(),
        "ended_at": None if record.ended_at is None else record.ended_at.isoformat(),
        # a backfill of asset partitions: its assets and partitions (None for intervals)
        "assets": None if record.asset_selection is None else list(record.asset_selection),
        "partitions": None if record.partitions is None else list(record.partitions),
    }
