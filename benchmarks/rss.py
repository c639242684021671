"""Resident-memory readers shared by every benchmark script and probe (standard library only).

This module imports no NumPy, so a probe can read memory before the runtime is imported and
a script can import it before it limits its math libraries' threads.
"""

from __future__ import annotations

import resource
import sys


def _status_kb(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux), or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def ru_maxrss_kb() -> float:
    """``ru_maxrss`` of this process in kB (macOS reports bytes).

    On Linux a child's ``ru_maxrss`` keeps the high-water mark of the forked copy of its parent
    from before ``exec``: prefer :func:`peak_rss_kb`.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else peak


def vmhwm_kb() -> int | None:
    """``VmHWM``: the peak RSS of this program's own address space (Linux), or None."""
    return _status_kb("VmHWM")


def peak_rss_kb() -> float:
    """Peak RSS of this process in kB: ``VmHWM`` on Linux, ``ru_maxrss`` elsewhere."""
    hwm = vmhwm_kb()
    return ru_maxrss_kb() if hwm is None else hwm


def rss_kb() -> int | None:
    """Current RSS in kB (``VmRSS``, Linux), or None elsewhere."""
    return _status_kb("VmRSS")
