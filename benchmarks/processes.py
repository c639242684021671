"""Stages measured in fresh processes: the runtime's peak RSS, the TensorFlow + librosa pipeline's
peak RSS (both through :mod:`benchmarks.probes`) and the cold start of ``edge-genre classify``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_genre.config import FeatureConfig

from .common import SUBPROCESS_TIMEOUT_S, mb, rnd, run_child, run_probe, tail, thread_env


def bench_memory(model_path: Path, clip: Path, threads: int) -> tuple[dict[str, Any], str]:
    """Peak RSS of a fresh runtime process (import, load, classify a clip) and of a bare interpreter."""
    out, wall, err = run_probe("runtime_rss", [str(Path(model_path).resolve()), str(Path(clip).resolve()), str(threads)],
                               threads)
    base, _, _ = run_probe("baseline_rss", [], threads)
    result = {"runtime_peak_rss_mb": None, "runtime_rss_after_import_mb": None, "runtime_rss_after_load_mb": None,
              "runtime_load_rss_delta_mb": None, "runtime_wall_s": None,
              "python_baseline_rss_mb": mb(base["maxrss_kb"]) if base else None}
    if out is None:
        return result, f"runtime memory subprocess failed: {err}"
    result.update({
        "runtime_peak_rss_mb": mb(out["maxrss_kb"]),
        "runtime_rss_after_import_mb": mb(out["import_kb"]),
        "runtime_rss_after_load_mb": mb(out["load_kb"]),
        "runtime_load_rss_delta_mb": mb(out["load_kb"] - out["import_kb"]) if out["load_kb"] and out["import_kb"] else None,
        "runtime_wall_s": rnd(wall, 3),
    })
    result["_breakdown"] = out  # used for the cold-start breakdown, dropped from the output
    return result, ""


def bench_alt_pipeline(mode: str, model_path: Path, clip: Path, config: FeatureConfig, threads: int) -> tuple[dict[str, Any], str]:
    """Peak RSS and wall time of librosa.load + librosa features + (Keras predict | tf.lite float) in a fresh process."""
    # The child runs in a temporary directory: hand it absolute paths.
    out, wall, err = run_probe("alt_pipeline",
                               [mode, str(Path(model_path).resolve()), str(Path(clip).resolve()), json.dumps(config.to_dict()), str(threads)],
                               threads)
    if out is None:
        return {"alt_pipeline_peak_rss_mb": None, "alt_pipeline_wall_s": None}, f"TF + librosa pipeline failed: {err}"
    return {"alt_pipeline_peak_rss_mb": mb(out["maxrss_kb"]), "alt_pipeline_wall_s": rnd(wall, 3)}, ""


def cli_command() -> list[str]:
    """How a user starts the runtime: the ``edge-genre`` script beside this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("edge-genre")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "edge_genre.cli"]


def bench_cold_start(model_path: Path, clip: Path, threads: int, runs: int) -> tuple[dict[str, Any], str]:
    """Wall clock of ``edge-genre classify`` on a short clip, process start to exit (median of runs after one warm-up)."""
    cmd = [*cli_command(), "classify", "--model", str(model_path), "--threads", str(threads), str(clip)]
    env = thread_env(threads)
    times = []
    err = ""
    with tempfile.TemporaryDirectory() as cwd:
        for i in range(runs + 1):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=SUBPROCESS_TIMEOUT_S)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                err = f"'edge-genre classify' failed: {tail(proc.stderr)}"
                break
            if i > 0:  # the first run warms the disk cache
                times.append(dt)
    py_times = []
    for _ in range(max(1, min(runs, 3))):
        _, wall, _ = run_child(["-c", "pass"], threads)
        py_times.append(wall)
    result = {
        "cli_s": rnd(float(np.median(times)), 3) if times else None,
        "cli_min_s": rnd(min(times), 3) if times else None,
        "runs": len(times),
        "command": "edge-genre classify --model MODEL CLIP.wav (3 s clip)",
        "python_startup_s": rnd(float(np.median(py_times)), 3),
    }
    return result, err

