"""Probe: peak RSS of an interpreter that only imports NumPy (``python -m benchmarks.probes.numpy_rss``)."""

from __future__ import annotations

import importlib
import json
import sys

from benchmarks.rss import ru_maxrss_kb, vmhwm_kb


def main(argv: list[str] | None = None) -> int:
    """Print ``{"maxrss_kb", "vmhwm_kb"}`` after ``import numpy`` (no arguments)."""
    importlib.import_module("numpy")

    print(json.dumps({"maxrss_kb": ru_maxrss_kb(), "vmhwm_kb": vmhwm_kb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
