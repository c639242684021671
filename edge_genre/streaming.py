"""Incremental feature extraction for live audio.

:class:`StreamingMFCC` accepts audio chunks of any size and emits the model
input of every complete window at a fixed hop. Each emitted matrix is exactly
:func:`edge_genre.dsp.window_features` of that window's samples, yet only the
frames not seen before are transformed: frames that lie wholly inside a window
do not depend on which window they belong to, so their log-mel power is
cached; only the few frames at each window edge (which see the zero padding of
centred framing) and the per-window ``top_db`` floor and DCT are recomputed.

For this to work, window starts sit on the frame grid: the hop is rounded to a
whole number of frames (1 s at 22050 Hz / 512 becomes 43 frames = 0.9985 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import FeatureConfig
from .dsp import FrontEnd, validate_audio
from .errors import ConfigError


MAX_HOP_SECONDS = 3600.0


@dataclass(frozen=True)
class Window:
    """One emitted window: its first sample (absolute, since the stream began) and features."""

    start_sample: int
    features: np.ndarray

    def start_seconds(self, sample_rate: int) -> float:
        return self.start_sample / sample_rate


def hop_frames_for(hop_seconds: float, config: FeatureConfig) -> int:
    """Hop in whole frames closest to ``hop_seconds`` (at least one frame)."""
    if not (math.isfinite(hop_seconds) and 0 < hop_seconds <= MAX_HOP_SECONDS):
        raise ConfigError(f"hop must be more than 0 and at most {MAX_HOP_SECONDS:g} s, got {hop_seconds} s")
    return max(1, int(round(hop_seconds * config.sample_rate / config.hop_length)))


class StreamingMFCC:
    """Window-by-window features of an audio stream, computed incrementally.

    Parameters
    ----------
    config : FeatureConfig
        Front-end parameters (kind and normalisation included).
    hop_seconds : float
        Time between window starts; rounded to a whole number of frames
        (see :attr:`hop_samples`).

    Examples
    --------
    >>> stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    >>> for window in stream.push(chunk):          # doctest: +SKIP
    ...     model.predict(window.features)
    """

    def __init__(self, config: FeatureConfig | None = None, hop_seconds: float = 1.0) -> None:
        self.config = config or FeatureConfig()
        self.front = FrontEnd.for_config(self.config)
        self.hop_frames = hop_frames_for(hop_seconds, self.config)
        self.hop_samples = self.hop_frames * self.config.hop_length
        n_fft, hop = self.config.n_fft, self.config.hop_length
        self._n_window, n_frames = self.config.window_samples, self.config.n_frames
        half = n_fft // 2
        # Frames wholly inside a window (a contiguous run) are shared between windows;
        # the edge frames see the window's own zero padding.
        t = np.arange(n_frames)
        interior = np.flatnonzero((t * hop >= half) & (t * hop + half <= self._n_window))
        # A window shorter than one FFT has no interior frame: every frame is an edge frame.
        self._first_interior = int(interior[0]) if interior.size else 0
        self._n_interior = interior.size
        self._edges = np.setdiff1d(t, interior)
        # Zero-padded edge frames: (row, frame offset, window offset, length) copies; padding stays zero.
        self._edge_frames = np.zeros((self._edges.size, n_fft))
        self._edge_copies = []
        for row, frame in enumerate(self._edges):
            begin = frame * hop - half
            lo, hi = max(0, begin), min(self._n_window, begin + n_fft)
            self._edge_copies.append((row, lo - begin, lo, hi - lo))
        self._normalize = self.config.normalization == "window"
        self._level = self.config.normalization == "level"
        self._db = np.empty((n_frames, self.config.n_mels), dtype=np.float32)
        self.reset()

    @property
    def step_samples(self) -> int:
        """The most samples held beyond one window: the hop, but never more than a window (with a
        longer hop the samples between windows are skipped, never kept), so memory is bounded by
        the window whatever the hop."""
        return min(self.hop_samples, self._n_window)

    def reset(self) -> None:
        """Forget all audio and cached frames; the next sample is sample 0."""
        # Room for the next window, one step and the half-FFT of history interior frames reach back.
        capacity = 2 * (self._n_window + self.step_samples) + self.config.n_fft
        self._buffer = np.zeros(capacity, dtype=np.float64)
        self._buffer_start = 0  # absolute index of _buffer[0]
        self._buffer_len = 0
        self._next_start = 0  # absolute first sample of the next window to emit
        # Cached log-mel dB rows of interior frames, absolute frames [_cache_lo, _cache_lo + _cache_len).
        self._cache = np.empty((self._n_interior + min(self.hop_frames, self.config.n_frames), self.config.n_mels),
                               dtype=np.float32)
        self._cache_lo = 0
        self._cache_len = 0
        self.frames_computed = 0  # frames transformed so far (for tests and benchmarks)

    @property
    def samples_seen(self) -> int:
        """Samples pushed since the start (or the last :meth:`reset`)."""
        return self._buffer_start + self._buffer_len

    def push(self, chunk: np.ndarray) -> list[Window]:
        """Add audio (mono, float, at ``config.sample_rate``); return every window completed by it."""
        if np.size(chunk) == 0:
            return []
        chunk = validate_audio(chunk, name="audio chunk")
        emitted = []
        pos = 0
        while pos < chunk.size:
            # Copy only as much as the buffer holds, emitting windows as they complete.
            take = min(chunk.size - pos, self._buffer.size - self._buffer_len)
            if take == 0:  # pragma: no cover - the capacity above makes this unreachable
                raise RuntimeError("StreamingMFCC buffer full: capacity too small for this configuration")
            self._buffer[self._buffer_len : self._buffer_len + take] = chunk[pos : pos + take]
            self._buffer_len += take
            pos += take
            while self.samples_seen >= self._next_start + self._n_window:
                emitted.append(Window(self._next_start, self._window_features(self._next_start)))
                self._next_start += self.hop_samples
            self._compact()
        return emitted

    def _window_features(self, start: int) -> np.ndarray:
        config, front = self.config, self.front
        hop, half = config.hop_length, config.n_fft // 2
        offset = start - self._buffer_start
        window = self._buffer[offset : offset + self._n_window]
        first = start // hop + self._first_interior  # absolute index of the first interior frame
        last = first + self._n_interior

        # Drop cached frames before this window, then transform the interior frames not yet cached.
        if self._cache_len and first > self._cache_lo:
            keep = max(0, self._cache_lo + self._cache_len - first)
            self._cache[:keep] = self._cache[self._cache_len - keep : self._cache_len]
            self._cache_len = keep
            self._cache_lo = first
        if self._cache_len == 0:
            self._cache_lo = first
        new_lo = self._cache_lo + self._cache_len
        if new_lo < last:
            n_new = last - new_lo
            begin = new_lo * hop - half - self._buffer_start
            frames = np.lib.stride_tricks.as_strided(
                self._buffer[begin:],
                shape=(n_new, config.n_fft),
                strides=(hop * self._buffer.itemsize, self._buffer.itemsize),
                writeable=False,
            )
            self._cache[self._cache_len : self._cache_len + n_new] = front.frames_db(frames)
            self._cache_len += n_new
            self.frames_computed += n_new

        db = self._db
        db[self._first_interior : self._first_interior + self._n_interior] = self._cache[: self._n_interior]
        for row, dst, src, length in self._edge_copies:
            self._edge_frames[row, dst : dst + length] = window[src : src + length]
        db[self._edges] = front.frames_db(self._edge_frames)
        self.frames_computed += self._edges.size
        return front.finish(db, normalize=self._normalize, level=self._level)

    def _compact(self) -> None:
        """Drop samples no future window needs, keeping the buffer's start on the frame grid."""
        needed_from = self._next_start - self.config.n_fft  # interior frames reach back half an FFT
        drop = (needed_from - self._buffer_start) // self.config.hop_length * self.config.hop_length
        drop = min(drop, self._buffer_len)  # with a hop longer than a window, samples between windows are never kept
        if drop > 0:
            keep = self._buffer_len - drop
            self._buffer[:keep] = self._buffer[drop : self._buffer_len]
            self._buffer_start += drop
            self._buffer_len = keep
