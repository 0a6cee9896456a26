"""The terminal the commands write to, and JSON output."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from rich.console import Console

console = Console()
error_console = Console(stderr=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def show_engine_warnings() -> None:
    """Print the engine's warnings and errors on stderr (a callback that raised, say).

    For the commands that drive runs in this process; the scheduler logs everything
    through the root logger instead.
    """
    engine_logger = logging.getLogger("headwater")
    if any(getattr(h, "headwater_cli", False) for h in engine_logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("headwater: %(levelname)s: %(message)s"))
    handler.headwater_cli = True  # type: ignore[attr-defined]  # marks ours, added once
    engine_logger.addHandler(handler)
