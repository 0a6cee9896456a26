"""Ctrl-C while a command drives runs: the first stops starting tries, the second exits.

The first Ctrl-C asks the engine to start nothing new: the tries that end within a couple
of seconds are recorded, and the command exits with 130, leaving the run to ``headwater
resume``. Tries still running then end with the process (thread tries cannot be stopped
otherwise). A second Ctrl-C exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from headwater.cli.main import EXIT_INTERRUPTED


@contextmanager
def interruptible(stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first SIGINT calls ``stop``; a second one exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    received = 0

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1:
            sys.stderr.write("headwater: interrupted again: exiting now\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        sys.stderr.write(
            "headwater: interrupted: starting no more tasks (Ctrl-C again to exit at once)\n"
        )
        stop()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_now_if_tries_still_run(left_running: int) -> None:
    """End the process at once when tries still run in it (after an interrupt).

    Waiting for them at the interpreter's exit could take as long as they do; ending the
    process ends them, and ``resume`` gives them a new try.
    """
    if left_running:
        sys.stderr.write(
            f"headwater: {left_running} running tr{'y' if left_running == 1 else 'ies'} "
            "stopped with this process\n"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
