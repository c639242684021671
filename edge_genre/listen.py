"""Live genre classification: audio blocks in, one smoothed result per hop out.

:class:`LivePipeline` takes a :class:`~edge_genre.classifier.GenreClassifier`
and an audio source (:mod:`edge_genre.capture`: microphone, file, array) that
yields ``(block, overflow)`` at the source's native rate and channel count.
Per block, in the calling (main) thread:

1. downmix to mono (mean over channels, the same float32 values as
   :func:`edge_genre.audio.to_mono`);
2. resample to the model's rate with a streaming ``soxr.ResampleStream`` (HQ);
   its output is sample-for-sample what :func:`edge_genre.audio.load_audio`
   gives for the whole file;
3. push into :class:`~edge_genre.streaming.StreamingMFCC`, which transforms only
   the frames not seen before and emits every completed window. The hop is
   rounded to whole frames (1 s becomes 43 frames = 0.9985 s at 22050 Hz / 512),
   exactly as ``edge-genre classify --hop`` rounds it, so window *k* starts at
   sample ``k * hop_samples`` in both;
4. classify the window: windows whose RMS (DC offset removed) is below ``SILENCE_DBFS`` (-60 dBFS)
   are "silence" and skip the model (the same gate as ``classify``); others get
   the model's probabilities;
5. smooth: the reported genre is the argmax of the mean (uncalibrated)
   probabilities of the non-silent windows among the last ``smooth`` windows,
   tempered by the model's calibration. A silent window is reported as
   "silence" (never as a genre) and does not enter the mean. When the mean
   music score of those windows is below the detector's threshold the result
   is "not_music"; when the smoothed confidence is below ``threshold`` it is
   "uncertain".

Everything kept between hops is bounded: the resampler state, the feature
extractor's buffers, a ring of the last window of samples, a deque of the last
``smooth`` probability vectors, counters, a per-label histogram and log-spaced
latency histograms (:class:`LatencyHistogram`) for the p50/p95/p99 of the
summary. Nothing grows with run time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio import to_mono
from .classifier import SILENCE, GenreClassifier, WindowResult, rms_dbfs
from .music_detector import NOT_MUSIC
from .errors import AudioError
from .streaming import StreamingMFCC

UNCERTAIN = "uncertain"
DEFAULT_HOP_SECONDS = 1.0
DEFAULT_SMOOTH = 5
DEFAULT_TOP_K = 3


class LatencyHistogram:
    """Fixed-size log-spaced histogram of durations (ms): bounded memory for runs of any length.

    Bins grow by ``ratio`` (2 % by default) from ``lo_ms`` to ``hi_ms``; percentiles are
    exact to within one bin (the geometric centre of the bin is returned). Count, mean and
    maximum are exact.
    """

    def __init__(self, lo_ms: float = 1e-3, hi_ms: float = 1e5, ratio: float = 1.02) -> None:
        self.lo, self.log_ratio = lo_ms, math.log(ratio)
        self.n_bins = int(math.ceil(math.log(hi_ms / lo_ms) / self.log_ratio)) + 2  # + under/overflow bins
        self.counts = np.zeros(self.n_bins, dtype=np.int64)
        self.count, self.total, self.max = 0, 0.0, 0.0

    def add(self, ms: float) -> None:
        if ms <= self.lo:
            index = 0
        else:
            index = min(self.n_bins - 1, 1 + int(math.log(ms / self.lo) / self.log_ratio))
        self.counts[index] += 1
        self.count += 1
        self.total += ms
        self.max = max(self.max, ms)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def percentile(self, q: float) -> float:
        """Approximate ``q``-th percentile (0-100) in ms; NaN when empty."""
        if not self.count:
            return float("nan")
        rank = max(1, int(math.ceil(q / 100.0 * self.count)))
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        if index == 0:
            return self.lo
        if index >= self.n_bins - 1:
            return self.max
        centre = self.lo * math.exp((index - 0.5) * self.log_ratio)
        return min(centre, self.max)

    def summary(self) -> dict[str, float]:
        def r(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 3)

        return {"mean": r(self.mean), "p50": r(self.percentile(50)), "p95": r(self.percentile(95)),
                "p99": r(self.percentile(99)), "max": r(self.max) if self.count else None, "count": self.count}


def _downmix(block: np.ndarray) -> np.ndarray:
    """Mean of the channels of ``(frames, channels)`` float32, equal to :func:`edge_genre.audio.to_mono`.

    Mono and stereo (the microphone cases) take a fast path: for two channels the float64 sum
    rounded once to float32 equals ``to_mono``'s float32 mean, and column by column it is 3x
    faster than NumPy's reduction over a short axis. More channels use ``to_mono`` itself.
    """
    channels = block.shape[1]
    if channels == 1:
        return np.ascontiguousarray(block[:, 0], dtype=np.float32)
    if channels > 2:
        return to_mono(np.asarray(block, dtype=np.float32))
    acc = block[:, 0].astype(np.float64)
    for ch in range(1, channels):
        acc += block[:, ch]
    acc /= channels
    return acc.astype(np.float32)


class _SampleRing:
    """The last ``capacity`` mono samples of the stream, addressed by absolute sample index."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, dtype=np.float32)
        self.capacity = capacity
        self.end = 0  # absolute index one past the newest sample

    def write(self, x: np.ndarray) -> None:
        """Append ``x`` (at most ``capacity`` samples)."""
        n = x.size
        if n > self.capacity:
            raise AudioError(f"cannot buffer {n} samples at once (capacity {self.capacity})")  # pragma: no cover
        start = self.end % self.capacity
        first = min(n, self.capacity - start)
        self.data[start : start + first] = x[:first]
        self.data[: n - first] = x[first:]
        self.end += n

    def window(self, start: int, length: int) -> np.ndarray:
        if start < self.end - self.capacity or start + length > self.end:
            raise AudioError(f"samples {start}..{start + length} are no longer buffered")  # pragma: no cover
        i = start % self.capacity
        if i + length <= self.capacity:
            return self.data[i : i + length]
        return np.concatenate([self.data[i:], self.data[: i + length - self.capacity]])


@dataclass
class HopResult:
    """What the pipeline reports for one hop (one newly completed window)."""

    index: int  # hop number, from 0
    t: float  # stream time of the window's end, seconds (audio time at the model rate)
    window: WindowResult  # this window alone, unsmoothed (same as 'classify --windows')
    genre: str  # smoothed genre, "silence", "not_music" or "uncertain"
    confidence: float  # smoothed, calibrated probability of the best genre (0 for silence and not_music)
    probabilities: np.ndarray  # smoothed probabilities (zeros for silence)
    top_k: list[tuple[str, float]]
    smoothed_over: int  # non-silent windows in the mean
    dsp_ms: float
    inference_ms: float
    overflows: int  # overflow events so far
    unix_time: float
    features: np.ndarray | None = field(default=None, repr=False)
    music_score: float | None = None  # smoothed music score (None: no detector, or silence)

    @property
    def silent(self) -> bool:
        return self.window.silent

    @property
    def not_music(self) -> bool:
        return self.genre == NOT_MUSIC

    @property
    def uncertain(self) -> bool:
        return self.genre == UNCERTAIN

    def to_dict(self, labels: tuple[str, ...]) -> dict[str, Any]:
        """The JSON object printed by ``edge-genre listen --json`` (documented in listen_cli)."""
        w = self.window
        return {
            "t": round(self.t, 3),
            "genre": self.genre,
            "confidence": round(self.confidence, 4),
            "probabilities": {lab: round(float(p), 4) for lab, p in zip(labels, self.probabilities)},
            "dsp_ms": round(self.dsp_ms, 3),
            "inference_ms": round(self.inference_ms, 3),
            "silent": w.silent,
            "not_music": self.not_music,
            "music_score": None if self.music_score is None else round(self.music_score, 4),
            "uncertain": self.uncertain,
            "window_start_s": round(w.start_s, 3),
            "window": {"genre": w.genre, "confidence": round(w.confidence, 4),
                       "music_score": None if w.music_score is None else round(w.music_score, 4),
                       "level_dbfs": round(w.level_dbfs, 1) if math.isfinite(w.level_dbfs) else None},
            "top_k": [[g, round(p, 4)] for g, p in self.top_k],
            "smoothed_over": self.smoothed_over,
            "overflows": self.overflows,
            "hop": self.index,
            "unix_time": round(self.unix_time, 3),
        }


class LivePipeline:
    """Downmix, resample, incremental features, classification and smoothing of a live stream.

    Parameters
    ----------
    classifier : GenreClassifier
        The model (its :class:`FeatureConfig` sets rate, window and features).
    source : AudioSource
        Yields ``(block, overflow)`` with ``block`` of shape ``(frames, source.channels)``
        at ``source.sample_rate`` (see :mod:`edge_genre.capture`).
    hop_seconds : float
        Time between windows, rounded to whole frames (:attr:`hop_seconds` is the result).
    smooth : int
        Windows in the moving average (1 = no smoothing).
    top_k : int
        Genres listed per hop.
    threshold : float
        Smoothed confidence below this is reported as "uncertain" (0 disables).
    keep_features : bool
        Attach each window's features to its :class:`HopResult` (for tests).
    clock : callable
        Seconds counter for the DSP / inference costs: ``time.perf_counter`` (wall clock,
        the latency a listener sees) or ``time.thread_time`` (CPU time of this thread, what
        the work costs on a core, unaffected by other processes; used by the soak benchmark).

    Examples
    --------
    >>> clf = GenreClassifier("int8")                                     # doctest: +SKIP
    >>> pipe = LivePipeline(clf, FileSource("song.wav", realtime=False))  # doctest: +SKIP
    >>> for hop in pipe.run():                                            # doctest: +SKIP
    ...     print(hop.t, hop.genre, hop.confidence)
    >>> pipe.summary()                                                    # doctest: +SKIP
    """

    def __init__(self, classifier: GenreClassifier, source: Any, hop_seconds: float = DEFAULT_HOP_SECONDS,
                 smooth: int = DEFAULT_SMOOTH, top_k: int = DEFAULT_TOP_K, threshold: float = 0.0,
                 keep_features: bool = False, clock=time.perf_counter) -> None:
        if int(smooth) < 1:
            raise AudioError(f"smooth must be at least 1 window, got {smooth}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise AudioError(f"threshold must be a probability from 0 to 1, got {threshold}")
        self.classifier, self.source = classifier, source
        self.config = classifier.config
        self.labels = tuple(classifier.labels)
        self.sample_rate = self.config.sample_rate
        self.in_rate, self.in_channels = int(source.sample_rate), int(source.channels)
        if self.in_channels < 1:
            raise AudioError(f"source has {self.in_channels} channels")
        self.stream = StreamingMFCC(self.config, hop_seconds)
        self.hop_samples = self.stream.hop_samples
        self.hop_seconds = self.hop_samples / self.sample_rate
        self.window_samples = self.config.window_samples
        self.smooth, self.top_k, self.threshold = int(smooth), max(1, int(top_k)), float(threshold)
        self.keep_features = keep_features
        self.clock = clock
        self._stop = threading.Event()
        self.stop_reason: str | None = None
        self.reset()

    def reset(self) -> None:
        """Start a new stream: forget audio, smoothing state and statistics."""
        self.stream.reset()
        self._resampler = None
        if self.in_rate != self.sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.in_rate, self.sample_rate, 1, dtype="float32", quality="HQ")
        # Pushes are cut to at most one step (the hop, or one window when the hop is longer), so each
        # push completes at most one window and the window's samples are still in a ring of
        # window + step samples: memory is bounded by the window whatever the hop.
        self._step = self.stream.step_samples
        self._ring = _SampleRing(self.window_samples + self._step)
        self._recent: deque[WindowResult | None] = deque(maxlen=self.smooth)  # None: a silent window
        self._pending_dsp = 0.0  # seconds of DSP since the last emitted window
        self.hops = 0
        self.silent_windows = 0
        self.uncertain_hops = 0
        self.not_music_hops = 0
        self.overflows = 0
        self.frames_in = 0  # native frames received
        self.samples_out = 0  # mono samples at the model rate
        self.histogram: dict[str, int] = {}
        self.dsp = LatencyHistogram()
        self.inference = LatencyHistogram()
        self.total = LatencyHistogram()
        self._started_wall: float | None = None
        self._run_seconds = 0.0
        self._cpu_seconds = 0.0
        self.stop_reason = None
        self._stop.clear()

    # ------------------------------------------------------------------ processing

    def process(self, block: np.ndarray, overflow: int = 0) -> list[HopResult]:
        """Feed one native block ``(frames, channels)``; return the results of windows it completed."""
        if overflow:
            self.overflows += int(overflow)
        block = np.asarray(block)
        if block.size == 0:
            return []
        t0 = self.clock()
        if block.ndim == 1 and self.in_channels == 1:
            block = block[:, np.newaxis]
        if block.ndim != 2 or block.shape[1] != self.in_channels:
            raise AudioError(f"audio block must have shape (frames, {self.in_channels}), got {block.shape}")
        self.frames_in += block.shape[0]
        mono = _downmix(block)
        if not np.isfinite(mono).all():
            where = self.source.position() if hasattr(self.source, "position") else None
            raise AudioError(f"{where[0]}: contains NaN or infinite samples (near {where[1]:.1f} s)" if where else
                             "audio block contains NaN or infinite samples")
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=False)
        self._pending_dsp += self.clock() - t0
        return self._push(mono)

    def flush(self) -> list[HopResult]:
        """End of stream: drain the resampler and return the windows that completes."""
        if self._resampler is None:
            return []
        t0 = self.clock()
        tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._pending_dsp += self.clock() - t0
        return self._push(tail)

    def _push(self, mono: np.ndarray) -> list[HopResult]:
        results = []
        pos = 0
        while pos < mono.size:
            t0 = self.clock()
            piece = mono[pos : pos + self._step]
            pos += piece.size
            self._ring.write(piece)
            self.samples_out += piece.size
            windows = self.stream.push(piece)
            self._pending_dsp += self.clock() - t0
            for w in windows:
                results.append(self._classify(w))
        return results

    def _classify(self, w) -> HopResult:
        clf = self.classifier
        t0 = self.clock()
        samples = self._ring.window(w.start_sample, self.window_samples)
        level = rms_dbfs(samples)
        t1 = self.clock()
        start_s = w.start_sample / self.sample_rate
        # The level is DSP work; the classifier applies the silence gate to it.
        window = clf.classify_window(samples, start_s, features=w.features, level=level)
        t2 = self.clock()
        dsp_ms = (self._pending_dsp + (t1 - t0)) * 1e3
        inference_ms = (t2 - t1) * 1e3
        self._pending_dsp = 0.0

        self._recent.append(None if window.silent else window)
        voiced = [w for w in self._recent if w is not None]
        score = None
        if window.silent:
            genre, confidence, probs = SILENCE, 0.0, np.zeros(len(self.labels), np.float32)
            top: list[tuple[str, float]] = []
            self.silent_windows += 1
        else:
            # The smoothing windows decide as a clip's windows do in 'classify' (summarize).
            smoothed = clf.summarize(voiced)
            genre, confidence, probs = smoothed.genre, smoothed.confidence, smoothed.probabilities
            score = smoothed.music_score
            top = smoothed.top_k(self.top_k)
            if genre == NOT_MUSIC:
                self.not_music_hops += 1
            elif confidence < self.threshold:
                genre = UNCERTAIN
                self.uncertain_hops += 1
        self.histogram[genre] = self.histogram.get(genre, 0) + 1
        self.dsp.add(dsp_ms)
        self.inference.add(inference_ms)
        self.total.add(dsp_ms + inference_ms)
        result = HopResult(
            index=self.hops, t=(w.start_sample + self.window_samples) / self.sample_rate, window=window,
            genre=genre, confidence=confidence, probabilities=probs, top_k=top,
            smoothed_over=0 if window.silent else len(voiced), dsp_ms=dsp_ms, inference_ms=inference_ms,
            overflows=self.overflows, unix_time=time.time(),
            features=w.features if self.keep_features else None, music_score=score,
        )
        self.hops += 1
        return result

    # ------------------------------------------------------------------ running

    def stop(self, reason: str = "stopped") -> None:
        """Ask :meth:`run` to end after the current block (safe from a signal handler)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio received from the source (native frames / native rate)."""
        return self.frames_in / self.in_rate

    def run(self, duration: float | None = None) -> Iterator[HopResult]:
        """Open the source, process it until it ends, :meth:`stop` is called or ``duration`` passes.

        Yields one :class:`HopResult` per hop. ``duration`` counts seconds of audio received
        and, for a live source, wall-clock seconds too (whichever comes first). The source is
        closed on every exit path; errors from it (e.g. :class:`DeviceError` when the
        microphone vanishes) propagate after the statistics are final. ``KeyboardInterrupt``
        inside the loop ends the run cleanly (``stop_reason`` "interrupted"). A pipeline that
        already ran starts again from a clean state (:meth:`reset`).
        """
        if self._started_wall is not None:  # ran before: forget its audio, statistics and stop request
            self.reset()
        source = self.source
        realtime = bool(getattr(source, "realtime", False))
        self._started_wall = time.monotonic()
        cpu0 = time.process_time()
        ended_normally = False
        try:
            with source:
                for block, overflow in source:
                    for result in self.process(block, overflow):
                        yield result
                    if self._stop.is_set():
                        break
                    if duration is not None:
                        elapsed = self.audio_seconds
                        if realtime:
                            elapsed = max(elapsed, time.monotonic() - self._started_wall)
                        if elapsed >= duration:
                            self.stop_reason = self.stop_reason or "duration"
                            break
                else:
                    ended_normally = True
            if ended_normally:
                self.stop_reason = self.stop_reason or "end of input"
                yield from self.flush()
        except KeyboardInterrupt:
            self.stop_reason = self.stop_reason or "interrupted"
        except GeneratorExit:
            raise  # the consumer stopped iterating; it may set stop_reason itself
        except BaseException as exc:
            self.stop_reason = self.stop_reason or f"error: {exc}"
            raise
        finally:
            self._run_seconds = time.monotonic() - self._started_wall
            self._cpu_seconds = time.process_time() - cpu0

    def summary(self) -> dict[str, Any]:
        """Run statistics (JSON-ready): time, windows, genre histogram, overflows, latency percentiles."""
        source_stats = self.source.stats() if hasattr(self.source, "stats") else {}
        out: dict[str, Any] = {
            "run_seconds": round(self._run_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 3),
            "cpu_seconds": round(self._cpu_seconds, 3),
            "windows": self.hops,
            "silent_windows": self.silent_windows,
            "uncertain_hops": self.uncertain_hops,
            "not_music_hops": self.not_music_hops,
            "genres": dict(sorted(self.histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
            # The source may have counted more overflows after the last block it delivered.
            "overflows": max(self.overflows, int(source_stats.get("overflows", 0))),
            "hop_seconds": round(self.hop_seconds, 6),
            "input": {"sample_rate": self.in_rate, "channels": self.in_channels},
            "latency_ms": {"dsp": self.dsp.summary(), "inference": self.inference.summary(),
                           "total": self.total.summary()},
            "stop_reason": self.stop_reason or "closed",
        }
        if source_stats:
            out["source"] = source_stats
        return out


def format_hop(result: HopResult, show_top: bool = True) -> str:
    """One human-readable line per hop (``edge-genre listen`` without ``--json``)."""
    w = result.window
    head = f"{result.t:9.1f} s  "
    cost = f"dsp {result.dsp_ms:5.2f} ms  inference {result.inference_ms:5.2f} ms"
    if w.silent:
        level = f"{w.level_dbfs:.0f} dBFS" if math.isfinite(w.level_dbfs) else "digital silence"
        body = f"{SILENCE:<10} ({level})"
        return f"{head}{body:<44}  {cost}"
    if result.not_music:
        body = f"{NOT_MUSIC:<10} (music score {result.music_score:.2f})"
    elif result.uncertain:
        best, p = result.top_k[0]
        body = f"{UNCERTAIN:<10} (best {best} {p:.0%})"
    else:
        body = f"{result.genre:<10} {result.confidence:4.0%}"
    if show_top and len(result.top_k) > 1:
        body += "  | " + "  ".join(f"{g} {p:.0%}" for g, p in result.top_k[1:])
    overflow = f"  overflows {result.overflows}" if result.overflows else ""
    return f"{head}{body:<44}  {cost}{overflow}"


def format_summary(summary: dict[str, Any]) -> str:
    """Multi-line human-readable run summary (printed to stderr)."""
    lat = summary["latency_ms"]
    lines = [
        f"run time {summary['run_seconds']:.1f} s, audio {summary['audio_seconds']:.1f} s, "
        f"CPU {summary['cpu_seconds']:.1f} s; stopped: {summary['stop_reason']}",
        f"windows classified {summary['windows']} (silent {summary['silent_windows']}, "
        f"not music {summary.get('not_music_hops', 0)}, uncertain {summary['uncertain_hops']}), hop {summary['hop_seconds']:.4f} s",
        f"overflows {summary['overflows']}"
        + (f" ({summary['source']['dropped_frames']} frames dropped)" if summary.get("source", {}).get("dropped_frames") else ""),
    ]
    if summary["windows"] == 0:
        why = ("the input ended before" if summary["stop_reason"] == "end of input" else "the first genre comes after")
        lines.append(f"nothing classified: {why} one full window of audio (3 s for the shipped model)")
    if summary["genres"]:
        total = max(1, summary["windows"])
        lines.append("genres   " + ", ".join(f"{g} {n} ({n / total:.0%})" for g, n in summary["genres"].items()))
    for name in ("dsp", "inference", "total"):
        s = lat[name]
        if s["count"]:
            lines.append(f"{name:<9} ms  p50 {s['p50']:.2f}  p95 {s['p95']:.2f}  p99 {s['p99']:.2f}  "
                         f"mean {s['mean']:.2f}  max {s['max']:.2f}")
    return "\n".join("edge-genre: " + line for line in lines)

