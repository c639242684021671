"""Probe: peak RSS of a bare interpreter (``python -m benchmarks.probes.baseline_rss``), one JSON line."""

from __future__ import annotations

import json
import sys

from benchmarks.rss import peak_rss_kb


def main(argv: list[str] | None = None) -> int:
    """Print ``{"maxrss_kb": ...}`` (no arguments)."""
    print(json.dumps({"maxrss_kb": peak_rss_kb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
