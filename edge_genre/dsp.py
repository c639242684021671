"""MFCC and log-mel front end in pure NumPy, numerically equal to librosa 0.11.

This module is the single source of truth for features: the on-device runtime,
the streaming extractor, the training pipeline and the firmware tables all use
it. It reproduces ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=2048,
hop_length=512)`` with librosa's defaults: centred frames with zero padding,
periodic Hann window, power spectrum, Slaney mel filterbank with Slaney
normalisation (built in float32), ``power_to_db(ref=1, amin=1e-10,
top_db=80)`` over the whole input, orthonormal DCT-II. The ``musicnn`` kind
compresses the same mel power as musicnn does, ``log10(1 + 10000 * mel)``.

The FFT runs in float64 on blocks of frames that fit in cache (NumPy's
``rfft`` is slower on float32 input and the product with a float64 window is
float64 anyway, as in librosa); the mel projection runs in float32 over the
FFT bins the filterbank actually uses.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .config import MUSICNN_LEVEL_DB, MUSICNN_OFFSET, FeatureConfig
from .errors import AudioError, ConfigError

__all__ = [
    "FrontEnd",
    "dct_matrix",
    "hann_window",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "mfcc",
    "validate_audio",
    "window_features",
]

AMIN = 1e-10
_BLOCK_FRAMES = 64  # frames per FFT block; its reused buffers take 3.3 MB
_BANDS_PER_GROUP = 16  # mel bands per banded matmul

# Slaney mel scale constants (librosa.hz_to_mel with htk=False).
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asanyarray(frequencies, dtype=np.float64)
    mels = f / _F_SP
    log_part = f >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asanyarray(mels, dtype=np.float64)
    log_part = m >= _MIN_LOG_MEL
    return np.where(log_part, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window of length ``n_fft`` (``scipy.signal.get_window('hann', n, fftbins=True)``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank, float32, shape ``(n_mels, 1 + n_fft // 2)``.

    Equal to ``librosa.filters.mel(sr=..., n_fft=..., n_mels=..., fmin=..., fmax=...)``.
    """
    fft_freqs = np.fft.rfftfreq(config.n_fft, d=1.0 / config.sample_rate)
    mel_min, mel_max = hz_to_mel(config.fmin), hz_to_mel(config.mel_fmax)
    mel_f = mel_to_hz(np.linspace(mel_min, mel_max, config.n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((config.n_mels, len(fft_freqs)), dtype=np.float32)
    for i in range(config.n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : config.n_mels + 2] - mel_f[: config.n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def empty_mel_bands(config: FeatureConfig) -> list[int]:
    """Indices of the mel bands of :func:`mel_filterbank` that have no FFT bin (all-zero filters).

    Band ``i`` is non-zero exactly when an FFT bin lies strictly between its outer edges; this
    checks that with a binary search, without building the filterbank.
    """
    fft_freqs = np.fft.rfftfreq(config.n_fft, d=1.0 / config.sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(config.fmin), hz_to_mel(config.mel_fmax), config.n_mels + 2))
    first_above = np.searchsorted(fft_freqs, mel_f[: config.n_mels], side="right")  # first bin > lower edge
    has_bin = (first_above < fft_freqs.size) & (fft_freqs[np.minimum(first_above, fft_freqs.size - 1)]
                                                < mel_f[2 : config.n_mels + 2])
    return [int(i) for i in np.flatnonzero(~has_bin)]


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II matrix, float64, shape ``(n_out, n_in)`` (``scipy.fft.dct(norm='ortho')``)."""
    n = np.arange(n_in)
    k = np.arange(n_out)[:, np.newaxis]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis


def all_finite(y: np.ndarray, chunk: int = 1 << 20) -> bool:
    """``np.isfinite(y).all()`` in chunks: no boolean array the size of an hour of audio."""
    flat = y.reshape(-1)
    return all(np.isfinite(flat[i : i + chunk]).all() for i in range(0, flat.size, chunk))


def validate_audio(y: np.ndarray, *, name: str = "audio") -> np.ndarray:
    """Check a mono signal and return it as a contiguous float array.

    Raises :class:`AudioError` for non-arrays, integer or complex dtypes,
    more than one dimension, empty input or NaN/inf samples.
    """
    if not isinstance(y, np.ndarray):
        raise AudioError(f"{name} must be a NumPy array, got {type(y).__name__}")
    if not np.issubdtype(y.dtype, np.floating):
        raise AudioError(
            f"{name} must be floating point in [-1, 1], got dtype {y.dtype} "
            "(scale integer PCM first, or use edge_genre.load_audio)"
        )
    if y.ndim != 1:
        raise AudioError(
            f"{name} must be mono (1-D), got shape {y.shape}; downmix with y.mean(axis=...) "
            "or load it with edge_genre.load_audio"
        )
    if y.size == 0:
        raise AudioError(f"{name} is empty")
    if not all_finite(y):
        raise AudioError(f"{name} contains NaN or infinite samples")
    return np.ascontiguousarray(y)


class FrontEnd:
    """Precomputed tables and the frame-level pipeline for one :class:`FeatureConfig`.

    Use :func:`FrontEnd.for_config` to share one instance per configuration.
    The pipeline is split in two so the streaming extractor can cache frames:
    :meth:`frames_db` maps raw frames to unclamped log-mel dB, and
    :meth:`finish` applies the ``top_db`` floor, the DCT and normalisation.
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.window = hann_window(config.n_fft)
        mel = mel_filterbank(config)
        used = np.flatnonzero(mel.any(axis=0))
        if used.size == 0:
            raise ConfigError("mel filterbank is empty: fmin/fmax select no FFT bins")
        self.bin_lo, self.bin_hi = int(used[0]), int(used[-1]) + 1
        self.mel_basis = mel
        # Banded mel projection: each group of adjacent bands touches only a
        # contiguous run of FFT bins, so a few small matmuls replace one large
        # mostly-zero one. Entries: (first band, last band + 1, first bin, last bin + 1, weights^T).
        self._mel_groups = []
        for band_lo in range(0, config.n_mels, _BANDS_PER_GROUP):
            band_hi = min(band_lo + _BANDS_PER_GROUP, config.n_mels)
            cols = np.flatnonzero(mel[band_lo:band_hi].any(axis=0))
            if cols.size == 0:
                continue
            lo, hi = int(cols[0]), int(cols[-1]) + 1
            weights_t = np.ascontiguousarray(mel[band_lo:band_hi, lo:hi].T)
            self._mel_groups.append((band_lo, band_hi, lo - self.bin_lo, hi - self.bin_lo, weights_t))
        self.dct = dct_matrix(config.n_mfcc, config.n_mels)
        self._dct_t = np.ascontiguousarray(self.dct.T)
        self._local = threading.local()

    def _workspace(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-thread scratch buffers: fresh large temporaries cost page faults on every call."""
        ws = getattr(self._local, "ws", None)
        if ws is None:
            n_bins = self.bin_hi - self.bin_lo
            ws = (
                np.empty((_BLOCK_FRAMES, self.config.n_fft), dtype=np.float64),
                np.empty((_BLOCK_FRAMES, self.config.n_fft // 2 + 1), dtype=np.complex128),
                np.empty((_BLOCK_FRAMES, n_bins, 2), dtype=np.float64),
                np.empty((_BLOCK_FRAMES, n_bins), dtype=np.float32),
            )
            self._local.ws = ws
        return ws

    @staticmethod
    @lru_cache(maxsize=8)
    def for_config(config: FeatureConfig) -> "FrontEnd":
        return FrontEnd(config)

    def frames_mel(self, frames: np.ndarray) -> np.ndarray:
        """Mel power (linear, float32 ``(n, n_mels)``) of raw frames ``(n, n_fft)``, as
        ``librosa.feature.melspectrogram(...).T``."""
        n = frames.shape[0]
        out = np.zeros((n, self.config.n_mels), dtype=np.float32)  # bands with no FFT bin stay 0 (-100 dB)
        lo, hi = self.bin_lo, self.bin_hi
        block_buf, spec_buf, square_buf, power_buf = self._workspace()
        for start in range(0, n, _BLOCK_FRAMES):
            m = min(_BLOCK_FRAMES, n - start)
            block, spec = block_buf[:m], spec_buf[:m]
            square, power = square_buf[:m], power_buf[:m]
            np.multiply(frames[start : start + m], self.window, out=block)
            np.fft.rfft(block, axis=1, out=spec)
            # |X|^2 from the interleaved (re, im) float view, rounded to float32 as librosa does.
            re_im = spec.view(np.float64).reshape(m, -1, 2)[:, lo:hi]
            np.multiply(re_im, re_im, out=square)
            np.add(square[..., 0], square[..., 1], out=power)
            mel = out[start : start + m]
            for band_lo, band_hi, bin_lo, bin_hi, weights_t in self._mel_groups:
                np.matmul(power[:, bin_lo:bin_hi], weights_t, out=mel[:, band_lo:band_hi])
        return out

    def frames_db(self, frames: np.ndarray) -> np.ndarray:
        """Log-mel power in dB (no ``top_db`` floor yet) of raw frames ``(n, n_fft)``; float32 ``(n, n_mels)``.

        Frames are independent of each other here, which is what lets the streaming extractor
        cache them; everything that depends on the whole window happens in :meth:`finish`."""
        out = self.frames_mel(frames)
        np.maximum(out, np.float32(AMIN), out=out)
        np.log10(out, out=out)
        out *= np.float32(10.0)
        return out

    def finish(self, db: np.ndarray, *, kind: str | None = None, normalize: bool = False,
               level: bool = False) -> np.ndarray:
        """Apply the ``top_db`` floor over ``db``, the optional level centring, the DCT (MFCC)
        and the optional per-coefficient normalisation."""
        config = self.config
        if config.kind == "musicnn":
            return musicnn_compress(db, level)
        if config.top_db is not None:
            db = np.maximum(db, db.max() - np.float32(config.top_db))
        if level:
            db = (db - db.mean(dtype=np.float64)).astype(np.float32)
        kind = kind or config.kind
        if kind == "mfcc":
            feats = (db.astype(np.float64) @ self._dct_t).astype(np.float32)
        else:
            feats = np.array(db, dtype=np.float32)
        if normalize:
            feats = normalize_window(feats)
        return feats

    def padded_frames(self, y: np.ndarray) -> np.ndarray:
        """Centred frames of ``y`` with zero padding, as a strided view ``(1 + len // hop, n_fft)``."""
        half = self.config.n_fft // 2
        padded = np.zeros(y.size + 2 * half, dtype=np.float64)
        padded[half : half + y.size] = y
        view = np.lib.stride_tricks.sliding_window_view(padded, self.config.n_fft)
        return view[:: self.config.hop_length][: 1 + y.size // self.config.hop_length]


def musicnn_compress(db: np.ndarray, level: bool = False) -> np.ndarray:
    """musicnn's input from log-mel dB: ``log10(1 + 10000 * mel)``, float32. With ``level`` the mel
    power is first scaled so that its mean over the window is ``MUSICNN_LEVEL_DB``."""
    power = np.power(10.0, db.astype(np.float64) / 10.0)
    if level:
        power *= 10.0 ** (MUSICNN_LEVEL_DB / 10.0) / power.mean()
    return np.log10(1.0 + MUSICNN_OFFSET * power).astype(np.float32)


def normalize_window(feats: np.ndarray) -> np.ndarray:
    """Standardise each coefficient over the frames of one window (float32)."""
    mean = feats.mean(axis=0, dtype=np.float64)
    std = feats.std(axis=0, dtype=np.float64)
    return ((feats - mean) / np.maximum(std, 1e-5)).astype(np.float32)


def _check_rate(sr: int, config: FeatureConfig) -> None:
    if sr != config.sample_rate:
        raise AudioError(
            f"audio is at {sr} Hz but the features need {config.sample_rate} Hz; "
            "resample first (edge_genre.load_audio does it)"
        )


def _features(y: np.ndarray, sr: int, config: FeatureConfig | None, kind: str) -> np.ndarray:
    config = config or FeatureConfig(sample_rate=sr)
    _check_rate(sr, config)
    y = validate_audio(y)
    front = FrontEnd.for_config(config)
    return front.finish(front.frames_db(front.padded_frames(y)), kind=kind)


def mfcc(y: np.ndarray, sr: int = 22050, config: FeatureConfig | None = None) -> np.ndarray:
    """MFCCs of a mono signal, float32, shape ``(n_frames, n_mfcc)``.

    Equal to ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=2048,
    hop_length=512).T`` for the default configuration (``top_db`` is taken over
    the whole input, as librosa does).

    Parameters
    ----------
    y : np.ndarray
        Mono audio, floating point, finite, at ``sr`` Hz.
    sr : int
        Sample rate of ``y``; must equal ``config.sample_rate``.
    config : FeatureConfig, optional
        Front-end parameters; defaults to ``FeatureConfig(sample_rate=sr)``.
    """
    return _features(y, sr, config, "mfcc")


def log_mel(y: np.ndarray, sr: int = 22050, config: FeatureConfig | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB, float32, shape ``(n_frames, n_mels)``.

    Equal to ``librosa.power_to_db(librosa.feature.melspectrogram(...), top_db=80).T``.
    """
    return _features(y, sr, config, "logmel")


def window_features(window: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Model input for exactly one window: the configured kind and normalisation.

    ``window`` must hold ``config.window_samples`` samples at ``config.sample_rate``.
    """
    window = validate_audio(window, name="window")
    if window.size != config.window_samples:
        raise AudioError(f"a window must hold {config.window_samples} samples, got {window.size}")
    front = FrontEnd.for_config(config)
    db = front.frames_db(front.padded_frames(window))
    return front.finish(db, normalize=config.normalization == "window", level=config.normalization == "level")
