"""A time limit on a block of pure computation: a schedule that loops fails the test fast."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the block if it is still running after ``seconds``.

    Uses SIGALRM (main thread only), and puts back the alarm pytest-timeout may have set.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still computing after {seconds} s: a schedule loops")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = outer - (time.monotonic() - began)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
