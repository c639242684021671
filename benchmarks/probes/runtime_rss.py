"""Probe: memory and time of the runtime doing one job (import, load the model, classify a clip).

``python -m benchmarks.probes.runtime_rss MODEL CLIP THREADS`` prints one JSON line: RSS at
start, after ``import``, after the model load and at the end (kB), the peak RSS, and the
seconds each step took. Nothing heavier than the standard library is imported before the
first reading.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks.rss import peak_rss_kb, rss_kb


def main(argv: list[str] | None = None) -> int:
    """Classify ``CLIP`` with ``MODEL`` on ``THREADS`` threads and print the JSON line."""
    model, clip, threads = sys.argv[1:4] if argv is None else argv
    t0 = time.perf_counter()
    start = rss_kb()
    from edge_genre.audio import load_audio
    from edge_genre.classifier import GenreClassifier

    t1, r1 = time.perf_counter(), rss_kb()
    clf = GenreClassifier(model, num_threads=int(threads))
    t2, r2 = time.perf_counter(), rss_kb()
    y = load_audio(clip, sr=clf.config.sample_rate)
    result = clf.classify(y, clf.config.sample_rate)
    t3 = time.perf_counter()
    print(json.dumps({"start_kb": start, "import_kb": r1, "load_kb": r2, "end_kb": rss_kb(), "maxrss_kb": peak_rss_kb(),
                      "import_s": t1 - t0, "load_s": t2 - t1, "classify_s": t3 - t2, "genre": result.genre,
                      "windows": len(result.windows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
