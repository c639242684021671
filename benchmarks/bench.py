"""The benchmark driver: :func:`run_benchmark` checks its arguments, loads the models and the input,
then runs one function per stage and assembles the result.

One call measures, on the same input audio:

- **DSP**: edge_genre's MFCC per 3-s window (batch) and per hop (streaming),
  against librosa and python_speech_features when installed (:mod:`benchmarks.latency`).
- **Inference**: the int8 and float TFLite models through
  :class:`~edge_genre.classifier.GenreClassifier`, and a Keras model when one
  is given and TensorFlow is installed.
- **End to end**: audio chunk in -> genre out (``StreamingMFCC.push`` +
  ``classify_window``) per hop, and the real-time factor.
- **Memory**: peak RSS of a fresh runtime process that loads the model and
  classifies a clip, and of the TensorFlow + librosa pipeline doing the same
  job (:mod:`benchmarks.processes`, :mod:`benchmarks.probes`); model file sizes; tensor memory.
- **Cold start**: wall clock from process start to the first result of
  ``edge-genre classify`` on a 3-s clip.
- **Accuracy** of int8 vs float vs Keras on the held-out clips of a GTZAN
  directory (the model's ``held_out_clips`` metadata; :mod:`benchmarks.accuracy`).
- **Cost model**: MACs per window from the TFLite graph, FFT/mel/DCT
  operations per window, and the achieved fraction of a measured float32
  matmul peak on the same core(s) (:mod:`benchmarks.model_stats`).

The result is a JSON-serialisable dict whose keys are documented in
``benchmarks/BENCH_KEYS.md``; every documented key is always present (``null``
when that part was skipped; ``notes`` says why). :mod:`benchmarks.report` renders it.
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_genre.config import FeatureConfig
from edge_genre.errors import EdgeGenreError, ModelError

from . import common
from .accuracy import bench_accuracy, default_data_dir, empty_accuracy, find_gtzan_roots
from .common import (AUTO, DEFAULT_HOP_SECONDS, DEFAULT_REPEAT, SCHEMA_VERSION, STAGES, TIME_BUDGET_S, cpu_name,
                     empty_stats, latency_stats, loadavg, module_version, progress_bar, ratio, rnd,
                     runtime_blas_threads, synthetic_audio, tiled, time_calls)
from .latency import bench_dsp, bench_e2e, bench_inference
from .model_stats import cost_model, empty_model_entry, model_entry
from .models import load_keras, resolve_float_model, resolve_keras_model
from .processes import bench_alt_pipeline, bench_cold_start, bench_memory
from .report import evaluate_targets


@dataclass
class Run:
    """Everything the stages share: the models, the input and its features, the settings, the notes."""

    clf: Any
    clf_float: Any
    keras_path: Path | None
    data: str | os.PathLike | None
    data_dir: Path | None
    max_clips: int | None
    y: np.ndarray
    source: str
    hop_seconds: float
    threads: int
    repeat: int
    warmup: int
    budget_s: float | None
    skip: set[str]
    progress: bool
    notes: list[str]
    features: list[np.ndarray] = field(default_factory=list)
    keras: Any = None
    bar: Any = None

    @property
    def config(self) -> FeatureConfig:
        """The model's front-end configuration (the float reference's is the same)."""
        return self.clf.config

    def step(self, name: str) -> None:
        """Show the stage now running."""
        self.bar.set_description(name)

    def begin(self, stage: str, label: str | None = None) -> bool:
        """Start ``stage`` (shown as ``label``); False, with a note, when it is skipped."""
        if stage in self.skip:
            self.notes.append(f"{label or stage} skipped")
            return False
        self.step(label or stage)
        return True


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
    skip : names from :data:`~benchmarks.common.STAGES`
        Parts to leave out (their keys are null).
    progress : bool
        Report progress on stderr (:mod:`edge_genre.progress`: a line rewritten in place on a
        terminal, a line per stage elsewhere).
    """
    run = prepare(model, float_model, keras_model, threads, repeat, warmup, data, max_clips, audio, hop_seconds,
                  skip, progress, time_budget_s)
    result = result_header(run)
    stage_list = [s for s in ("dsp", "inference", "e2e", "keras", "memory", "alt-pipeline", "cold-start", "accuracy", "cost")
                  if s not in run.skip and not (s == "keras" and run.keras_path is None)
                  and not (s == "accuracy" and run.data_dir is None)]
    run.bar = progress_bar(len(stage_list), "stages", progress)
    record_blas(result, run.notes)
    with runtime_blas_threads() as limited:
        result["env"]["blas_threads_limited"] = bool(limited)
        if not limited:
            run.notes.append("BLAS runs with several threads (a BLAS thread variable was set before edge-genre "
                             "was imported): the front end's timings are not what a default install runs")
        result["dsp"] = stage_dsp(run)
        result["inference"] = stage_inference(run)
        result["e2e"] = stage_e2e(run)
        stage_keras(run, result)  # imports TensorFlow into this process: after the TFLite timings
    result["memory"], result["cold_start"] = subprocess_stages(run)
    result["accuracy"] = stage_accuracy(run)
    result["cost"] = stage_cost(run, result)
    run.bar.desc = "all stages"
    run.bar.close()
    result["targets"] = evaluate_targets(result)
    result["notes"] = run.notes
    return result


# --------------------------------------------------------------------------- set-up


def prepare(model: str | os.PathLike, float_model: str | os.PathLike | None, keras_model: str | os.PathLike | None,
            threads: int, repeat: int, warmup: int | None, data: str | os.PathLike | None, max_clips: int | None,
            audio: str | os.PathLike | None, hop_seconds: float, skip: tuple[str, ...] | list[str], progress: bool,
            budget_s: float | None) -> Run:
    """Check the arguments, load the models, find the data and the input audio (:func:`run_benchmark`'s
    arguments). Everything that can fail on bad arguments happens here, before any long measurement."""
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
    clf, clf_float = load_models(model, float_model, threads, notes)
    keras_path = resolve_keras_model(keras_model) if keras_model is not None else None
    data_dir = find_data(data, notes)
    if "accuracy" in skip:
        data_dir = None
    y, source = input_audio(audio, clf.config)
    return Run(clf=clf, clf_float=clf_float, keras_path=keras_path, data=data, data_dir=data_dir, max_clips=max_clips,
               y=y, source=source, hop_seconds=hop_seconds, threads=threads, repeat=repeat, warmup=warmup,
               budget_s=budget_s, skip=skip, progress=progress, notes=notes)


def load_models(model: str | os.PathLike, float_model: str | os.PathLike | None, threads: int,
                notes: list[str]) -> tuple[Any, Any]:
    """The classifier under test and its float reference (None, with a note, when there is none)."""
    from edge_genre.classifier import GenreClassifier

    clf = GenreClassifier(model, num_threads=threads)
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
    if clf_float is not None and (clf_float.config != clf.config or clf_float.labels != clf.labels):
        raise ModelError(f"{clf_float.path}: feature configuration or labels differ from {clf.path}")
    return clf, clf_float


def find_data(data: str | os.PathLike | None, notes: list[str]) -> Path | None:
    """The GTZAN directory for the accuracy stage: ``"auto"`` looks for one, a path must hold GTZAN genres."""
    if data == AUTO:
        data_dir = default_data_dir()
        if data_dir is None:
            notes.append("no data directory (--data, $EDGE_GENRE_DATA or ../shared/data): accuracy skipped")
        return data_dir
    if data is None:
        return None
    data_dir = Path(data)
    if not data_dir.is_dir():
        raise EdgeGenreError(f"{data_dir}: no such data directory")
    find_gtzan_roots(data_dir)  # fail now on a directory without GTZAN genre folders
    return data_dir


def input_audio(audio: str | os.PathLike | None, config: FeatureConfig) -> tuple[np.ndarray, str]:
    """The latency input: the audio file (tiled to one window at least) or the synthetic 30-s signal."""
    from edge_genre.audio import load_audio

    if audio is None:
        return synthetic_audio(30.0, config.sample_rate), "synthetic"
    y = load_audio(audio, sr=config.sample_rate)
    if y.size < config.window_samples:
        y = tiled(y, config.window_samples)
    return y, str(audio)


def result_header(run: Run) -> dict[str, Any]:
    """``schema_version``, ``env``, ``input`` and ``models`` of the result; computes the window features."""
    from edge_genre import __version__
    from edge_genre.dsp import window_features
    from edge_genre.streaming import hop_frames_for

    config, y = run.config, run.y
    hop_samples = hop_frames_for(run.hop_seconds, config) * config.hop_length
    hop_ms = 1e3 * hop_samples / config.sample_rate
    tf_installed = common.installed("tensorflow")
    keras_path = run.keras_path
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "env": {
            "edge_genre": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "machine": platform.machine(), "cpu": cpu_name(),
            "cpu_count": os.cpu_count(), "loadavg_1min": loadavg(), "backend": run.clf.backend,
            "threads": run.threads, "repeat": run.repeat, "warmup": run.warmup, "blas_threads_limited": False,
            "tensorflow": module_version("tensorflow") if tf_installed else None,
            "librosa": module_version("librosa"), "python_speech_features": module_version("python_speech_features"),
        },
        "input": {"source": run.source, "sample_rate": config.sample_rate, "seconds": rnd(y.size / config.sample_rate, 3),
                  "window_s": rnd(config.window_samples / config.sample_rate, 4), "hop_s": rnd(hop_ms / 1e3, 4),
                  "hop_samples": hop_samples},
        "models": {"int8": model_entry(run.clf),
                   "float": model_entry(run.clf_float) if run.clf_float else empty_model_entry(),
                   "keras": {"path": str(keras_path) if keras_path else None,
                             "size_bytes": keras_path.stat().st_size if keras_path else None, "parameters": None}},
    }
    load = loadavg()
    if load is not None and os.cpu_count() and load > 0.5 * os.cpu_count():
        run.notes.append(f"machine busy (1-min load {load} on {os.cpu_count()} CPUs): timings are noisy; "
                         "re-run on a quiet machine")
    windows = [y[i * config.window_samples : (i + 1) * config.window_samples]
               for i in range(max(1, y.size // config.window_samples))]
    run.features = [window_features(w, config) for w in windows]
    return result


def record_blas(result: dict[str, Any], notes: list[str]) -> None:
    """``env.blas``: who set the BLAS threads, and how many the pools run."""
    from edge_genre.blas import blas_threads

    info = blas_threads()
    result["env"]["blas"] = {"set_by_edge_genre": info["set_by_edge_genre"],
                             "openblas_num_threads": info["env"].get("OPENBLAS_NUM_THREADS"),
                             "max_pool_threads": max((p.get("threads") or 0 for p in info.get("pools", [])), default=None)}


# --------------------------------------------------------------------------- in-process stages


def stage_dsp(run: Run) -> dict[str, Any]:
    """The ``dsp`` section (:func:`~benchmarks.latency.bench_dsp`)."""
    dsp = {"edge_genre_batch": empty_stats(), "edge_genre_stream": empty_stats(), "librosa": empty_stats(),
           "psf": empty_stats(), "speedup_vs_librosa": None, "speedup_vs_psf": None,
           "stream_speedup_vs_librosa": None, "stream_vs_batch": None, "max_abs_diff_vs_librosa": None,
           "stream_frames_per_hop": None, "batch_frames_per_window": run.config.n_frames}
    if run.begin("dsp"):
        dsp.update(bench_dsp(run.y, run.config, run.hop_seconds, run.repeat, run.warmup, run.notes, run.budget_s))
        run.bar.update(1)
    return dsp


def stage_inference(run: Run) -> dict[str, Any]:
    """The ``inference`` section: int8 and float TFLite (Keras is added by :func:`stage_keras`)."""
    inf = {"int8": empty_stats(), "float": empty_stats(), "keras": empty_stats(), "keras_graph": empty_stats(),
           "keras_call": "predict_on_batch (per window); keras_graph: tf.function(model(x, training=False))",
           "int8_speedup_vs_float": None, "int8_speedup_vs_keras": None, "int8_speedup_vs_keras_graph": None}
    if run.begin("inference"):
        inf["int8"] = bench_inference(run.clf, run.features, run.repeat, run.warmup, run.budget_s)
        if run.clf_float is not None:
            inf["float"] = bench_inference(run.clf_float, run.features, run.repeat, run.warmup, run.budget_s)
        run.bar.update(1)
    return inf


def stage_e2e(run: Run) -> dict[str, Any]:
    """The ``e2e`` section: audio hop in -> genre out, and the real-time factor."""
    from edge_genre.streaming import hop_frames_for

    config = run.config
    hop_ms = 1e3 * hop_frames_for(run.hop_seconds, config) * config.hop_length / config.sample_rate
    e2e = {"int8": empty_stats(), "float": empty_stats(), "hop_ms": rnd(hop_ms, 3),
           "int8_rtf": None, "float_rtf": None, "int8_x_realtime": None}
    if not run.begin("e2e"):
        return e2e
    e2e["int8"] = bench_e2e(run.clf, run.y, run.hop_seconds, run.repeat, run.warmup)
    if run.clf_float is not None:
        e2e["float"] = bench_e2e(run.clf_float, run.y, run.hop_seconds, run.repeat, run.warmup)
    e2e["int8_rtf"] = ratio(e2e["int8"]["p50_ms"], hop_ms)
    e2e["float_rtf"] = ratio(e2e["float"]["p50_ms"], hop_ms)
    e2e["int8_x_realtime"] = rnd(hop_ms / e2e["int8"]["p50_ms"], 1) if e2e["int8"]["p50_ms"] else None
    run.bar.update(1)
    return e2e


def stage_keras(run: Run, result: dict[str, Any]) -> None:
    """Load the Keras model (``run.keras``), time it into ``inference``, and fill the int8 speedups."""
    inf = result["inference"]
    if run.keras_path is not None and "keras" not in run.skip:
        run.step("keras")
        if not common.installed("tensorflow"):
            run.notes.append("TensorFlow not installed: Keras model skipped")
        else:
            run.keras, predict_on_batch, graph = load_keras(run.keras_path, run.threads)
            result["models"]["keras"]["parameters"] = int(run.keras.count_params())
            kx = [f[np.newaxis, ..., np.newaxis].astype(np.float32) for f in run.features]
            if "inference" not in run.skip:
                warm = max(3, run.warmup)
                inf["keras"] = latency_stats(time_calls(lambda i: predict_on_batch(kx[i % len(kx)]), run.repeat,
                                                        warm, run.budget_s))
                inf["keras_graph"] = latency_stats(time_calls(lambda i: graph(kx[i % len(kx)]), run.repeat,
                                                              warm, run.budget_s))
        run.bar.update(1)
    elif run.keras_path is None:
        run.notes.append("no Keras model (--keras-model): Keras figures skipped")
    inf["int8_speedup_vs_float"] = ratio(inf["float"]["p50_ms"], inf["int8"]["p50_ms"])
    inf["int8_speedup_vs_keras"] = ratio(inf["keras"]["p50_ms"], inf["int8"]["p50_ms"])
    inf["int8_speedup_vs_keras_graph"] = ratio(inf["keras_graph"]["p50_ms"], inf["int8"]["p50_ms"])


# --------------------------------------------------------------------------- subprocess stages


def subprocess_stages(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``memory`` and ``cold_start`` sections, measured in fresh processes on clips written to a temp dir."""
    import soundfile as sf

    memory = {"runtime_peak_rss_mb": None, "runtime_rss_after_import_mb": None, "runtime_rss_after_load_mb": None,
              "runtime_load_rss_delta_mb": None, "runtime_wall_s": None, "python_baseline_rss_mb": None,
              "alt_pipeline": None, "alt_pipeline_peak_rss_mb": None, "alt_pipeline_wall_s": None, "alt_vs_runtime": None}
    cold = {"cli_s": None, "cli_min_s": None, "runs": 0, "command": None, "python_startup_s": None,
            "import_s": None, "load_s": None}
    config = run.config
    with tempfile.TemporaryDirectory(prefix="edge-genre-bench-") as tmp:
        clip30 = Path(tmp) / "clip30.wav"
        clip3 = Path(tmp) / "clip3.wav"
        sf.write(str(clip30), tiled(run.y, 30 * config.sample_rate), config.sample_rate, subtype="PCM_16")
        sf.write(str(clip3), tiled(run.y, config.window_samples), config.sample_rate, subtype="PCM_16")
        stage_memory(run, clip30, memory, cold)
        stage_alt_pipeline(run, clip30, memory)
        memory["alt_vs_runtime"] = ratio(memory["alt_pipeline_peak_rss_mb"], memory["runtime_peak_rss_mb"])
        stage_cold_start(run, clip3, cold)
    return memory, cold


def stage_memory(run: Run, clip30: Path, memory: dict[str, Any], cold: dict[str, Any]) -> None:
    """The runtime's RSS into ``memory``; its import and load times into ``cold``."""
    if not run.begin("memory"):
        return
    mem, err = bench_memory(run.clf.path, clip30, run.threads)
    breakdown = mem.pop("_breakdown", None)
    memory.update(mem)
    if err:
        run.notes.append(err)
    if breakdown:
        cold.update({"import_s": rnd(breakdown["import_s"], 3), "load_s": rnd(breakdown["load_s"], 3)})
    run.bar.update(1)


def stage_alt_pipeline(run: Run, clip30: Path, memory: dict[str, Any]) -> None:
    """The TF + librosa pipeline's RSS into ``memory`` (with the Keras model, else the float TFLite one)."""
    if not run.begin("alt-pipeline", "TF + librosa pipeline"):
        return
    err = ""
    missing = [m for m in ("tensorflow", "librosa") if not common.installed(m)]
    if missing:
        run.notes.append(f"{' and '.join(missing)} not installed: TF + librosa pipeline memory skipped")
    elif run.keras_path is not None:
        memory["alt_pipeline"] = "librosa.load + librosa front end + Keras model.predict (TensorFlow)"
        alt, err = bench_alt_pipeline("keras", run.keras_path, clip30, run.config, run.threads)
        memory.update(alt)
    elif run.clf_float is not None:
        memory["alt_pipeline"] = ("librosa.load + librosa front end + tf.lite.Interpreter float model "
                                  "(TensorFlow; no Keras model given)")
        alt, err = bench_alt_pipeline("tflite", run.clf_float.path, clip30, run.config, run.threads)
        memory.update(alt)
    else:
        err = "TF + librosa pipeline skipped: needs a Keras model or a float TFLite model"
    if err:
        run.notes.append(err)
    run.bar.update(1)


def stage_cold_start(run: Run, clip3: Path, cold: dict[str, Any]) -> None:
    """``edge-genre classify`` on a 3-s clip, process start to exit, into ``cold``."""
    if not run.begin("cold-start", "cold start"):
        return
    runs = max(2, min(7, run.repeat // 10))
    cs, err = bench_cold_start(run.clf.path, clip3, run.threads, runs)
    cold.update(cs)
    if err:
        run.notes.append(err)
    run.bar.update(1)


# --------------------------------------------------------------------------- accuracy and cost


def stage_accuracy(run: Run) -> dict[str, Any]:
    """The ``accuracy`` section; with ``data="auto"`` a data directory that fails is a note, not an error."""
    if run.data_dir is None:
        return empty_accuracy()
    run.step("accuracy")
    try:
        acc = bench_accuracy(run.data_dir, run.clf, run.clf_float, run.keras, run.max_clips, run.notes, run.progress)
    except EdgeGenreError as exc:
        if run.data != AUTO:
            raise
        run.notes.append(f"accuracy skipped: {exc}")
        acc = empty_accuracy()
    run.bar.update(1)
    return acc


def stage_cost(run: Run, result: dict[str, Any]) -> dict[str, Any]:
    """The ``cost`` section (:func:`~benchmarks.model_stats.cost_model`); the matmul peak unless skipped."""
    cost = cost_model(result, run.config, run.threads, run.notes, measure="cost" not in run.skip)
    if "cost" not in run.skip:
        run.bar.update(1)
    else:
        run.notes.append("matmul peak not measured (cost skipped): fractions of peak are null")
    return cost
