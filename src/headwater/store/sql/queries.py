"""The guarded statements of the hot path, built once, and their parameters."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from headwater.store.records import FinishTry, SetState, StartTry
from headwater.store.sql.schema import task_instances, task_tries

_ti = task_instances.c
_tt = task_tries.c


def _instance_key() -> Any:
    return sa.and_(
        _ti.run_id == sa.bindparam("b_run_id"),
        _ti.task_id == sa.bindparam("b_task_id"),
        _ti.map_index == sa.bindparam("b_map_index"),
    )


# Statements built once: SQLAlchemy then computes their cache key once, not on every
# execution (a fresh ``insert()`` per call cost about 8 µs of the ~170 µs a task's
# start and end take in the store).
INSERT_INSTANCES = task_instances.insert()

INSERT_TRY = task_tries.insert()

START_INSTANCE = (
    task_instances.update()
    .where(_instance_key(), _ti.state == sa.bindparam("b_expected"))
    .values(
        state="running",
        try_number=sa.bindparam("b_try_number"),
        started_at=sa.bindparam("b_started_at"),
        ended_at=None,
        duration=None,
        next_try_at=None,
        error=None,
    )
)

# A reschedule-mode sensor's next poke: the same try goes on, keeping its start.
POKE_AGAIN_INSTANCE = (
    task_instances.update()
    .where(
        _instance_key(),
        _ti.state == sa.bindparam("b_expected"),
        _ti.try_number == sa.bindparam("b_try_number"),
    )
    .values(state="running", ended_at=None, duration=None, next_try_at=None, error=None)
)

POKE_AGAIN_TRY = (
    task_tries.update()
    .where(
        _tt.run_id == sa.bindparam("b_run_id"),
        _tt.task_id == sa.bindparam("b_task_id"),
        _tt.map_index == sa.bindparam("b_map_index"),
        _tt.try_number == sa.bindparam("b_try_number"),
        _tt.state == "up_for_reschedule",
    )
    .values(state="running", ended_at=None, duration=None, hostname=sa.bindparam("b_hostname"))
)

FINISH_TRY = (
    task_tries.update()
    .where(
        _tt.run_id == sa.bindparam("b_run_id"),
        _tt.task_id == sa.bindparam("b_task_id"),
        _tt.map_index == sa.bindparam("b_map_index"),
        _tt.try_number == sa.bindparam("b_try_number"),
        _tt.state == "running",
    )
    .values(
        state=sa.bindparam("b_try_state"),
        ended_at=sa.bindparam("b_ended_at"),
        duration=sa.bindparam("b_duration"),
        error=sa.bindparam("b_error"),
        traceback=sa.bindparam("b_traceback"),
    )
)

FINISH_INSTANCE = (
    task_instances.update()
    .where(_instance_key(), _ti.state == "running", _ti.try_number == sa.bindparam("b_try_number"))
    .values(
        state=sa.bindparam("b_instance_state"),
        ended_at=sa.bindparam("b_ended_at"),
        duration=sa.bindparam("b_duration"),
        error=sa.bindparam("b_error"),
        result=sa.bindparam("b_result"),
        result_ref=sa.bindparam("b_result_ref"),
        next_try_at=sa.bindparam("b_next_try_at"),
        max_tries=sa.func.coalesce(sa.bindparam("b_max_tries", type_=sa.Integer), _ti.max_tries),
    )
)

SET_STATE = (
    task_instances.update()
    .where(_instance_key(), _ti.state == sa.bindparam("b_expected"))
    .values(
        state=sa.bindparam("b_state"),
        error=sa.bindparam("b_error"),
        ended_at=sa.bindparam("b_ended_at"),
    )
)

CLEAR_INSTANCE = (
    task_instances.update()
    .where(_instance_key(), _ti.state == sa.bindparam("b_expected"))
    .values(
        state=sa.bindparam("b_state"),
        error=sa.bindparam("b_error"),
        ended_at=sa.bindparam("b_ended_at"),
        max_tries=sa.bindparam("b_max_tries"),
        started_at=None,
        duration=None,
        next_try_at=None,
        result=None,
        result_ref=None,
    )
)


def _key(change: StartTry | FinishTry | SetState) -> dict[str, Any]:
    return {
        "b_run_id": change.run_id,
        "b_task_id": change.task_id,
        "b_map_index": change.map_index,
    }


def start_instance_params(changes: list[StartTry]) -> list[dict[str, Any]]:
    return [
        {
            **_key(c),
            "b_expected": c.expected,
            "b_try_number": c.try_number,
            "b_started_at": c.started_at,
        }
        for c in changes
    ]


def poke_again_instance_params(changes: list[StartTry]) -> list[dict[str, Any]]:
    return [{**_key(c), "b_expected": c.expected, "b_try_number": c.try_number} for c in changes]


def poke_again_try_params(changes: list[StartTry]) -> list[dict[str, Any]]:
    return [{**_key(c), "b_try_number": c.try_number, "b_hostname": c.hostname} for c in changes]


def insert_try_params(changes: list[StartTry]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": c.run_id,
            "task_id": c.task_id,
            "map_index": c.map_index,
            "try_number": c.try_number,
            "state": "running",
            "started_at": c.started_at,
            "log_path": c.log_path,
            "hostname": c.hostname,
        }
        for c in changes
    ]


def finish_try_params(changes: list[FinishTry]) -> list[dict[str, Any]]:
    return [
        {
            **_key(c),
            "b_try_number": c.try_number,
            "b_try_state": c.try_state,
            "b_ended_at": c.ended_at,
            "b_duration": c.duration,
            "b_error": c.error,
            "b_traceback": c.traceback,
        }
        for c in changes
    ]


def finish_instance_params(changes: list[FinishTry]) -> list[dict[str, Any]]:
    return [
        {
            **_key(c),
            "b_try_number": c.try_number,
            "b_instance_state": c.instance_state,
            "b_ended_at": c.ended_at,
            "b_duration": c.duration,
            "b_error": c.error,
            "b_result": c.result,
            "b_result_ref": c.result_ref,
            "b_next_try_at": c.next_try_at,
            "b_max_tries": c.max_tries,
        }
        for c in changes
    ]


def set_state_params(changes: list[SetState]) -> list[dict[str, Any]]:
    return [
        {
            **_key(c),
            "b_expected": c.expected,
            "b_state": c.state,
            "b_error": c.error,
            "b_ended_at": c.ended_at,
            "b_max_tries": c.max_tries,
        }
        for c in changes
    ]
