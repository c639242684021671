"""Probe: peak RSS of the NumPy front end alone (``python -m benchmarks.probes.front_end_rss AUDIO``).

Loads the clip, computes its MFCCs, one window's features and the streaming windows, then prints
one JSON line: ``maxrss_kb``, ``vmhwm_kb``, sizes, and which heavy modules (SciPy, librosa,
TensorFlow ...) got imported (none should).
"""

from __future__ import annotations

import json
import sys

from benchmarks.rss import ru_maxrss_kb, vmhwm_kb

HEAVY = {"scipy", "librosa", "tensorflow", "keras", "numba"}


def main(argv: list[str] | None = None) -> int:
    """``argv``: the audio file."""
    (path,) = sys.argv[1:] if argv is None else argv
    import edge_genre

    y = edge_genre.load_audio(path, sr=22050)
    feats = edge_genre.mfcc(y, 22050)
    edge_genre.window_features(y[:66150], edge_genre.FeatureConfig())
    stream = edge_genre.StreamingMFCC(edge_genre.FeatureConfig(), hop_seconds=1.0)
    n_windows = len(stream.push(y))
    heavy = sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
    # VmHWM is the peak of this process's own memory map; ru_maxrss also counts what the parent
    # had mapped when it forked us (Linux keeps the larger across fork + exec).
    print(json.dumps({"maxrss_kb": ru_maxrss_kb(), "vmhwm_kb": vmhwm_kb(), "samples": int(y.size),
                      "frames": int(feats.shape[0]), "windows": n_windows, "heavy_modules": heavy}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
