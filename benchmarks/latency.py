"""In-process latency stages: the front end (DSP), model inference and audio-in -> genre-out per hop."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edge_genre.config import FeatureConfig

from . import common
from .common import TIME_BUDGET_S, empty_stats, latency_stats, ratio, rnd, tiled, time_calls


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
    if common.installed("librosa"):
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
            result["max_abs_diff_vs_librosa"] = rnd(float(np.max(np.abs(ours - theirs))))
    else:
        notes.append("librosa not installed: DSP comparison with librosa skipped")
    if common.installed("python_speech_features"):
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
