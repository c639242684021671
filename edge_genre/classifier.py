"""The on-device genre classifier: features in, genre probabilities out.

:class:`GenreClassifier` wraps one self-describing .tflite model (int8 or
float). It quantizes the features with the model's input parameters, runs the
interpreter one window at a time and dequantizes the output. When the model
file carries them, it tempers the probabilities (:mod:`.calibration`) and asks
the music detector (:mod:`.music_detector`) whether a window is music at all.

Outcomes besides a genre: :data:`SILENCE` (too quiet to judge) and
:data:`NOT_MUSIC` (speech, noise, tones... the detector's score is below its
threshold).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .calibration import Calibration
from .config import FeatureConfig
from .dsp import validate_audio, window_features
from .errors import AudioError, ModelError
from .model_io import ModelInfo, make_interpreter, native_stderr_silenced, read_model_info
from .music_detector import NOT_MUSIC, MusicDetector
from .streaming import hop_frames_for

SILENCE = "silence"
SILENCE_DBFS = -60.0  # windows whose RMS (DC removed) is below this (dB re full scale) are silence
MIN_CLIP_SECONDS = 1.0  # shorter clips are rejected; clips of 1 s up to one window are zero-padded


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of ``y`` with its DC offset removed, in dB relative to a full-scale (1.0) signal;
    -inf for a constant signal.

    A cheap microphone's DC offset in a quiet room is not sound: the silence gate measures what
    varies (the variance), so an offset alone never passes it.
    """
    y = np.asarray(y)
    if y.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.var(y, dtype=np.float64)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def window_starts(n_samples: int, config: FeatureConfig, hop_seconds: float | None = None) -> list[int]:
    """First samples of the windows :meth:`GenreClassifier.classify` uses for ``n_samples``.

    Without a hop, windows are consecutive and non-overlapping (ten per 30-s clip, as in
    training). With a hop, it is rounded to whole frames exactly as the streaming path does,
    so the windows line up with ``edge-genre listen``.
    """
    n_window = config.window_samples
    hop = n_window if hop_seconds is None else hop_frames_for(hop_seconds, config) * config.hop_length
    if n_samples <= n_window:
        return [0]
    return list(range(0, n_samples - n_window + 1, hop))


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output tensor: where it is, its shape and type, and its quantization
    (``real = (q - zero_point) * scale``; scale 0 for a float tensor)."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, d: dict) -> "TensorSpec":
        scale, zero = d["quantization"]
        return cls(int(d["index"]), tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]), float(scale), int(zero))

    @property
    def quantized(self) -> bool:
        return np.issubdtype(self.dtype, np.integer)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype.name, "scale": self.scale, "zero_point": self.zero_point}


@dataclass
class WindowResult:
    """Classification of one window."""

    start_s: float
    genre: str
    confidence: float
    probabilities: np.ndarray  # calibrated
    level_dbfs: float
    raw_probabilities: np.ndarray | None = None  # the model's own output, for aggregating windows
    music_score: float | None = None  # the detector's probability of music (None: no detector / silence)

    @property
    def silent(self) -> bool:
        return self.genre == SILENCE

    @property
    def not_music(self) -> bool:
        return self.genre == NOT_MUSIC


@dataclass
class ClipResult:
    """Classification of a whole clip: mean of the non-silent window probabilities, tempered.

    ``genre`` is a label, :data:`SILENCE` or :data:`NOT_MUSIC`; for the last two ``confidence`` is 0
    (``probabilities`` still hold the genres' for a clip that is not music).
    """

    genre: str
    confidence: float
    probabilities: np.ndarray
    labels: tuple[str, ...]
    windows: list[WindowResult] = field(default_factory=list)
    music_score: float | None = None

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    def to_dict(self, *, windows: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "genre": self.genre,
            "confidence": round(self.confidence, 4),
            "probabilities": {lab: round(float(p), 4) for lab, p in zip(self.labels, self.probabilities)},
            "music_score": None if self.music_score is None else round(self.music_score, 4),
        }
        if windows:
            out["windows"] = [
                {"start_s": round(w.start_s, 3), "genre": w.genre, "confidence": round(w.confidence, 4),
                 "music_score": None if w.music_score is None else round(w.music_score, 4)}
                for w in self.windows
            ]
        return out


class GenreClassifier:
    """A genre classifier loaded from an edge-genre .tflite file.

    Parameters
    ----------
    model : {"int8", "float"} or path
        A shipped default model or the path of an exported .tflite.
    num_threads : int
        Interpreter threads (1 is the Raspberry-Pi profile).
    music_threshold : float, optional
        Clips and windows whose music score is below this are :data:`NOT_MUSIC`; None uses the
        threshold stored in the model, 0 turns the detector off.

    Attributes
    ----------
    labels : tuple of str
        Genre names, in output order.
    config : FeatureConfig
        The front end the model was trained with (read from the model file).
    calibration : Calibration
        The temperature stored in the model (1.0 when it has none).
    music_detector : MusicDetector or None
        The not-music detector stored in the model, if any.
    backend : str
        ``ai_edge_litert``, ``tflite_runtime`` or ``tensorflow``.
    """

    def __init__(self, model: str | os.PathLike = "int8", num_threads: int = 1,
                 music_threshold: float | None = None) -> None:
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ModelError(f"num_threads must be a positive integer, got {num_threads!r}")
        if music_threshold is not None and not 0.0 <= music_threshold <= 1.0:
            raise ModelError(f"music_threshold must be from 0 to 1, got {music_threshold!r}")
        self.info: ModelInfo = read_model_info(model)
        self.path = self.info.path
        self.labels = self.info.labels
        self.config: FeatureConfig = self.info.config
        try:
            self.calibration = Calibration.from_metadata(self.info.extra.get("calibration"))
            self.music_detector = MusicDetector.from_metadata(self.info.extra.get("music_detector"),
                                                              self.config.feature_shape[1])
        except ModelError as exc:
            raise ModelError(f"{self.path}: {exc}") from None
        stored = self.music_detector.threshold if self.music_detector else 0.0
        self.music_threshold = stored if music_threshold is None else float(music_threshold)
        self.interpreter, self.backend = make_interpreter(
            self.path, num_threads, default_delegates=self.info.extra.get("xnnpack", True) is not False)
        try:
            with native_stderr_silenced():
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path}: cannot allocate tensors ({exc})") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: expected one input and one output tensor")
        self.input_spec, self.output_spec = TensorSpec.from_details(inputs[0]), TensorSpec.from_details(outputs[0])
        expected = self.config.feature_shape
        shape = self.input_spec.shape
        if shape[1:3] != expected:
            raise ModelError(
                f"{self.path}: input shape {shape} does not match its feature configuration {expected}"
            )
        if self.output_spec.shape[-1] != len(self.labels):
            raise ModelError(f"{self.path}: {self.output_spec.shape[-1]} outputs but {len(self.labels)} labels")
        self._in_shape = (1, *shape[1:])

    @property
    def quantized(self) -> bool:
        return self.input_spec.quantized

    @property
    def op_names(self) -> list[str]:
        """Sorted names of the model's ops (as the interpreter reports them, delegates left out)."""
        from .model_io import op_names

        return op_names(self.interpreter)

    def invoke_raw(self, model_input: np.ndarray) -> np.ndarray:
        """The raw output tensor (int8 or float, flattened) for an already quantized input, from
        zeroed LSTM state: what a TFLite Micro port computes, for cross-checks."""
        self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self.input_spec.index,
                                    np.asarray(model_input).reshape(self._in_shape).astype(self.input_spec.dtype))
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output_spec.index)).reshape(-1)

    def quantize(self, features: np.ndarray) -> np.ndarray:
        """Features as the model's input tensor (int8 with the model's scale/zero point, or float32)."""
        if not self.quantized:
            return features.astype(np.float32).reshape(self._in_shape)
        spec = self.input_spec
        info = np.iinfo(spec.dtype)
        q = np.round(features / spec.scale) + spec.zero_point
        return np.clip(q, info.min, info.max).astype(spec.dtype).reshape(self._in_shape)

    def predict(self, features: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """Probabilities for one window ``(frames, coeffs)`` or a batch ``(n, frames, coeffs)``,
        tempered by the model's calibration unless ``calibrated=False``."""
        features = np.asarray(features)
        single = features.ndim == 2
        batch = features[np.newaxis] if single else features
        if batch.ndim != 3 or batch.shape[1:] != self.config.feature_shape:
            raise AudioError(
                f"features must have shape {self.config.feature_shape} or (n, *that), got {features.shape}"
            )
        if not np.isfinite(batch).all():
            raise AudioError("features contain NaN or infinite values")
        out = np.empty((batch.shape[0], len(self.labels)), dtype=np.float32)
        for i, window in enumerate(batch):
            # The fused LSTM ops keep their state in variable tensors that survive invoke():
            # every window must start from the zero state, as in training.
            self.interpreter.reset_all_variables()
            self.interpreter.set_tensor(self.input_spec.index, self.quantize(window))
            self.interpreter.invoke()
            raw = self.interpreter.get_tensor(self.output_spec.index)[0]
            if np.issubdtype(raw.dtype, np.integer):
                raw = (raw.astype(np.float32) - self.output_spec.zero_point) * self.output_spec.scale
            probs = np.clip(raw, 0.0, None)
            total = probs.sum()
            out[i] = probs / total if total > 0 else np.full(len(probs), 1.0 / len(probs))
        if calibrated:
            out = self.calibration.apply(out)
        return out[0] if single else out

    def music_score(self, features: np.ndarray) -> float | None:
        """The detector's probability that a window ``(frames, coeffs)`` is music (None without a detector)."""
        return None if self.music_detector is None else self.music_detector.score(features)

    def is_music(self, score: float | None) -> bool:
        return score is None or score >= self.music_threshold

    def aggregate(self, raw: list[np.ndarray]) -> np.ndarray:
        """Calibrated probabilities of several windows together: the tempered mean of their raw outputs."""
        return self.calibration.apply(np.mean(raw, axis=0))

    def window_starts(self, n_samples: int, hop_seconds: float | None = None) -> list[int]:
        """First samples of the windows :meth:`classify` uses (see :func:`window_starts`)."""
        return window_starts(n_samples, self.config, hop_seconds)

    def classify(self, y: np.ndarray, sr: int, hop_seconds: float | None = None) -> ClipResult:
        """Classify a mono signal: per-window results and the clip's mean over non-silent windows.

        ``y`` at another rate than the model's is resampled. Clips shorter than one window
        (but at least :data:`MIN_CLIP_SECONDS`) are zero-padded to one window.
        """
        y = validate_audio(y)
        if sr != self.config.sample_rate:
            from .audio import resample

            y = resample(y.astype(np.float32), sr, self.config.sample_rate)
        if y.size < MIN_CLIP_SECONDS * self.config.sample_rate:
            raise AudioError(
                f"clip is {y.size / self.config.sample_rate:.2f} s long; at least {MIN_CLIP_SECONDS:g} s is needed"
            )
        n_window = self.config.window_samples
        if y.size < n_window:
            y = np.pad(y, (0, n_window - y.size))
        windows = []
        for start in self.window_starts(y.size, hop_seconds):
            windows.append(self.classify_window(y[start : start + n_window], start / self.config.sample_rate))
        return self.summarize(windows)

    def classify_window(self, window: np.ndarray, start_s: float = 0.0, features: np.ndarray | None = None,
                        level: float | None = None) -> WindowResult:
        """Classify one window of samples; windows below :data:`SILENCE_DBFS` are silence, windows
        the music detector scores below the threshold are :data:`NOT_MUSIC`.

        ``features`` and the window's ``level`` (:func:`rms_dbfs`) may be passed if already computed.
        """
        level = rms_dbfs(window) if level is None else level
        if level < SILENCE_DBFS:
            return WindowResult(start_s, SILENCE, 0.0, np.zeros(len(self.labels), np.float32), level)
        if features is None:
            features = window_features(np.asarray(window, dtype=np.float32), self.config)
        raw = self.predict(features, calibrated=False)
        probs = self.calibration.apply(raw)
        score = self.music_score(features)
        best = int(np.argmax(probs))
        if not self.is_music(score):
            return WindowResult(start_s, NOT_MUSIC, 0.0, probs, level, raw, score)
        return WindowResult(start_s, self.labels[best], float(probs[best]), probs, level, raw, score)

    def summarize(self, windows: list[WindowResult]) -> ClipResult:
        """Clip-level result: tempered mean of the non-silent windows' raw probabilities; the clip is
        :data:`NOT_MUSIC` when the mean music score of those windows is below the threshold."""
        voiced = [w for w in windows if not w.silent]
        if not voiced:
            return ClipResult(SILENCE, 0.0, np.zeros(len(self.labels), np.float32), self.labels, windows)
        probs = self.aggregate([w.raw_probabilities if w.raw_probabilities is not None else w.probabilities
                                for w in voiced])
        scores = [w.music_score for w in voiced if w.music_score is not None]
        score = float(np.mean(scores)) if scores else None
        if not self.is_music(score):
            return ClipResult(NOT_MUSIC, 0.0, probs, self.labels, windows, score)
        best = int(np.argmax(probs))
        return ClipResult(self.labels[best], float(probs[best]), probs, self.labels, windows, score)
