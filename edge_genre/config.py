"""Feature configuration: the one description of the front end.

A :class:`FeatureConfig` travels inside every model file, so the runtime, the
streaming path, the training pipeline and the firmware tables all compute the
same features, and a model trained on other features is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

FEATURE_KINDS = ("mfcc", "logmel", "musicnn")
MUSICNN_OFFSET = 10000.0  # musicnn's compression: log10(1 + 10000 * mel power)
# The musicnn kind's "level" normalization moves each window's mean mel power to this level (dB):
# about the median window of the 370 GTZAN songs (-4.7 dB), so typical music is barely changed.
MUSICNN_LEVEL_DB = -5.0
NORMALIZATIONS = ("none", "window", "level")
SCHEMA_VERSION = 1
# Ranges a real front end can have. A model's metadata is untrusted input: every size in it
# becomes an allocation in 'classify' and 'listen', so it is bounded here, once, for every command.
MIN_SAMPLE_RATE = 4000  # the audio loader's range (edge_genre.audio re-exports these)
MAX_SAMPLE_RATE = 384000
MAX_N_FFT = 16384
MAX_OVERLAP = 32  # n_fft / hop_length: the streaming path keeps that many zero-padded edge frames
MAX_N_MELS = 512
MAX_WINDOW_SECONDS = 60.0
MAX_WINDOW_SAMPLES = 1 << 20  # 47 s at 22.05 kHz, 10.9 s at 96 kHz
MAX_FRAMES = 10000  # frames per window (1 + window / hop)


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the MFCC / log-mel front end (librosa 0.11 semantics).

    Parameters
    ----------
    sample_rate : int
        Sample rate the features are computed at, in Hz.
    n_fft : int
        FFT size and window length in samples (periodic Hann window).
    hop_length : int
        Frame advance in samples.
    n_mels : int
        Number of Slaney-style mel bands (Slaney area normalisation).
    n_mfcc : int
        Number of DCT-II (orthonormal) coefficients kept; ignored for ``logmel``.
    fmin, fmax : float
        Frequency range of the mel filterbank in Hz; ``fmax=None`` means ``sample_rate / 2``.
    top_db : float or None
        Dynamic range kept by ``power_to_db`` (relative to the maximum of the input).
    window_seconds : float
        Length of one classification window in seconds.
    kind : {"mfcc", "logmel", "musicnn"}
        Which feature the model consumes. ``"musicnn"`` is the input of the pretrained musicnn
        models (the large model): ``log10(1 + 10000 * mel power)`` per frame, no ``top_db``
        floor (:meth:`FeatureConfig.musicnn` gives its whole front end). Its ``"level"``
        normalization first scales the window's mel power so that its mean is
        ``MUSICNN_LEVEL_DB`` (-5 dB): the features no longer depend on the input gain.
    normalization : {"none", "window", "level"}
        ``"window"`` standardises each coefficient over the frames of a window
        (zero mean, unit variance), applied after the features are computed.
        ``"level"`` subtracts the window's mean log-mel level (dB, after the
        ``top_db`` floor, before the DCT): the features become invariant to the
        input gain while the spectral envelope and its changes over time stay
        (for MFCC only c0 changes: it is centred over the window).
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 13
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    window_seconds: float = 3.0
    kind: str = "mfcc"
    normalization: str = "none"

    def __post_init__(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"invalid FeatureConfig: {msg}")

        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_mfcc"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise bad(f"{name} must be a positive integer, got {value!r}")
        if not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise bad(f"sample_rate must be from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {self.sample_rate}")
        if self.n_fft > MAX_N_FFT:
            raise bad(f"n_fft must be at most {MAX_N_FFT}, got {self.n_fft}")
        if self.n_mels > MAX_N_MELS:
            raise bad(f"n_mels must be at most {MAX_N_MELS}, got {self.n_mels}")
        if self.hop_length > self.n_fft:
            raise bad(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        if self.n_fft > MAX_OVERLAP * self.hop_length:
            raise bad(f"n_fft ({self.n_fft}) may be at most {MAX_OVERLAP} hops (hop_length {self.hop_length})")
        if self.n_mfcc > self.n_mels:
            raise bad(f"n_mfcc ({self.n_mfcc}) must not exceed n_mels ({self.n_mels})")
        for name in ("fmin", "fmax", "top_db", "window_seconds"):
            value = getattr(self, name)
            if value is None and name in ("fmax", "top_db"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise bad(f"{name} must be a finite number{' or None' if name in ('fmax', 'top_db') else ''}, got {value!r}")
        if not 0 <= self.fmin < self.mel_fmax <= self.sample_rate / 2:
            raise bad(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}")
        if self.top_db is not None and self.top_db <= 0:
            raise bad(f"top_db must be positive or None, got {self.top_db}")
        if not 0 < self.window_seconds <= MAX_WINDOW_SECONDS or self.window_samples < 1:
            raise bad(f"window_seconds must be more than 0 and at most {MAX_WINDOW_SECONDS:g}, got {self.window_seconds}")
        if self.window_samples > MAX_WINDOW_SAMPLES:
            raise bad(f"a window of {self.window_seconds:g} s at {self.sample_rate} Hz has {self.window_samples} "
                      f"samples; at most {MAX_WINDOW_SAMPLES}")
        if self.n_frames > MAX_FRAMES:
            raise bad(f"a window of {self.window_seconds:g} s at hop_length {self.hop_length} has {self.n_frames} "
                      f"frames; at most {MAX_FRAMES}")
        if self.kind not in FEATURE_KINDS:
            raise bad(f"kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        if self.normalization not in NORMALIZATIONS:
            raise bad(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.kind == "musicnn" and (self.top_db is not None or self.normalization == "window"):
            raise bad("kind 'musicnn' takes no top_db floor and no 'window' normalization "
                      "(top_db=None, normalization 'none' or 'level')")

    def check_mel_filters(self) -> None:
        """Raise :class:`ConfigError` if a mel band has no FFT bin (an all-zero filter: a constant
        feature). Checked when a model loads; the front end itself computes such bands as the floor."""
        from .dsp import empty_mel_bands  # dsp imports this module: import on use

        empty = empty_mel_bands(self)
        if empty:
            raise ConfigError(f"invalid FeatureConfig: {len(empty)} of {self.n_mels} mel bands contain no FFT bin "
                              f"(first: band {empty[0]}); use fewer mel bands or a larger n_fft")

    @classmethod
    def musicnn(cls, normalization: str = "none", window_seconds: float = 3.0) -> "FeatureConfig":
        """musicnn's front end (16 kHz, n_fft 512, hop 256, 96 mel bands, ``log10(1 + 10000 mel)``):
        188 frames per 3-s window (musicnn's own patches are 187 frames); ``normalization="level"``
        makes it gain-invariant (the large model's)."""
        return cls(sample_rate=16000, n_fft=512, hop_length=256, n_mels=96, top_db=None,
                   window_seconds=window_seconds, kind="musicnn", normalization=normalization)

    @property
    def mel_fmax(self) -> float:
        """Upper edge of the mel filterbank in Hz."""
        return float(self.sample_rate) / 2 if self.fmax is None else float(self.fmax)

    def bandwidth_warning(self, input_rate: int) -> str | None:
        """A one-line warning when audio recorded at ``input_rate`` Hz lacks part of the band the
        features read (its Nyquist frequency is below :attr:`mel_fmax`), else ``None``."""
        nyquist = input_rate / 2
        if input_rate < MIN_SAMPLE_RATE or nyquist >= 0.98 * self.mel_fmax:
            return None  # below MIN_SAMPLE_RATE the loader refuses the audio: no advice to give
        return (f"audio recorded at {input_rate} Hz holds nothing above {nyquist:g} Hz, but this model's features "
                f"reach {self.mel_fmax:g} Hz: expect lower accuracy (a model trained on 'train prepare --fmax "
                f"{int(nyquist) // 1000 * 1000}' features does not have this problem)")

    @property
    def window_samples(self) -> int:
        """Samples in one classification window (66150 for 3 s at 22050 Hz)."""
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """Frames per window with centred framing (130 for the defaults)."""
        return 1 + self.window_samples // self.hop_length

    @property
    def n_features(self) -> int:
        """Coefficients per frame: ``n_mfcc`` for MFCC, ``n_mels`` for log-mel."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def feature_shape(self) -> tuple[int, int]:
        """Shape of one window's feature matrix, ``(n_frames, n_features)``."""
        return (self.n_frames, self.n_features)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, with a schema version."""
        return {"schema": SCHEMA_VERSION, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        """Build from :meth:`to_dict` output; unknown keys or a newer schema are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"feature configuration must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        schema = data.pop("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise ConfigError(
                f"feature configuration schema {schema} is not supported by this edge-genre "
                f"(supports {SCHEMA_VERSION}); upgrade edge-genre"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"feature configuration has unsupported fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:  # pragma: no cover - dataclass signature errors
            raise ConfigError(f"invalid feature configuration: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> "FeatureConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"feature configuration is not valid JSON: {exc}") from None
        return cls.from_dict(data)
