"""Probe: float32 matmul GFLOP/s of this interpreter's NumPy (``python -m benchmarks.probes.matmul_peak N REPS``).

Best of ``REPS`` ``N x N`` products after two warm-up ones; prints ``{"gflops": ...}``.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Time the matmuls and print the JSON line."""
    import numpy as np

    n, reps = (int(a) for a in (sys.argv[1:3] if argv is None else argv))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    np.matmul(a, b, out=c)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"gflops": 2 * n ** 3 / best / 1e9}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
