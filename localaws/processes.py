"""Whether a process runs, as ``/proc`` tells it (no signal sent, no moto imported)."""

from __future__ import annotations


def running(pid: int) -> bool:
    """True while process ``pid`` runs: neither gone nor a zombie waiting to be reaped.

    A zombie has ended; only its parent (the endpoint, a fork server or the launcher)
    has still to collect its status, so it counts as gone.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")
