"""Is it music at all? A small detector on the model's own features, stored in the model file.

A genre model answers with a genre for anything: read speech, a hoover, a test tone. The
detector scores each window's features (the same front end the genre model reads, so no extra
DSP) with a small neural network (one hidden layer, NumPy) on per-band summary statistics (:func:`window_statistics`):
the spectral envelope, how much each band moves, and how fast. Its output is the probability
that the window is music; a clip (or ``listen``'s smoothing windows) whose mean score is below
the detector's threshold gets :data:`NOT_MUSIC` instead of a genre.

It is trained at export time (``edge-genre train export``) on the run's training music and on
generated non-music (noises, hum, tones, clicks, chirps, synthesized speech; ``train/not_music.py``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ModelError

NOT_MUSIC = "not_music"
STATISTICS = "band-mean-std-flux-v1"


def window_statistics(features: np.ndarray) -> np.ndarray:
    """Summary of one window's features ``(frames, bands)`` or of a batch ``(n, frames, bands)``.

    Per band: mean over time, standard deviation over time, mean absolute frame-to-frame change;
    then the standard deviation over time of the frame means (loudness movement). Shape
    ``(3 * bands + 1,)`` (or ``(n, 3 * bands + 1)``).
    """
    x = np.asarray(features, dtype=np.float32)
    single = x.ndim == 2
    if single:
        x = x[np.newaxis]
    stats = [x.mean(axis=1), x.std(axis=1), np.abs(np.diff(x, axis=1)).mean(axis=1),
             x.mean(axis=2).std(axis=1, keepdims=True)]
    out = np.concatenate(stats, axis=1)
    return out[0] if single else out


STORAGE = "<f2"  # float16: a detector of 16 hidden units on 64 bands takes 9.8 KB of the model file (base64)


def _encode(a: np.ndarray) -> str:
    return base64.b64encode(np.asarray(a, STORAGE).tobytes()).decode("ascii")


def _decode(text: Any, shape: tuple[int, ...]) -> np.ndarray:
    size = np.dtype(STORAGE).itemsize
    if not isinstance(text, str) or len(text) > 2 * size * int(np.prod(shape)) + 16:
        raise ModelError("music_detector metadata holds a malformed array")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ModelError("music_detector metadata holds an array that is not base64") from None
    if len(raw) != size * int(np.prod(shape)):
        raise ModelError(f"music_detector metadata holds an array of {len(raw) // size} values, expected shape {shape}")
    a = np.frombuffer(raw, STORAGE).reshape(shape).astype(np.float64)
    if not np.isfinite(a).all():
        raise ModelError("music_detector metadata holds non-finite values")
    return a


@dataclass(frozen=True)
class MusicDetector:
    """A small multilayer perceptron on standardised :func:`window_statistics`, as stored in a model's metadata.

    ``layers`` are ``(weights, bias)`` pairs with ReLU between them; the last has one output, whose
    sigmoid is the probability of music.
    """

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    threshold: float
    trained_on: str = ""

    @property
    def hidden(self) -> list[int]:
        """Units of each hidden layer."""
        return [int(w.shape[1]) for w, _ in self.layers[:-1]]

    def score(self, features: np.ndarray) -> np.ndarray | float:
        """Probability of music for one window's features (a float) or for a batch (an array)."""
        h = (window_statistics(features) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        p = 1.0 / (1.0 + np.exp(-np.clip(h[..., 0], -60, 60)))
        return float(p) if np.ndim(p) == 0 else p

    def to_metadata(self) -> dict[str, Any]:
        """JSON-ready entry; arrays as base64 little-endian float16 (a twentieth of the size of JSON numbers)."""
        return {"statistics": STATISTICS, "inputs": int(self.mean.size),
                "hidden": self.hidden,
                "mean": _encode(self.mean), "scale": _encode(self.scale),
                "layers": [[_encode(w), _encode(b)] for w, b in self.layers],
                "threshold": float(self.threshold), "trained_on": self.trained_on}

    @classmethod
    def from_metadata(cls, entry: Any, n_bands: int) -> "MusicDetector | None":
        """The detector of a model's metadata (None when it has none), checked against its feature shape."""
        if entry is None:
            return None
        if not isinstance(entry, dict) or entry.get("statistics") != STATISTICS:
            raise ModelError(f"music_detector metadata must be an object with statistics '{STATISTICS}'")
        n = 3 * n_bands + 1
        hidden, layers = entry.get("hidden"), entry.get("layers")
        if (entry.get("inputs") != n or not isinstance(hidden, list) or len(hidden) > 4
                or not all(isinstance(h, int) and 1 <= h <= 1024 for h in hidden)
                or not isinstance(layers, list) or len(layers) != len(hidden) + 1):
            raise ModelError(f"music_detector metadata does not describe a network on {n} statistics")
        sizes = [n, *hidden, 1]
        decoded = []
        for (fan_in, fan_out), pair in zip(zip(sizes[:-1], sizes[1:]), layers):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ModelError("music_detector metadata has a malformed layer")
            decoded.append((_decode(pair[0], (fan_in, fan_out)), _decode(pair[1], (fan_out,))))
        mean, scale = _decode(entry.get("mean"), (n,)), _decode(entry.get("scale"), (n,))
        threshold = entry.get("threshold")
        if (scale <= 0).any() or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ModelError("music_detector metadata has a non-positive scale or a threshold outside [0, 1]")
        return cls(mean, scale, tuple(decoded), float(threshold), str(entry.get("trained_on", "")))
