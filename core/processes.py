"""Whether a process is still the one we started: the one place that asks the operating system.

Uses psutil so that pid reuse, zombies and platforms without ``/proc`` (macOS)
are handled alike.
"""

from __future__ import annotations

import psutil

__all__ = ["pid_alive", "process_started"]

# psutil derives create_time from boot time and clock ticks; two reads of the
# same process agree to well under this.
_SAME_START_S = 0.05


def process_started(pid: int) -> float | None:
    """The process's start time (seconds since the epoch), or None when there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def pid_alive(pid: int | None, started: float | None = None) -> bool:
    """Whether ``pid`` is a live, non-zombie process — the same one as at ``started`` when given.

    Args:
        pid: the process id; None or 0 is never alive.
        started: :func:`process_started` of the process when it was launched; a
            different start time means the pid was reused by another process.
    """
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is not None and abs(proc.create_time() - float(started)) > _SAME_START_S:
            return False
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else
    return True
