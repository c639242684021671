"""What every benchmark stage shares: constants, the thread-limited environment, timing and
latency statistics, the synthetic input audio, environment probes and the probe runner.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dsp", "inference", "e2e", "memory", "alt-pipeline", "cold-start", "accuracy", "cost", "keras")
STAT_FIELDS = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms", "n")
DEFAULT_REPEAT = 200
DEFAULT_HOP_SECONDS = 1.0
TIME_BUDGET_S = 10.0  # per latency measurement: slow references stop early (n says how many ran)
MIN_SAMPLES = 10  # ... but never before this many timed calls
SUBPROCESS_TIMEOUT_S = 300
AUTO = "auto"

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
)


def thread_env(threads: int = 1) -> dict[str, str]:
    """Environment for subprocesses: every math library limited to ``threads`` threads, quiet TF."""
    env = dict(os.environ)
    for name in THREAD_ENV_VARS:
        env[name] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_USE_LEGACY_KERAS", "1")
    env.setdefault("PYTHONHASHSEED", "0")
    # The children import edge_genre as installed; make the checkout importable as well.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@contextmanager
def runtime_blas_threads() -> Iterator[bool]:
    """The BLAS threads the runtime itself runs with (``import edge_genre`` defaults them to one:
    :mod:`edge_genre.blas`); the benchmark measures that, as users run it, and does not pin them.
    Yields whether BLAS runs single-threaded."""
    from edge_genre.blas import blas_threads

    info = blas_threads()
    pools = info.get("pools")
    if pools is not None:
        yield all(p.get("threads") == 1 for p in pools)
    else:
        yield info["env"].get("OPENBLAS_NUM_THREADS") == "1"


def empty_stats() -> dict[str, Any]:
    """A latency entry of a part that did not run: every field null, ``n`` 0."""
    return {k: (0 if k == "n" else None) for k in STAT_FIELDS}


def latency_stats(samples_s: list[float]) -> dict[str, Any]:
    """p50/p95/p99/mean/min in milliseconds of per-call durations given in seconds."""
    if not samples_s:
        return empty_stats()
    ms = np.asarray(samples_s, dtype=np.float64) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": rnd(p50), "p95_ms": rnd(p95), "p99_ms": rnd(p99), "mean_ms": rnd(ms.mean()),
            "min_ms": rnd(ms.min()), "n": int(ms.size)}


def rnd(x: float | None, digits: int = 4) -> float | None:
    """Round for JSON, keeping about 5 significant figures for small values."""
    if x is None or not np.isfinite(x):
        return None
    x = float(x)
    if x != 0 and abs(x) < 1:
        digits = max(digits, 4 - int(math.floor(math.log10(abs(x)))))
    return round(x, digits)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` rounded, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return rnd(a / b, 3)


def time_calls(fn: Callable[[int], Any], repeat: int, warmup: int, budget_s: float | None = TIME_BUDGET_S) -> list[float]:
    """Per-call wall times (s) of ``fn(i)`` for ``repeat`` calls after ``warmup`` untimed ones (GC off)."""
    for i in range(warmup):
        fn(i)
    times: list[float] = []
    gc_enabled = gc.isenabled()
    gc.disable()
    start = time.perf_counter()
    try:
        for i in range(repeat):
            t0 = time.perf_counter_ns()
            fn(warmup + i)
            times.append((time.perf_counter_ns() - t0) * 1e-9)
            if budget_s is not None and len(times) >= MIN_SAMPLES and time.perf_counter() - start > budget_s:
                break
    finally:
        if gc_enabled:
            gc.enable()
    return times


def synthetic_audio(seconds: float = 30.0, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """Deterministic music-like signal: chords changing every 0.5 s, a bass line and noise-burst drums.

    Levels are well above the classifier's silence gate, so every window is classified.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = np.zeros(n, dtype=np.float64)
    seg = int(0.5 * sr)
    for start in range(0, n, seg):
        stop = min(n, start + seg)
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        tt = t[start:stop]
        env = np.exp(-3.0 * (tt - tt[0]))
        for interval, amp in ((0, 0.20), (4, 0.12), (7, 0.10), (12, 0.06)):
            f = root * 2 ** (interval / 12)
            y[start:stop] += amp * env * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi))
        y[start:stop] += 0.15 * np.sin(2 * np.pi * root / 2 * tt)
    beat = int(0.25 * sr)  # 240 bpm eighths: hats, with kicks on quarters
    decay = np.exp(-np.arange(beat) / (0.02 * sr))
    for k, start in enumerate(range(0, n, beat)):
        stop = min(n, start + beat)
        burst = rng.standard_normal(stop - start) * decay[: stop - start] * (0.25 if k % 2 == 0 else 0.08)
        y[start:stop] += burst
    y += 0.003 * rng.standard_normal(n)
    y *= 0.5 / np.max(np.abs(y))
    return y.astype(np.float32)


def tiled(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` repeated to at least ``n`` samples (cut to ``n``)."""
    reps = -(-n // y.size)
    return np.tile(y, reps)[:n] if reps > 1 else y[:n]


def module_version(name: str) -> str | None:
    """The installed distribution's version, or None."""
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - not installed or odd metadata
        return None


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found, not imported). Stages call it as
    ``common.installed`` so that tests can pretend a package is missing."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what :mod:`platform` says."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            if line.startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def loadavg() -> float | None:
    """The 1-minute load average, or None where there is none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def mb(kb: float | None) -> float | None:
    """kB to MB (MiB), rounded; None stays None."""
    return None if kb is None else rnd(kb / 1024.0, 2)


def run_child(argv: list[str], threads: int, timeout: float = SUBPROCESS_TIMEOUT_S) -> tuple[dict | None, float, str]:
    """Run ``python ARGV`` in a fresh interpreter limited to ``threads`` threads (:func:`thread_env`),
    from a neutral directory.

    Returns (the JSON object on the last stdout line or None, wall seconds, stderr tail).
    """
    with tempfile.TemporaryDirectory() as cwd:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                                  env=thread_env(threads), cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0, f"timed out after {timeout:g} s"
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return None, wall, tail(proc.stderr)
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            return json.loads(line), wall, ""
        except json.JSONDecodeError:
            continue
    return None, wall, "no JSON on stdout: " + tail(proc.stdout)


def run_probe(name: str, args: list[str], threads: int, timeout: float = SUBPROCESS_TIMEOUT_S) -> tuple[dict | None, float, str]:
    """Run ``python -m benchmarks.probes.NAME ARGS`` (:mod:`benchmarks.probes`) as :func:`run_child` does.

    The child runs in a temporary directory: hand it absolute paths.
    """
    return run_child(["-m", f"benchmarks.probes.{name}", *args], threads, timeout)


def tail(text: str, n: int = 300) -> str:
    """The last non-blank line of ``text``, at most ``n`` characters (for error messages)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[-n:]



def progress_bar(total: int, desc: str, enabled: bool):
    """Progress on stderr (edge_genre.progress: in place on a terminal, sparse lines elsewhere)."""
    from edge_genre.progress import Progress

    return Progress(total, desc, prefix="edge-genre bench", enabled=enabled)
