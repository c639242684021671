"""BLAS threads: one by default, set before NumPy loads.

The front end's matrix products (a 64 x 1025 mel matrix times a few frames) are far too small to
gain from threads: OpenBLAS's thread pool only adds wake-ups and, on a busy machine (a Pi running
other services, a desktop during training), waits for cores. ``classify`` of 100 clips took 4x
longer under load with NumPy's default pool than with one thread. ``import edge_genre`` therefore
sets the BLAS thread variables to 1 unless the user has set them (``OPENBLAS_NUM_THREADS=4
edge-genre ...`` still wins). It can only act before NumPy is first imported: a program that
imports NumPy earlier keeps its own setting (:func:`blas_threads` tells which).
"""

from __future__ import annotations

import os
import sys

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_applied: bool | None = None


def limit_blas_threads() -> bool:
    """Default every BLAS thread variable to 1 if NumPy is not loaded yet; returns whether it could."""
    global _applied
    if _applied is None:
        _applied = "numpy" not in sys.modules
        if _applied:
            for name in BLAS_THREAD_VARIABLES:
                os.environ.setdefault(name, "1")
    return _applied


def blas_threads() -> dict[str, object]:
    """What this process runs with: the variables, whether edge-genre set them, and the pools
    threadpoolctl sees (when it is installed)."""
    info: dict[str, object] = {"set_by_edge_genre": bool(_applied),
                               "env": {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return info
    info["pools"] = [{"api": p.get("internal_api"), "threads": p.get("num_threads")} for p in threadpool_info()]
    return info
