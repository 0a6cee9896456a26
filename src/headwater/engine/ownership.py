"""Who drives a run: owner ids of processes, and whether an owner is still alive.

A process that drives runs holds a lease on each, renewed while it works; when it dies,
its leases expire and another process may take the runs over. An owner id names the
host and the process, so that a process on the same host can tell at once that a dead
owner will never renew its lease.
"""

from __future__ import annotations

import os
import secrets
import socket

from headwater.config import DEFAULT_LEASE

__all__ = ["DEFAULT_LEASE", "new_owner_id", "owner_is_dead"]


def new_owner_id() -> str:
    """``host:pid:random``, unique to this process and this start."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` is a process of this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
