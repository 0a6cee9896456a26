"""A sensor inside a try: poke until its condition holds (poke mode), or once (reschedule).

In poke mode the whole wait happens in one try, sleeping on the executor's clock between
pokes, so it holds its worker (and pool) slot. In reschedule mode a try runs one poke and
the engine decides when the next one runs (see ``RunDriver``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from headwater.authoring.sensor_policy import is_met, next_poke_at, timeout_message
from headwater.clock import Clock
from headwater.errors import SensorTimeoutError
from headwater.graph.options import SensorMode, SensorPolicy


def run_sensor(
    poke: Callable[[], Any],
    policy: SensorPolicy,
    clock: Clock,
    log: logging.Logger,
    task_id: str,
) -> tuple[Any, bool]:
    """Poke as ``policy`` says; returns the last poke's value and whether it was met.

    Raises:
        SensorTimeoutError: in poke mode, the condition did not hold by the timeout
            (counted from the first poke of this try).
        Exception: whatever a poke raised, or TypeError for a value with no truth.
    """
    if policy.mode is SensorMode.RESCHEDULE:
        value = poke()
        met = is_met(value)
        log.info("condition %s", "met" if met else "not met; the sensor is rescheduled")
        return value, met
    first_poke = clock.now()
    pokes = 0
    while True:
        value = poke()
        pokes += 1
        if is_met(value):
            log.info("condition met at poke %d", pokes)
            return value, True
        now = clock.now()
        following = next_poke_at(policy, first_poke, now)
        if following is None:
            raise SensorTimeoutError(timeout_message(task_id, policy, first_poke, pokes))
        log.info("condition not met at poke %d; next poke at %s", pokes, following.isoformat())
        clock.sleep((following - now).total_seconds())
