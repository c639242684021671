"""Latency, memory, size, cold start, accuracy and cost model of the edge-genre runtime.

One call of :func:`run_benchmark` measures, on the same input audio:

- **DSP**: edge_genre's MFCC per 3-s window (batch) and per hop (streaming),
  against librosa and python_speech_features when installed.
- **Inference**: the int8 and float TFLite models through
  :class:`~edge_genre.classifier.GenreClassifier`, and a Keras model when one
  is given and TensorFlow is installed.
- **End to end**: audio chunk in -> genre out (``StreamingMFCC.push`` +
  ``classify_window``) per hop, and the real-time factor.
- **Memory**: peak RSS of a fresh runtime process that loads the model and
  classifies a clip, and of the TensorFlow + librosa pipeline doing the same
  job (both measured in subprocesses); model file sizes; tensor memory.
- **Cold start**: wall clock from process start to the first result of
  ``edge-genre classify`` on a 3-s clip.
- **Accuracy** of int8 vs float vs Keras on the held-out clips of a GTZAN
  directory (the model's ``held_out_clips`` metadata).
- **Cost model**: MACs per window from the TFLite graph, FFT/mel/DCT
  operations per window, and the achieved fraction of a measured float32
  matmul peak on the same core(s).

The result is a JSON-serialisable dict whose keys are documented in
``benchmarks/BENCH_KEYS.md``; every documented key is always present (``null``
when that part was skipped; ``notes`` says why). :func:`format_text`,
:func:`format_markdown` and :func:`write_plot` render it.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from edge_genre.config import FeatureConfig
from edge_genre.errors import AudioError, EdgeGenreError, ModelError
from edge_genre.model_io import FLOAT_REFERENCES

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

# Targets shown beside the figures (not asserted). name -> (description, unit).
TARGETS = {
    "e2e_int8_per_hop": ("int8 end to end per hop (p50) <= 2 ms", "ms"),
    "runtime_peak_rss": ("runtime peak RSS <= 50 MB", "MB"),
    "rss_vs_tf_pipeline": ("TF + librosa pipeline RSS / runtime RSS >= 10x", "x"),
    "cold_start": ("cold start to first result <= 0.5 s", "s"),
    "int8_accuracy_drop": ("int8 window accuracy within 1 pp of float", "pp"),
    "int8_faster_than_float": ("int8 inference faster than float TFLite (p50)", "x"),
    "int8_model_size": ("int8 model <= 200 kB", "kB"),
}
E2E_TARGET_MS = 2.0
RSS_TARGET_MB = 50.0
RSS_RATIO_TARGET = 10.0
COLD_START_TARGET_S = 0.5
ACCURACY_DROP_TARGET_PP = 1.0
SIZE_TARGET_BYTES = 200_000

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
)


# --------------------------------------------------------------------------- helpers


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
    return {k: (0 if k == "n" else None) for k in STAT_FIELDS}


def latency_stats(samples_s: list[float]) -> dict[str, Any]:
    """p50/p95/p99/mean/min in milliseconds of per-call durations given in seconds."""
    if not samples_s:
        return empty_stats()
    ms = np.asarray(samples_s, dtype=np.float64) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": _r(p50), "p95_ms": _r(p95), "p99_ms": _r(p99), "mean_ms": _r(ms.mean()),
            "min_ms": _r(ms.min()), "n": int(ms.size)}


def _r(x: float | None, digits: int = 4) -> float | None:
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
    return _r(a / b, 3)


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


def _module_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - not installed or odd metadata
        return None


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            if line.startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _mb(kb: float | None) -> float | None:
    return None if kb is None else _r(kb / 1024.0, 2)


def run_python(code: str, args: list[str], threads: int, timeout: float = SUBPROCESS_TIMEOUT_S) -> tuple[dict | None, float, str]:
    """Run ``python -c code args`` in a fresh single-threaded interpreter from a neutral directory.

    Returns (the JSON object on the last stdout line or None, wall seconds, stderr tail).
    """
    with tempfile.TemporaryDirectory() as cwd:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                                  env=thread_env(threads), cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0, f"timed out after {timeout:g} s"
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return None, wall, _tail(proc.stderr)
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            return json.loads(line), wall, ""
        except json.JSONDecodeError:
            continue
    return None, wall, "no JSON on stdout: " + _tail(proc.stdout)


def _tail(text: str, n: int = 300) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[-n:]


# --------------------------------------------------------------------------- models


def resolve_float_model(model: str | os.PathLike, float_model: str | os.PathLike | None) -> str | None:
    """The float reference model: given, or the shipped int8 model's float twin, or the ``*_float`` sibling."""
    if float_model not in (None, AUTO):
        return str(float_model)
    if str(model) in FLOAT_REFERENCES:
        return FLOAT_REFERENCES[str(model)]
    path = Path(str(model))
    if "int8" in path.name:
        sibling = path.with_name(path.name[::-1].replace("8tni", "taolf", 1)[::-1])
        if sibling.is_file():
            return str(sibling)
    return None


def resolve_keras_model(path: str | os.PathLike) -> Path:
    """A ``model.keras`` file, or a training run directory holding one, as an absolute path.

    Absolute because the TF + librosa pipeline loads it in a child process started elsewhere.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if not path.is_file():
        raise ModelError(f"{path}: no Keras model (give a model.keras file or a training run directory)")
    return path.resolve()


def load_keras(path: Path, threads: int) -> tuple[Any, Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]:
    """Load a Keras model with tf-keras (Keras 2, as training uses); returns (model, predict_on_batch, graph call)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised in this process
        pass
    try:
        import tf_keras as keras
    except ImportError:
        keras = tf.keras
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types
        raise ModelError(f"{path}: cannot load the Keras model ({type(exc).__name__}: {_tail(str(exc), 200)})") from None
    graph = tf.function(lambda x: model(x, training=False))
    return model, model.predict_on_batch, graph




def constant_and_variable_tensors(path: Path) -> tuple[set[int], set[int]]:
    """Indices of the first subgraph's tensors stored in the file (weights) and its variable tensors."""
    from edge_genre.model_io import (BUFFER_DATA, BUFFER_OFFSET, MODEL_BUFFERS, MODEL_SUBGRAPHS, SUBGRAPH_TENSORS,
                                     TENSOR_BUFFER, TENSOR_IS_VARIABLE, FlatbufferTable)

    data = Path(path).read_bytes()
    root = FlatbufferTable.root(data)
    buffers = root.table_vector(MODEL_BUFFERS)
    subgraphs = root.table_vector(MODEL_SUBGRAPHS)
    consts, variables = set(), set()
    if not subgraphs:
        return consts, variables
    for i, tensor in enumerate(subgraphs[0].table_vector(SUBGRAPH_TENSORS)):
        b = tensor.uint32(TENSOR_BUFFER)
        if 0 < b < len(buffers):
            buf = buffers[b]
            has_data = buf.vector(BUFFER_DATA)[1] > 0
            offset_at = buf.field(BUFFER_OFFSET)
            has_offset = offset_at is not None and struct.unpack_from("<Q", data, offset_at)[0] > 1
            if has_data or has_offset:
                consts.add(i)
        flag_at = tensor.field(TENSOR_IS_VARIABLE)
        if flag_at is not None and data[flag_at]:
            variables.add(i)
    return consts, variables


def _ops(interpreter) -> list[dict]:
    """The model's own ops in graph order (delegate kernels, which replace some of them, left out)."""
    from edge_genre.model_io import op_details

    return [d for d in op_details(interpreter) if d["op_name"] != "DELEGATE"]


def model_graph_stats(interpreter, path: Path) -> dict[str, Any]:
    """MACs per window (conv, fully connected, LSTM gate matmuls) and tensor memory of an allocated interpreter."""
    tensors = {}
    for t in interpreter.get_tensor_details():
        shape = tuple(int(d) for d in t["shape"])
        tensors[int(t["index"])] = (shape, int(np.prod(shape, dtype=np.int64)) * np.dtype(t["dtype"]).itemsize)
    try:
        consts, variables = constant_and_variable_tensors(path)
    except (struct.error, IndexError, ValueError):
        consts, variables = set(), set()
    ops = _ops(interpreter)

    def shape(i: int) -> tuple[int, ...]:
        return tensors.get(int(i), ((), 0))[0]

    macs_by_op: dict[str, int] = {}
    other_elements = 0
    for op in ops:
        name, ins, outs = op["op_name"], [int(i) for i in op["inputs"]], [int(i) for i in op["outputs"]]
        out = shape(outs[0]) if outs else ()
        macs = 0
        if name == "CONV_2D" and len(ins) > 1:
            _, kh, kw, cin = shape(ins[1])
            macs = int(np.prod(out, dtype=np.int64)) * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D" and len(ins) > 1:
            _, kh, kw, _ = shape(ins[1])
            macs = int(np.prod(out, dtype=np.int64)) * kh * kw
        elif name == "FULLY_CONNECTED" and len(ins) > 1:
            units, n_in = shape(ins[1])
            rows = int(np.prod(shape(ins[0]), dtype=np.int64)) // max(n_in, 1)
            macs = rows * units * n_in
        elif name in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM",
                      "UNIDIRECTIONAL_SEQUENCE_RNN", "SEQUENCE_RNN", "RNN"):
            steps = int(np.prod(shape(ins[0])[:-1], dtype=np.int64)) or 1
            # Every 2-D constant operand is a gate (input, recurrent or projection) weight matrix.
            macs = steps * sum(int(np.prod(shape(i))) for i in ins[1:] if i >= 0 and i in consts and len(shape(i)) == 2)
        elif name == "BATCH_MATMUL" and len(ins) > 1:
            macs = int(np.prod(out, dtype=np.int64)) * shape(ins[0])[-1]
        else:
            other_elements += int(np.prod(out, dtype=np.int64)) if out else 0
        if macs:
            macs_by_op[name] = macs_by_op.get(name, 0) + macs

    # Tensor memory: weights (in the file), variable state, activations (all, and the peak of live ones).
    inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    outputs = {int(d["index"]) for d in interpreter.get_output_details()}
    first, last = {}, {}
    for pos, op in enumerate(ops):
        for i in op["outputs"]:
            first.setdefault(int(i), pos)
            last[int(i)] = max(last.get(int(i), pos), pos)
        for i in op["inputs"]:
            i = int(i)
            if i >= 0:
                last[i] = pos
    weights = sum(b for i, (_, b) in tensors.items() if i in consts)
    variable = sum(b for i, (_, b) in tensors.items() if i in variables)
    activation_ids = [i for i in tensors if i not in consts and i not in variables and (i in first or i in inputs)]
    activation_total = sum(tensors[i][1] for i in activation_ids)
    peak = 0
    for pos in range(len(ops)):
        live = sum(tensors[i][1] for i in activation_ids
                   if (0 if i in inputs else first.get(i, 0)) <= pos <= (len(ops) if i in outputs else last.get(i, pos)))
        peak = max(peak, live)
    return {
        "macs": int(sum(macs_by_op.values())),
        "macs_by_op": dict(sorted(macs_by_op.items())),
        "other_op_elements": int(other_elements),
        "weights_bytes": int(weights),
        "variable_bytes": int(variable),
        "activation_bytes_total": int(activation_total),
        "activation_bytes_peak": int(peak),
        "tensor_bytes_total": int(sum(b for _, b in tensors.values())),
        "ops": sorted({op["op_name"] for op in ops}),
    }


def _model_entry(clf) -> dict[str, Any]:
    entry = {"path": str(clf.path), "quantization": clf.info.extra.get("quantization") or ("int8" if clf.quantized else "float"),
             "size_bytes": int(clf.path.stat().st_size)}
    entry.update(model_graph_stats(clf.interpreter, clf.path))
    return entry


def _empty_model_entry() -> dict[str, Any]:
    return {k: None for k in ("path", "quantization", "size_bytes", "macs", "macs_by_op", "other_op_elements",
                              "weights_bytes", "variable_bytes", "activation_bytes_total", "activation_bytes_peak",
                              "tensor_bytes_total", "ops")}


# --------------------------------------------------------------------------- cost model


def dsp_cost(config: FeatureConfig) -> dict[str, Any]:
    """Arithmetic of the front end per frame: flops, counting a multiply-add as 2 and log10 as 1.

    The FFT uses the usual estimate of 2.5 N log2 N flops for a real FFT of N points (half of
    5 N log2 N for a complex one); the mel projection counts the filterbank's non-zero weights.
    """
    from edge_genre.dsp import FrontEnd

    front = FrontEnd.for_config(config)
    n = config.n_fft
    per_frame = {
        "window": n,
        "fft": int(round(2.5 * n * math.log2(n))),
        "power": 3 * (front.bin_hi - front.bin_lo),
        "mel": 2 * int(np.count_nonzero(front.mel_basis)),
        "log": config.n_mels,
    }
    per_frame_finish = {"top_db": 2 * config.n_mels, "dct": 2 * config.n_mfcc * config.n_mels if config.kind == "mfcc" else 0}
    return {"per_frame": per_frame, "per_frame_finish": per_frame_finish,
            "frame_flops": sum(per_frame.values()), "finish_flops": sum(per_frame_finish.values())}


def measure_peak(threads: int, n: int = 512, reps: int = 10) -> tuple[float | None, str]:
    """Float32 matmul GFLOP/s in a fresh process limited to ``threads`` threads (best of ``reps``)."""
    code = (
        "import sys, time, json\n"
        "import numpy as np\n"
        "n, reps = int(sys.argv[1]), int(sys.argv[2])\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)\n"
        "c = np.empty((n, n), dtype=np.float32)\n"
        "np.matmul(a, b, out=c); np.matmul(a, b, out=c)\n"
        "best = float('inf')\n"
        "for _ in range(reps):\n"
        "    t0 = time.perf_counter(); np.matmul(a, b, out=c); best = min(best, time.perf_counter() - t0)\n"
        "print(json.dumps({'gflops': 2 * n ** 3 / best / 1e9}))\n"
    )
    out, _, err = run_python(code, [str(n), str(reps)], threads, timeout=120)
    return (None, err) if out is None else (float(out["gflops"]), "")


# --------------------------------------------------------------------------- measurements


def bench_dsp(y: np.ndarray, config: FeatureConfig, hop_seconds: float, repeat: int, warmup: int,
              notes: list[str], budget_s: float | None = TIME_BUDGET_S) -> dict[str, Any]:
    """The model's features per window (MFCC or log-mel): edge_genre batch and streaming, librosa,
    and python_speech_features' MFCC."""
    from edge_genre.config import MUSICNN_LEVEL_DB, MUSICNN_OFFSET
    from edge_genre.dsp import window_features
    from edge_genre.streaming import StreamingMFCC

    sr, n = config.sample_rate, config.window_samples
    windows = [y[i * n : (i + 1) * n] for i in range(max(1, y.size // n))]
    result: dict[str, Any] = {"edge_genre_batch": empty_stats(), "edge_genre_stream": empty_stats(),
                              "librosa": empty_stats(), "psf": empty_stats()}

    def edge(i: int) -> None:
        window_features(windows[i % len(windows)], config)

    result["edge_genre_batch"] = latency_stats(time_calls(edge, repeat, warmup, budget_s))

    stream = StreamingMFCC(config, hop_seconds=hop_seconds)
    frames = []
    stream_times = _stream_hops(stream, y, config, repeat, warmup, frames_per_hop=frames)
    result["edge_genre_stream"] = latency_stats(stream_times)
    result["stream_frames_per_hop"] = int(np.median(frames)) if frames else None
    result["batch_frames_per_window"] = config.n_frames

    result["max_abs_diff_vs_librosa"] = None
    if _installed("librosa"):
        import librosa

        def librosa_features(w: np.ndarray) -> np.ndarray:
            # The model's front end in librosa: librosa.feature.mfcc(y=w, sr=sr, ...) with the model's
            # top_db (mfcc() itself has no top_db), or the log-mel; level centring when the model uses it.
            mel = librosa.feature.melspectrogram(y=w, sr=sr, n_fft=config.n_fft, hop_length=config.hop_length,
                                                 n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)
            if config.kind == "musicnn":  # the large model: musicnn's own compression, as its extractor
                if config.normalization == "level":  # the window's mean mel power set to MUSICNN_LEVEL_DB
                    mel = mel * (10 ** (MUSICNN_LEVEL_DB / 10) / mel.mean())
                return np.log10(MUSICNN_OFFSET * mel + 1)
            db = librosa.power_to_db(mel, top_db=config.top_db)
            if config.normalization == "level":
                db = db - db.mean()
            return librosa.feature.mfcc(S=db, n_mfcc=config.n_mfcc) if config.kind == "mfcc" else db

        def ref(i: int) -> None:
            librosa_features(windows[i % len(windows)])

        result["librosa"] = latency_stats(time_calls(ref, repeat, max(2, warmup), budget_s))
        if config.normalization != "window":
            theirs = librosa_features(windows[0]).T
            ours = window_features(windows[0], config)
            result["max_abs_diff_vs_librosa"] = _r(float(np.max(np.abs(ours - theirs))))
    else:
        notes.append("librosa not installed: DSP comparison with librosa skipped")
    if _installed("python_speech_features"):
        import python_speech_features as psf

        def ref_psf(i: int) -> None:
            psf.mfcc(windows[i % len(windows)], samplerate=sr, winlen=config.n_fft / sr, winstep=config.hop_length / sr,
                     numcep=config.n_mfcc, nfilt=config.n_mels, nfft=config.n_fft, lowfreq=config.fmin,
                     highfreq=config.fmax, preemph=0.0, ceplifter=0, appendEnergy=False, winfunc=np.hanning)

        result["psf"] = latency_stats(time_calls(ref_psf, repeat, max(2, warmup), budget_s))
    else:
        notes.append("python_speech_features not installed: DSP comparison with it skipped")

    batch, stream_p50 = result["edge_genre_batch"]["p50_ms"], result["edge_genre_stream"]["p50_ms"]
    result["speedup_vs_librosa"] = ratio(result["librosa"]["p50_ms"], batch)
    result["speedup_vs_psf"] = ratio(result["psf"]["p50_ms"], batch)
    result["stream_speedup_vs_librosa"] = ratio(result["librosa"]["p50_ms"], stream_p50)
    result["stream_vs_batch"] = ratio(batch, stream_p50)
    return result


def _stream_hops(stream, y: np.ndarray, config: FeatureConfig, repeat: int, warmup: int,
                 on_window: Callable[[Any, np.ndarray], Any] | None = None,
                 frames_per_hop: list[int] | None = None) -> list[float]:
    """Per-hop times of ``stream.push(hop chunk)`` (+ ``on_window`` per emitted window) in steady state.

    Pushes whole hops of ``y`` (tiled as needed) until the first window is out, then ``warmup``
    untimed hops, then ``repeat`` timed hops, each of which emits exactly one window.
    """
    hop, n = stream.hop_samples, config.window_samples
    fill = -(-n // hop)
    audio = tiled(y, (fill + warmup + repeat + 1) * hop)
    pos = 0

    def push(_: int) -> None:
        nonlocal pos
        chunk = audio[pos : pos + hop]
        pos += hop
        before = stream.frames_computed
        for w in stream.push(chunk):
            if on_window is not None:
                on_window(w, audio[w.start_sample : w.start_sample + n])
        if frames_per_hop is not None:
            frames_per_hop.append(stream.frames_computed - before)

    stream.reset()
    for i in range(fill):
        push(i)
    if frames_per_hop is not None:
        frames_per_hop.clear()
    return time_calls(push, repeat, warmup, budget_s=None)


def bench_inference(clf, features: list[np.ndarray], repeat: int, warmup: int,
                    budget_s: float | None = TIME_BUDGET_S) -> dict[str, Any]:
    """``GenreClassifier.predict`` of one window (reset, quantize, invoke, dequantize)."""
    return latency_stats(time_calls(lambda i: clf.predict(features[i % len(features)]), repeat, warmup, budget_s))


def bench_e2e(clf, y: np.ndarray, hop_seconds: float, repeat: int, warmup: int) -> dict[str, Any]:
    """Audio hop in -> genre out: ``StreamingMFCC.push`` + ``classify_window`` with the streamed features."""
    from edge_genre.streaming import StreamingMFCC

    stream = StreamingMFCC(clf.config, hop_seconds=hop_seconds)
    sr = clf.config.sample_rate
    genres: list[str] = []

    def on_window(w, samples: np.ndarray) -> None:
        genres.append(clf.classify_window(samples, w.start_sample / sr, features=w.features).genre)

    times = _stream_hops(stream, y, clf.config, repeat, warmup, on_window=on_window)
    return latency_stats(times)


MAXRSS_HELPER = r"""
import resource as _resource, sys as _sys
def maxrss_kb():
    # VmHWM: peak RSS of this program's own address space. ru_maxrss is not used on Linux: it keeps
    # the high-water mark of the forked copy of the parent from before exec.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    r = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if _sys.platform == 'darwin' else r
"""

RUNTIME_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
def rss_kb():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        return None
start = rss_kb()
from edge_genre.audio import load_audio
from edge_genre.classifier import GenreClassifier
t1 = time.perf_counter(); r1 = rss_kb()
clf = GenreClassifier(sys.argv[1], num_threads=int(sys.argv[3]))
t2 = time.perf_counter(); r2 = rss_kb()
y = load_audio(sys.argv[2], sr=clf.config.sample_rate)
result = clf.classify(y, clf.config.sample_rate)
t3 = time.perf_counter()
print(json.dumps({'start_kb': start, 'import_kb': r1, 'load_kb': r2, 'end_kb': rss_kb(), 'maxrss_kb': maxrss_kb(),
                  'import_s': t1 - t0, 'load_s': t2 - t1, 'classify_s': t3 - t2, 'genre': result.genre,
                  'windows': len(result.windows)}))
"""

ALT_SCRIPT = r"""
import json, os, sys, time
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1'); os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
t0 = time.perf_counter()
mode, model_path, wav = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.loads(sys.argv[4]); threads = int(sys.argv[5])
import numpy as np
import librosa
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
sr, n = cfg['sample_rate'], int(round(cfg['window_seconds'] * cfg['sample_rate']))
y, _ = librosa.load(wav, sr=sr)
wins = [y[i * n:(i + 1) * n] for i in range(len(y) // n)] or [np.pad(y, (0, n - len(y)))]
def feats(w):
    kw = dict(n_fft=cfg['n_fft'], hop_length=cfg['hop_length'], n_mels=cfg['n_mels'], fmin=cfg['fmin'], fmax=cfg['fmax'])
    db = librosa.power_to_db(librosa.feature.melspectrogram(y=w, sr=sr, **kw), top_db=cfg['top_db'])
    if cfg['normalization'] == 'level':
        db = db - db.mean()
    f = (librosa.feature.mfcc(S=db, n_mfcc=cfg['n_mfcc']) if cfg['kind'] == 'mfcc' else db).T
    if cfg['normalization'] == 'window':
        f = (f - f.mean(0)) / np.maximum(f.std(0), 1e-5)
    return f.astype(np.float32)
x = np.stack([feats(w) for w in wins])[..., None]
if mode == 'keras':
    try:
        import tf_keras as keras
    except ImportError:
        keras = tf.keras
    model = keras.models.load_model(model_path, compile=False)
    probs = model.predict(x, verbose=0)
else:
    interp = tf.lite.Interpreter(model_path=model_path, num_threads=threads)
    interp.allocate_tensors()
    i_in, i_out = interp.get_input_details()[0], interp.get_output_details()[0]
    probs = []
    for w in x:
        interp.reset_all_variables()
        interp.set_tensor(i_in['index'], w[None].astype(np.float32))
        interp.invoke()
        probs.append(interp.get_tensor(i_out['index'])[0].copy())
    probs = np.array(probs)
genre = int(np.argmax(probs.mean(0)))
print(json.dumps({'maxrss_kb': maxrss_kb(), 'wall_s': time.perf_counter() - t0,
                  'genre_index': genre, 'windows': len(wins)}))
"""

BASELINE_SCRIPT = "import json\nprint(json.dumps({'maxrss_kb': maxrss_kb()}))\n"


def bench_memory(model_path: Path, clip: Path, threads: int) -> tuple[dict[str, Any], str]:
    """Peak RSS of a fresh runtime process (import, load, classify a clip) and of a bare interpreter."""
    out, wall, err = run_python(MAXRSS_HELPER + RUNTIME_SCRIPT, [str(Path(model_path).resolve()), str(Path(clip).resolve()), str(threads)],
                                threads)
    base, _, _ = run_python(MAXRSS_HELPER + BASELINE_SCRIPT, [], threads)
    result = {"runtime_peak_rss_mb": None, "runtime_rss_after_import_mb": None, "runtime_rss_after_load_mb": None,
              "runtime_load_rss_delta_mb": None, "runtime_wall_s": None,
              "python_baseline_rss_mb": _mb(base["maxrss_kb"]) if base else None}
    if out is None:
        return result, f"runtime memory subprocess failed: {err}"
    result.update({
        "runtime_peak_rss_mb": _mb(out["maxrss_kb"]),
        "runtime_rss_after_import_mb": _mb(out["import_kb"]),
        "runtime_rss_after_load_mb": _mb(out["load_kb"]),
        "runtime_load_rss_delta_mb": _mb(out["load_kb"] - out["import_kb"]) if out["load_kb"] and out["import_kb"] else None,
        "runtime_wall_s": _r(wall, 3),
    })
    result["_breakdown"] = out  # used for the cold-start breakdown, dropped from the output
    return result, ""


def bench_alt_pipeline(mode: str, model_path: Path, clip: Path, config: FeatureConfig, threads: int) -> tuple[dict[str, Any], str]:
    """Peak RSS and wall time of librosa.load + librosa features + (Keras predict | tf.lite float) in a fresh process."""
    # The child runs in a temporary directory: hand it absolute paths.
    out, wall, err = run_python(MAXRSS_HELPER + ALT_SCRIPT,
                                [mode, str(Path(model_path).resolve()), str(Path(clip).resolve()), json.dumps(config.to_dict()), str(threads)],
                                threads)
    if out is None:
        return {"alt_pipeline_peak_rss_mb": None, "alt_pipeline_wall_s": None}, f"TF + librosa pipeline failed: {err}"
    return {"alt_pipeline_peak_rss_mb": _mb(out["maxrss_kb"]), "alt_pipeline_wall_s": _r(wall, 3)}, ""


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
                err = f"'edge-genre classify' failed: {_tail(proc.stderr)}"
                break
            if i > 0:  # the first run warms the disk cache
                times.append(dt)
    py_times = []
    for _ in range(max(1, min(runs, 3))):
        _, wall, _ = run_python("pass", [], threads)
        py_times.append(wall)
    result = {
        "cli_s": _r(float(np.median(times)), 3) if times else None,
        "cli_min_s": _r(min(times), 3) if times else None,
        "runs": len(times),
        "command": "edge-genre classify --model MODEL CLIP.wav (3 s clip)",
        "python_startup_s": _r(float(np.median(py_times)), 3),
    }
    return result, err


def find_gtzan_roots(data_dir: Path) -> list[Path]:
    """The GTZAN genre roots in ``data_dir`` (either layout): the folder itself, or every folder one
    level down that is one (gtzan-mini/ and gtzan-excerpts/ of the shared data folder)."""
    from train.dataset import DatasetError, genre_root

    try:
        return [genre_root(data_dir, own_labels=False)]
    except DatasetError as first_error:
        roots = []
        if data_dir.is_dir():
            for sub in sorted(p for p in data_dir.iterdir() if p.is_dir()):
                try:
                    roots.append(genre_root(sub, own_labels=False))
                except DatasetError:
                    continue
        if not roots:
            raise first_error
        return roots


def default_data_dir() -> Path | None:
    """``$EDGE_GENRE_DATA``, else ``../shared/data`` (from the working directory, then from the checkout).

    A ``$EDGE_GENRE_DATA`` that is not a directory is an error: the user asked for that data.
    """
    candidates = []
    if os.environ.get("EDGE_GENRE_DATA", "").strip():
        chosen = Path(os.environ["EDGE_GENRE_DATA"]).expanduser()
        if not chosen.is_dir():
            raise AudioError(f"EDGE_GENRE_DATA={os.environ['EDGE_GENRE_DATA']}: no such directory")
        return chosen
    candidates += [Path.cwd().parent / "shared" / "data", REPO_ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def empty_accuracy() -> dict[str, Any]:
    acc = {"ran": False, "data_dir": None, "held_out": None, "n_clips": 0, "n_windows": 0}
    for kind in ("int8", "float", "keras"):
        acc[kind] = {"window": None, "clip": None}
    acc.update({"agreement_int8_float": None, "agreement_int8_keras": None, "agreement_float_keras": None,
                "int8_drop_pp": None, "note": None})
    return acc


def bench_accuracy(data_dir: Path, clf, clf_float, keras_model, max_clips: int | None, notes: list[str],
                   progress: bool = False) -> dict[str, Any]:
    """Window and clip accuracy and top-1 agreement of int8 / float / Keras on the model's held-out clips."""
    from edge_genre.audio import load_audio
    from train.dataset import clip_features, discover_clips

    acc = empty_accuracy()
    roots = find_gtzan_roots(Path(data_dir))
    root = ", ".join(map(str, roots))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a clip id in two roots: the first is used
        clips, _ = discover_clips(roots)
    held = clf.info.extra.get("held_out_clips") or (clf_float.info.extra.get("held_out_clips") if clf_float else None)
    if held:
        wanted = set(held)
        missing = wanted - {c.clip_id for c in clips}
        clips = [c for c in clips if c.clip_id in wanted]
        acc["held_out"] = True
        acc["note"] = f"held-out clips from the model metadata ({len(held)} listed, {len(missing)} not in {root})"
    else:
        acc["held_out"] = False
        acc["note"] = "the model lists no held_out_clips: accuracy is on (possibly) training data and therefore not meaningful"
        notes.append(acc["note"])
    label_index = {g: i for i, g in enumerate(clf.labels)}
    unknown = sorted({c.genre for c in clips if c.genre not in label_index})
    clips = [c for c in clips if c.genre in label_index]
    if unknown:
        notes.append(f"accuracy: clips of genres the model does not know skipped ({', '.join(unknown)})")
    if max_clips is not None:
        # Spread the subset over genres: round-robin by genre.
        by_genre: dict[str, list] = {}
        for c in clips:
            by_genre.setdefault(c.genre, []).append(c)
        order = [c for group in zip(*by_genre.values()) for c in group] if by_genre else []
        rest = [c for c in clips if c not in order]
        clips = (order + rest)[:max_clips]
    if not clips:
        acc["note"] = f"no usable clips in {root}"
        notes.append(f"accuracy skipped: {acc['note']}")
        return acc

    xs, ys, owner = [], [], []
    bar = _progress(len(clips), "accuracy: features", progress)
    for k, c in enumerate(clips):
        try:
            feats = clip_features(load_audio(c.path, sr=clf.config.sample_rate), clf.config)
        except EdgeGenreError as exc:
            notes.append(f"accuracy: skipped {c.clip_id} ({exc})")
            continue
        finally:
            bar.update(1)
        xs.append(feats)
        ys += [label_index[c.genre]] * len(feats)
        owner += [k] * len(feats)
    bar.close()
    if not xs:
        acc["note"] = "no clip could be read"
        return acc
    x, y, owner_arr = np.concatenate(xs), np.asarray(ys), np.asarray(owner)
    from edge_genre.evaluation import score, top1_agreement

    # Raw outputs, scored by the runtime's rules (edge_genre.evaluation), as every other report is.
    probs = {"int8": clf.predict(x, calibrated=False)}
    if clf_float is not None:
        probs["float"] = clf_float.predict(x, calibrated=False)
    if keras_model is not None:
        probs["keras"] = np.asarray(keras_model.predict(x[..., np.newaxis], verbose=0, batch_size=256))
    for kind, p in probs.items():
        scores = score(p, y, owner_arr)
        acc[kind] = {"window": _r(scores.window_accuracy), "clip": _r(scores.clip_accuracy)}
    for a, b in (("int8", "float"), ("int8", "keras"), ("float", "keras")):
        if a in probs and b in probs:
            acc[f"agreement_{a}_{b}"] = _r(top1_agreement(probs[a], probs[b]))
    if acc["float"]["window"] is not None:
        acc["int8_drop_pp"] = _r(100.0 * (acc["float"]["window"] - acc["int8"]["window"]), 3)
    acc.update({"ran": True, "data_dir": str(root), "n_clips": int(np.unique(owner_arr).size), "n_windows": int(y.size)})
    return acc


# --------------------------------------------------------------------------- driver


def _progress(total: int, desc: str, enabled: bool):
    """Progress on stderr (edge_genre.progress: in place on a terminal, sparse lines elsewhere)."""
    from edge_genre.progress import Progress

    return Progress(total, desc, prefix="edge-genre bench", enabled=enabled)


def run_benchmark(model: str | os.PathLike = "int8", *, float_model: str | os.PathLike | None = AUTO,
                  keras_model: str | os.PathLike | None = None, threads: int = 1, repeat: int = DEFAULT_REPEAT,
                  warmup: int | None = None, data: str | os.PathLike | None = AUTO, max_clips: int | None = None,
                  audio: str | os.PathLike | None = None, hop_seconds: float = DEFAULT_HOP_SECONDS,
                  skip: tuple[str, ...] | list[str] = (), progress: bool = False,
                  time_budget_s: float | None = TIME_BUDGET_S) -> dict[str, Any]:
    """Run every measurement and return the result dict (keys: ``benchmarks/BENCH_KEYS.md``).

    Parameters
    ----------
    model : "int8", "float" or path
        The model under test (normally the int8 one).
    float_model : "auto", path or None
        The float reference; ``"auto"`` picks the shipped float model for ``"int8"`` or the
        ``*float*`` sibling of an ``*int8*`` file; None skips it.
    keras_model : path, optional
        A ``model.keras`` or a training run directory (needs TensorFlow).
    threads : int
        Interpreter threads; also the BLAS / TF thread limit (1 = the Raspberry-Pi profile).
    repeat, warmup : int
        Timed calls per latency figure and untimed calls before them (default ``max(3, repeat // 10)``).
    data : "auto", path or None
        GTZAN directory for the accuracy part; ``"auto"`` uses ``$EDGE_GENRE_DATA`` or
        ``../shared/data`` when present; None skips accuracy.
    max_clips : int, optional
        Evaluate at most this many (held-out) clips, spread over genres.
    audio : path, optional
        Audio file for the latency input instead of the synthetic 30-s signal.
    skip : names from :data:`STAGES`
        Parts to leave out (their keys are null).
    progress : bool
        Report progress on stderr (:mod:`edge_genre.progress`: a line rewritten in place on a
        terminal, a line per stage elsewhere).
    """
    from edge_genre import __version__
    from edge_genre.audio import load_audio
    from edge_genre.classifier import GenreClassifier
    from edge_genre.dsp import window_features

    if not isinstance(threads, int) or threads < 1:
        raise EdgeGenreError(f"threads must be a positive integer, got {threads!r}")
    if not isinstance(repeat, int) or repeat < 1:
        raise EdgeGenreError(f"repeat must be a positive integer, got {repeat!r}")
    unknown = sorted(set(skip) - set(STAGES))
    if unknown:
        raise EdgeGenreError(f"unknown stage(s) to skip: {', '.join(unknown)} (choose from {', '.join(STAGES)})")
    skip = set(skip)
    warmup = max(3, repeat // 10) if warmup is None else max(0, int(warmup))
    notes: list[str] = []

    # Everything that can fail on bad arguments happens first, before any long measurement.
    clf = GenreClassifier(model, num_threads=threads)
    config = clf.config
    float_ref = resolve_float_model(model, float_model)
    clf_float = None
    if float_ref is not None:
        try:
            clf_float = GenreClassifier(float_ref, num_threads=threads)
        except ModelError as exc:
            if float_model not in (None, AUTO):
                raise
            notes.append(f"float reference model not available: {exc}")
    else:
        notes.append("no float reference model (give --float-model): float figures skipped")
    if clf_float is not None and (clf_float.config != config or clf_float.labels != clf.labels):
        raise ModelError(f"{clf_float.path}: feature configuration or labels differ from {clf.path}")
    keras_path = resolve_keras_model(keras_model) if keras_model is not None else None
    data_dir: Path | None = None
    if data == AUTO:
        data_dir = default_data_dir()
        if data_dir is None:
            notes.append("no data directory (--data, $EDGE_GENRE_DATA or ../shared/data): accuracy skipped")
    elif data is not None:
        data_dir = Path(data)
        if not data_dir.is_dir():
            raise EdgeGenreError(f"{data_dir}: no such data directory")
        find_gtzan_roots(data_dir)  # fail now on a directory without GTZAN genre folders
    if "accuracy" in skip:
        data_dir = None

    if audio is not None:
        y = load_audio(audio, sr=config.sample_rate)
        if y.size < config.window_samples:
            y = tiled(y, config.window_samples)
        source = str(audio)
    else:
        y = synthetic_audio(30.0, config.sample_rate)
        source = "synthetic"

    from edge_genre.streaming import hop_frames_for

    hop_samples = hop_frames_for(hop_seconds, config) * config.hop_length
    hop_ms = 1e3 * hop_samples / config.sample_rate
    tf_installed = _installed("tensorflow")
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "env": {
            "edge_genre": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(), "loadavg_1min": _loadavg(), "backend": clf.backend,
            "threads": threads, "repeat": repeat, "warmup": warmup, "blas_threads_limited": False,
            "tensorflow": _module_version("tensorflow") if tf_installed else None,
            "librosa": _module_version("librosa"), "python_speech_features": _module_version("python_speech_features"),
        },
        "input": {"source": source, "sample_rate": config.sample_rate, "seconds": _r(y.size / config.sample_rate, 3),
                  "window_s": _r(config.window_samples / config.sample_rate, 4), "hop_s": _r(hop_ms / 1e3, 4),
                  "hop_samples": hop_samples},
        "models": {"int8": _model_entry(clf), "float": _model_entry(clf_float) if clf_float else _empty_model_entry(),
                   "keras": {"path": str(keras_path) if keras_path else None,
                             "size_bytes": keras_path.stat().st_size if keras_path else None, "parameters": None}},
    }
    load = _loadavg()
    if load is not None and os.cpu_count() and load > 0.5 * os.cpu_count():
        notes.append(f"machine busy (1-min load {load} on {os.cpu_count()} CPUs): timings are noisy; re-run on a quiet machine")

    windows = [y[i * config.window_samples : (i + 1) * config.window_samples]
               for i in range(max(1, y.size // config.window_samples))]
    features = [window_features(w, config) for w in windows]

    stage_list = [s for s in ("dsp", "inference", "e2e", "keras", "memory", "alt-pipeline", "cold-start", "accuracy", "cost")
                  if s not in skip and not (s == "keras" and keras_path is None)
                  and not (s == "accuracy" and data_dir is None)]
    bar = _progress(len(stage_list), "stages", progress)

    def step(name: str) -> None:
        bar.set_description(name)

    from edge_genre.blas import blas_threads

    info = blas_threads()
    result["env"]["blas"] = {"set_by_edge_genre": info["set_by_edge_genre"],
                             "openblas_num_threads": info["env"].get("OPENBLAS_NUM_THREADS"),
                             "max_pool_threads": max((p.get("threads") or 0 for p in info.get("pools", [])), default=None)}
    with runtime_blas_threads() as limited:
        result["env"]["blas_threads_limited"] = bool(limited)
        if not limited:
            notes.append("BLAS runs with several threads (a BLAS thread variable was set before edge-genre "
                         "was imported): the front end's timings are not what a default install runs")

        # DSP ------------------------------------------------------------------------------
        dsp = {"edge_genre_batch": empty_stats(), "edge_genre_stream": empty_stats(), "librosa": empty_stats(),
               "psf": empty_stats(), "speedup_vs_librosa": None, "speedup_vs_psf": None,
               "stream_speedup_vs_librosa": None, "stream_vs_batch": None, "max_abs_diff_vs_librosa": None,
               "stream_frames_per_hop": None, "batch_frames_per_window": config.n_frames}
        if "dsp" in skip:
            notes.append("dsp skipped")
        else:
            step("dsp")
            dsp.update(bench_dsp(y, config, hop_seconds, repeat, warmup, notes, time_budget_s))
            bar.update(1)
        result["dsp"] = dsp

        # Inference ------------------------------------------------------------------------
        inf = {"int8": empty_stats(), "float": empty_stats(), "keras": empty_stats(), "keras_graph": empty_stats(),
               "keras_call": "predict_on_batch (per window); keras_graph: tf.function(model(x, training=False))",
               "int8_speedup_vs_float": None, "int8_speedup_vs_keras": None, "int8_speedup_vs_keras_graph": None}
        result["inference"] = inf
        if "inference" in skip:
            notes.append("inference skipped")
        else:
            step("inference")
            inf["int8"] = bench_inference(clf, features, repeat, warmup, time_budget_s)
            if clf_float is not None:
                inf["float"] = bench_inference(clf_float, features, repeat, warmup, time_budget_s)
            bar.update(1)

        # End to end -----------------------------------------------------------------------
        e2e = {"int8": empty_stats(), "float": empty_stats(), "hop_ms": _r(hop_ms, 3),
               "int8_rtf": None, "float_rtf": None, "int8_x_realtime": None}
        if "e2e" in skip:
            notes.append("e2e skipped")
        else:
            step("e2e")
            e2e["int8"] = bench_e2e(clf, y, hop_seconds, repeat, warmup)
            if clf_float is not None:
                e2e["float"] = bench_e2e(clf_float, y, hop_seconds, repeat, warmup)
            e2e["int8_rtf"] = ratio(e2e["int8"]["p50_ms"], hop_ms)
            e2e["float_rtf"] = ratio(e2e["float"]["p50_ms"], hop_ms)
            e2e["int8_x_realtime"] = _r(hop_ms / e2e["int8"]["p50_ms"], 1) if e2e["int8"]["p50_ms"] else None
            bar.update(1)
        result["e2e"] = e2e

        # Keras (imports TensorFlow into this process: after the TFLite timings) -----------
        keras = None
        if keras_path is not None and "keras" not in skip:
            step("keras")
            if not tf_installed:
                notes.append("TensorFlow not installed: Keras model skipped")
            else:
                keras, predict_on_batch, graph = load_keras(keras_path, threads)
                result["models"]["keras"]["parameters"] = int(keras.count_params())
                kx = [f[np.newaxis, ..., np.newaxis].astype(np.float32) for f in features]
                if "inference" not in skip:
                    inf["keras"] = latency_stats(time_calls(lambda i: predict_on_batch(kx[i % len(kx)]), repeat,
                                                            max(3, warmup), time_budget_s))
                    inf["keras_graph"] = latency_stats(time_calls(lambda i: graph(kx[i % len(kx)]), repeat,
                                                                  max(3, warmup), time_budget_s))
            bar.update(1)
        elif keras_path is None:
            notes.append("no Keras model (--keras-model): Keras figures skipped")
        inf["int8_speedup_vs_float"] = ratio(inf["float"]["p50_ms"], inf["int8"]["p50_ms"])
        inf["int8_speedup_vs_keras"] = ratio(inf["keras"]["p50_ms"], inf["int8"]["p50_ms"])
        inf["int8_speedup_vs_keras_graph"] = ratio(inf["keras_graph"]["p50_ms"], inf["int8"]["p50_ms"])

    # Subprocess measurements (memory, alternative pipeline, cold start) ---------------------
    memory = {"runtime_peak_rss_mb": None, "runtime_rss_after_import_mb": None, "runtime_rss_after_load_mb": None,
              "runtime_load_rss_delta_mb": None, "runtime_wall_s": None, "python_baseline_rss_mb": None,
              "alt_pipeline": None, "alt_pipeline_peak_rss_mb": None, "alt_pipeline_wall_s": None, "alt_vs_runtime": None}
    cold = {"cli_s": None, "cli_min_s": None, "runs": 0, "command": None, "python_startup_s": None,
            "import_s": None, "load_s": None}
    with tempfile.TemporaryDirectory(prefix="edge-genre-bench-") as tmp:
        import soundfile as sf

        clip30 = Path(tmp) / "clip30.wav"
        clip3 = Path(tmp) / "clip3.wav"
        sf.write(str(clip30), tiled(y, 30 * config.sample_rate), config.sample_rate, subtype="PCM_16")
        sf.write(str(clip3), tiled(y, config.window_samples), config.sample_rate, subtype="PCM_16")
        if "memory" not in skip:
            step("memory")
            mem, err = bench_memory(clf.path, clip30, threads)
            breakdown = mem.pop("_breakdown", None)
            memory.update(mem)
            if err:
                notes.append(err)
            if breakdown:
                cold.update({"import_s": _r(breakdown["import_s"], 3), "load_s": _r(breakdown["load_s"], 3)})
            bar.update(1)
        else:
            notes.append("memory skipped")
        if "alt-pipeline" not in skip:
            step("TF + librosa pipeline")
            err = ""
            missing = [m for m in ("tensorflow", "librosa") if not _installed(m)]
            if missing:
                notes.append(f"{' and '.join(missing)} not installed: TF + librosa pipeline memory skipped")
            elif keras_path is not None:
                memory["alt_pipeline"] = "librosa.load + librosa front end + Keras model.predict (TensorFlow)"
                alt, err = bench_alt_pipeline("keras", keras_path, clip30, config, threads)
                memory.update(alt)
            elif clf_float is not None:
                memory["alt_pipeline"] = "librosa.load + librosa front end + tf.lite.Interpreter float model (TensorFlow; no Keras model given)"
                alt, err = bench_alt_pipeline("tflite", clf_float.path, clip30, config, threads)
                memory.update(alt)
            else:
                err = "TF + librosa pipeline skipped: needs a Keras model or a float TFLite model"
            if err:
                notes.append(err)
            bar.update(1)
        else:
            notes.append("TF + librosa pipeline skipped")
        memory["alt_vs_runtime"] = ratio(memory["alt_pipeline_peak_rss_mb"], memory["runtime_peak_rss_mb"])
        if "cold-start" not in skip:
            step("cold start")
            runs = max(2, min(7, repeat // 10))
            cs, err = bench_cold_start(clf.path, clip3, threads, runs)
            cold.update(cs)
            if err:
                notes.append(err)
            bar.update(1)
        else:
            notes.append("cold start skipped")
    result["memory"] = memory
    result["cold_start"] = cold

    # Accuracy ------------------------------------------------------------------------------
    if data_dir is not None:
        step("accuracy")
        try:
            result["accuracy"] = bench_accuracy(data_dir, clf, clf_float, keras, max_clips, notes, progress)
        except EdgeGenreError as exc:
            if data != AUTO:
                raise
            notes.append(f"accuracy skipped: {exc}")
            result["accuracy"] = empty_accuracy()
        bar.update(1)
    else:
        result["accuracy"] = empty_accuracy()

    # Cost model ----------------------------------------------------------------------------
    result["cost"] = cost_model(result, config, threads, notes, measure="cost" not in skip)
    if "cost" not in skip:
        bar.update(1)
    else:
        notes.append("matmul peak not measured (cost skipped): fractions of peak are null")
    bar.desc = "all stages"
    bar.close()

    result["targets"] = evaluate_targets(result)
    result["notes"] = notes
    return result


def cost_model(result: dict[str, Any], config: FeatureConfig, threads: int, notes: list[str], measure: bool = True) -> dict[str, Any]:
    """Operation counts per window / hop and the achieved fraction of a measured float32 matmul peak."""
    dc = dsp_cost(config)
    frames_hop = result["dsp"].get("stream_frames_per_hop")
    window_flops = config.n_frames * (dc["frame_flops"] + dc["finish_flops"])
    hop_flops = frames_hop * dc["frame_flops"] + config.n_frames * dc["finish_flops"] if frames_hop else None
    peak = None
    if measure:
        peak, err = measure_peak(threads)
        if peak is None:
            notes.append(f"matmul peak measurement failed: {err}")
    cost: dict[str, Any] = {
        "peak_gflops": _r(peak, 2), "peak_gmacs": _r(peak / 2, 2) if peak else None,
        "peak_method": f"numpy float32 512x512 matmul, best of 10, {threads} thread(s), fresh process",
        "dsp_flops_per_frame": dc["frame_flops"], "dsp_finish_flops_per_frame": dc["finish_flops"],
        "dsp_flops_per_window": int(window_flops), "dsp_flops_per_hop": int(hop_flops) if hop_flops else None,
        "dsp_breakdown_per_frame": {**dc["per_frame"], **dc["per_frame_finish"]},
        "model_macs_int8": result["models"]["int8"]["macs"], "model_macs_float": result["models"]["float"]["macs"],
    }

    def rate(work: float | None, ms: float | None) -> float | None:
        return None if not work or not ms else work / (ms * 1e-3) / 1e9

    def frac(achieved: float | None, bound: float | None) -> float | None:
        return None if achieved is None or not bound else _r(achieved / bound, 4)

    dsp = result["dsp"]
    for key, work, ms in (("dsp_batch", window_flops, dsp["edge_genre_batch"]["p50_ms"]),
                          ("dsp_stream", hop_flops, dsp["edge_genre_stream"]["p50_ms"])):
        g = rate(work, ms)
        cost[f"{key}_gflops"] = _r(g, 3)
        cost[f"{key}_fraction_of_peak"] = frac(g, peak)
    for kind in ("int8", "float"):
        g = rate(result["models"][kind]["macs"], result["inference"][kind]["p50_ms"])
        cost[f"{kind}_gmacs"] = _r(g, 3)
        cost[f"{kind}_fraction_of_peak"] = frac(g, peak / 2 if peak else None)
    return cost


def evaluate_targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets beside the measured values (``met`` is None when the value is missing)."""

    def entry(name: str, value: float | None, ok: Callable[[float], bool], target: str) -> dict[str, Any]:
        return {"target": target, "value": value, "unit": TARGETS[name][1], "met": None if value is None else bool(ok(value))}

    inf, mem = result["inference"], result["memory"]
    size = result["models"]["int8"]["size_bytes"]
    return {
        "e2e_int8_per_hop": entry("e2e_int8_per_hop", result["e2e"]["int8"]["p50_ms"], lambda v: v <= E2E_TARGET_MS, "<= 2 ms"),
        "runtime_peak_rss": entry("runtime_peak_rss", mem["runtime_peak_rss_mb"], lambda v: v <= RSS_TARGET_MB, "<= 50 MB"),
        "rss_vs_tf_pipeline": entry("rss_vs_tf_pipeline", mem["alt_vs_runtime"], lambda v: v >= RSS_RATIO_TARGET, ">= 10x"),
        "cold_start": entry("cold_start", result["cold_start"]["cli_s"], lambda v: v <= COLD_START_TARGET_S, "<= 0.5 s"),
        "int8_accuracy_drop": entry("int8_accuracy_drop", result["accuracy"]["int8_drop_pp"],
                                    lambda v: v <= ACCURACY_DROP_TARGET_PP, "<= 1 pp"),
        "int8_faster_than_float": entry("int8_faster_than_float", inf["int8_speedup_vs_float"], lambda v: v > 1.0, "> 1x"),
        "int8_model_size": entry("int8_model_size", _r(size / 1000, 1) if size else None,
                                 lambda v: v * 1000 <= SIZE_TARGET_BYTES, "<= 200 kB"),
    }


# --------------------------------------------------------------------------- rendering


def _fmt(v: Any, unit: str = "", digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        text = f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:,.0f}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = str(v)
    return f"{text} {unit}".strip()


def _lat(stats: dict[str, Any]) -> str:
    if not stats or stats.get("p50_ms") is None:
        return "-"
    return f"{stats['p50_ms']:.3g} / {stats['p95_ms']:.3g} / {stats['p99_ms']:.3g} ms (n={stats['n']})"


def _status(t: dict[str, Any] | None) -> str:
    if t is None:
        return ""
    return "n/a" if t["met"] is None else ("OK" if t["met"] else "MISS")


def report_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(section, metric, value, target, status) rows shared by the text and markdown reports."""
    t = r["targets"]
    d, inf, e2e, mem, cold, acc, cost, models = (r["dsp"], r["inference"], r["e2e"], r["memory"], r["cold_start"],
                                                 r["accuracy"], r["cost"], r["models"])
    rows = []

    def add(section, metric, value, target=None, key=None):
        rows.append((section, metric, value, target or "", _status(t.get(key)) if key else ""))

    add("DSP", "edge_genre front end, 3-s window (p50/p95/p99)", _lat(d["edge_genre_batch"]))
    add("DSP", f"edge_genre streaming, per hop ({d['stream_frames_per_hop'] or '-'} frames)", _lat(d["edge_genre_stream"]))
    add("DSP", "librosa front end, 3-s window", _lat(d["librosa"]))
    add("DSP", "python_speech_features MFCC, 3-s window", _lat(d["psf"]))
    add("DSP", "speedup vs librosa / psf (batch)", f"{_fmt(d['speedup_vs_librosa'], 'x')} / {_fmt(d['speedup_vs_psf'], 'x')}")
    add("DSP", "streaming hop vs librosa window", _fmt(d["stream_speedup_vs_librosa"], "x"))
    add("DSP", "max |edge_genre - librosa| features", _fmt(d["max_abs_diff_vs_librosa"]))
    add("Inference", "int8 TFLite predict (p50/p95/p99)", _lat(inf["int8"]))
    add("Inference", "float TFLite predict", _lat(inf["float"]))
    add("Inference", "Keras predict_on_batch", _lat(inf["keras"]))
    add("Inference", "Keras tf.function call", _lat(inf["keras_graph"]))
    add("Inference", "int8 speedup vs float TFLite", _fmt(inf["int8_speedup_vs_float"], "x"), TARGETS["int8_faster_than_float"][0], "int8_faster_than_float")
    add("Inference", "int8 speedup vs Keras (predict_on_batch / graph)",
        f"{_fmt(inf['int8_speedup_vs_keras'], 'x')} / {_fmt(inf['int8_speedup_vs_keras_graph'], 'x')}")
    add("End to end", f"int8 per hop ({e2e['hop_ms']} ms of audio)", _lat(e2e["int8"]), TARGETS["e2e_int8_per_hop"][0], "e2e_int8_per_hop")
    add("End to end", "float per hop", _lat(e2e["float"]))
    add("End to end", "int8 real-time factor (time / audio)",
        f"{_fmt(e2e['int8_rtf'])} ({_fmt(e2e['int8_x_realtime'], 'x real time')})")
    add("Memory", "runtime peak RSS (import, load, classify 30 s)", _fmt(mem["runtime_peak_rss_mb"], "MB"), TARGETS["runtime_peak_rss"][0], "runtime_peak_rss")
    add("Memory", "  after import / after model load", f"{_fmt(mem['runtime_rss_after_import_mb'], 'MB')} / {_fmt(mem['runtime_rss_after_load_mb'], 'MB')}")
    add("Memory", "  bare Python interpreter", _fmt(mem["python_baseline_rss_mb"], "MB"))
    add("Memory", "TF + librosa pipeline peak RSS", _fmt(mem["alt_pipeline_peak_rss_mb"], "MB"))
    add("Memory", "  pipeline", mem["alt_pipeline"] or "-")
    add("Memory", "TF pipeline / runtime RSS", _fmt(mem["alt_vs_runtime"], "x"), TARGETS["rss_vs_tf_pipeline"][0], "rss_vs_tf_pipeline")
    for kind in ("int8", "float"):
        m = models[kind]
        if m["size_bytes"] is not None:
            add("Model", f"{kind} file size", _fmt(m["size_bytes"] / 1000, "kB"),
                TARGETS["int8_model_size"][0] if kind == "int8" else None, "int8_model_size" if kind == "int8" else None)
            add("Model", f"{kind} tensors: weights / activations peak (sum) / state",
                f"{_fmt(m['weights_bytes'] / 1000, 'kB')} / {_fmt(m['activation_bytes_peak'] / 1000, 'kB')} "
                f"({_fmt(m['activation_bytes_total'] / 1000, 'kB')}) / {_fmt(m['variable_bytes'] / 1000, 'kB')}")
    if models["keras"]["size_bytes"] is not None:
        add("Model", "Keras file size", _fmt(models["keras"]["size_bytes"] / 1000, "kB"))
    add("Cold start", "edge-genre classify 3-s clip (median wall)", _fmt(cold["cli_s"], "s"), TARGETS["cold_start"][0], "cold_start")
    add("Cold start", "  python startup / import / model load", f"{_fmt(cold['python_startup_s'], 's')} / {_fmt(cold['import_s'], 's')} / {_fmt(cold['load_s'], 's')}")
    if acc["ran"]:
        where = "held-out clips" if acc["held_out"] else "NOT held out (training data, not meaningful)"
        add("Accuracy", f"clips / windows ({where})", f"{acc['n_clips']} / {acc['n_windows']}")
        for kind in ("int8", "float", "keras"):
            if acc[kind]["window"] is not None:
                add("Accuracy", f"{kind} window / clip accuracy", f"{acc[kind]['window']:.3f} / {acc[kind]['clip']:.3f}")
        add("Accuracy", "top-1 agreement int8-float / int8-keras / float-keras",
            " / ".join(_fmt(acc[k]) for k in ("agreement_int8_float", "agreement_int8_keras", "agreement_float_keras")))
        add("Accuracy", "int8 drop vs float (window)", "-" if acc["int8_drop_pp"] is None else f"{acc['int8_drop_pp']:+.3f} pp", TARGETS["int8_accuracy_drop"][0], "int8_accuracy_drop")
    else:
        add("Accuracy", "not measured", "-", TARGETS["int8_accuracy_drop"][0], "int8_accuracy_drop")
    add("Cost", "matmul peak (float32)", f"{_fmt(cost['peak_gflops'], 'GFLOP/s')} = {_fmt(cost['peak_gmacs'], 'GMAC/s')}")
    add("Cost", "DSP flops per window / per hop", f"{_fmt(cost['dsp_flops_per_window'] / 1e6, 'MFLOP')} / "
        f"{_fmt(cost['dsp_flops_per_hop'] / 1e6 if cost['dsp_flops_per_hop'] else None, 'MFLOP')}")
    add("Cost", "DSP achieved, batch / streaming", f"{_fmt(cost['dsp_batch_gflops'], 'GFLOP/s')} ({_pct(cost['dsp_batch_fraction_of_peak'])}) / "
        f"{_fmt(cost['dsp_stream_gflops'], 'GFLOP/s')} ({_pct(cost['dsp_stream_fraction_of_peak'])})")
    for kind in ("int8", "float"):
        macs = models[kind]["macs"]
        if macs:
            add("Cost", f"{kind} model MACs per window / achieved",
                f"{_fmt(macs / 1e6, 'M')} / {_fmt(cost[f'{kind}_gmacs'], 'GMAC/s')} ({_pct(cost[f'{kind}_fraction_of_peak'])} of peak)")
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2g}%"


TEXT_WIDTH = 100


def format_text(r: dict[str, Any]) -> str:
    """A plain-text table of the result (about 100 columns): figures by section, then the targets
    with their status (OK / MISS / n/a), then the notes."""
    rows = report_rows(r)
    env = r["env"]
    head = [f"edge-genre bench: {r['models']['int8']['path']}",
            f"  {env['cpu']} ({env['cpu_count']} CPUs, load {env['loadavg_1min']}) | {env['backend']}, "
            f"{env['threads']} thread(s), repeat {env['repeat']} | input {r['input']['source']}"]
    w_metric = max(len(x[1]) for x in rows)
    lines = head + [""]
    section = None
    targets = []
    for sec, metric, value, target, status in rows:
        if sec != section:
            lines.append(f"[{sec}]")
            section = sec
        # long values (the TF pipeline's description) wrap under the value column
        wrapped = textwrap.wrap(value, max(30, TEXT_WIDTH - w_metric - 4)) or [""]
        lines.append(f"  {metric:<{w_metric}}  {wrapped[0]}".rstrip())
        lines += [f"  {'':<{w_metric}}  {more}" for more in wrapped[1:]]
        if target:
            targets.append(f"  {status:<4} {target}: {value}")
    if targets:
        lines += ["[Targets]"] + targets
    if r["notes"]:
        lines += ["", "notes:"] + [f"  - {n}" for n in r["notes"]]
    return "\n".join(lines)


def format_markdown(r: dict[str, Any]) -> str:
    """A markdown report: environment, one table of figures with targets, notes."""
    env = r["env"]
    lines = [
        "# edge-genre benchmark",
        "",
        f"- model: `{r['models']['int8']['path']}` ({r['models']['int8']['quantization']}); float reference: "
        f"`{r['models']['float']['path'] or '-'}`; Keras: `{r['models']['keras']['path'] or '-'}`",
        f"- machine: {env['cpu']}, {env['cpu_count']} CPUs, {env['platform']}, 1-min load {env['loadavg_1min']}",
        f"- runtime: {env['backend']}, {env['threads']} thread(s); Python {env['python']}, NumPy {env['numpy']}, "
        f"TensorFlow {env['tensorflow'] or '-'}, librosa {env['librosa'] or '-'}",
        f"- input: {r['input']['source']} audio, {r['input']['window_s']} s windows, {r['input']['hop_s']} s hop; "
        f"{env['repeat']} timed repetitions after {env['warmup']} warm-up (latencies p50 / p95 / p99)",
        "",
        "| section | metric | value | target | status |",
        "|---|---|---|---|---|",
    ]
    for sec, metric, value, target, status in report_rows(r):
        cells = [c.replace("|", "\\|") for c in (sec, metric.strip(), value, target, status)]
        lines.append("| " + " | ".join(cells) + " |")
    if r["notes"]:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def plot_bars(r: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(group, label, stats) of every latency that was measured, in plot order."""
    d, inf, e2e = r["dsp"], r["inference"], r["e2e"]
    bars = [("DSP", "edge_genre front end (3-s window)", d["edge_genre_batch"]),
            ("DSP", "edge_genre streaming (hop)", d["edge_genre_stream"]),
            ("DSP", "librosa front end (3-s window)", d["librosa"]),
            ("DSP", "python_speech_features (3-s window)", d["psf"]),
            ("Inference", "int8 TFLite", inf["int8"]), ("Inference", "float TFLite", inf["float"]),
            ("Inference", "Keras predict_on_batch", inf["keras"]), ("Inference", "Keras tf.function", inf["keras_graph"]),
            ("End to end", "int8 per hop", e2e["int8"]), ("End to end", "float per hop", e2e["float"])]
    return [b for b in bars if b[2]["p50_ms"] is not None]


def write_plot(r: dict[str, Any], path: str | os.PathLike) -> str | None:
    """Horizontal latency bar chart (p50, whisker to p95; log scale). Returns a message when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no plot written"
    bars = plot_bars(r)
    if not bars:
        return "no latency was measured: no plot written"
    colors = {"DSP": "#4c72b0", "Inference": "#dd8452", "End to end": "#55a868"}
    labels = [f"{g}: {lab}" for g, lab, _ in bars][::-1]
    p50 = np.array([s["p50_ms"] for _, _, s in bars])[::-1]
    p95 = np.array([s["p95_ms"] for _, _, s in bars])[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(bars) + 1.5))
    ax.barh(labels, p50, xerr=[np.zeros_like(p50), np.maximum(p95 - p50, 0)], capsize=3,
            color=[colors[g] for g, _, _ in bars][::-1])
    for yi, (v, hi) in enumerate(zip(p50, p95)):
        ax.text(max(v, hi) * 1.12, yi, f"{v:.3g} ms", va="center", fontsize=8)
    ax.axvline(E2E_TARGET_MS, color="crimson", ls="--", lw=1, label=f"end-to-end target {E2E_TARGET_MS:g} ms")
    ax.set_xscale("log")
    ax.set_xlim(min(float(p50.min()), E2E_TARGET_MS) / 2, max(float(p95.max()), E2E_TARGET_MS) * 4)
    ax.set_xlabel("ms (p50, whisker to p95; log scale)")
    env = r["env"]
    ax.set_title(f"edge-genre latency - {env['cpu']}, {env['threads']} thread(s)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)
    plt.close(fig)
    return None


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of nested dicts (``dsp.edge_genre_batch.p50_ms``); lists and leaves are values."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in ("models.int8.macs_by_op", "models.float.macs_by_op"):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
