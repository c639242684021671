"""Capture degradations: what a Pi's microphone or a ripped file does to music.

Every degradation is a function ``(y, sr, strength, rng) -> y`` on mono float
audio (before the front end): it returns float32 audio of the same length
(time-stretch excepted), finite and clipped to [-1, 1] as an ADC or a file
would. ``strength`` is in the degradation's natural unit (Hz, dB, seconds,
...); all randomness comes from ``rng``, so a seeded generator gives the same
output every time. Pure NumPy plus soxr (through :func:`edge_genre.audio.resample`)
and soundfile for the file round trip.

:data:`DEGRADATIONS` maps names to a :class:`Degradation`: the function, its
strength grid (mildest to most severe, used by the robustness report), the
documented *moderate* strength, and the range augmentation draws from.

Moderate strengths (the robustness target is accuracy within 5 points of clean
at each of these):

=============  ==================================================  ==========
name           what                                                moderate
=============  ==================================================  ==========
bandlimit      resample down to ``strength`` Hz and back            16000 Hz
noise-white    white noise at ``strength`` dB SNR                   20 dB
noise-pink     pink (1/f) noise at ``strength`` dB SNR              20 dB
noise-babble   babble-like noise (6 talkers) at ``strength`` dB SNR 20 dB
gain           ``strength`` dB gain, then clipping to [-1, 1]       -20 dB
reverb         exponential-noise room IR with RT60 ``strength`` s   0.4 s
mic-eq         high-pass at ``strength`` Hz + gentle HF roll-off    100 Hz
stereo-file    stereo 16-bit WAV at ``strength`` Hz, read back by   44100 Hz
               ``edge_genre.audio.load_audio``
=============  ==================================================  ==========

Augmentation-only entries (``capture=False``, not in the robustness report by
default): ``time-stretch`` (phase vocoder, rate), ``pitch-shift`` (semitones,
resampling + time-stretch) and ``noise`` (the papers' Gaussian noise,
``y + strength * N(0, 1)``).
"""

from __future__ import annotations

import os
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edge_genre.audio import load_audio, resample

__all__ = [
    "CAPTURE", "DEGRADATIONS", "DEGRADE_VERSION", "Degradation", "apply", "apply_chain", "bandlimit", "babble_noise",
    "gain", "mic_eq", "mic_eq_response", "noise_at_snr", "pink_noise", "reverb", "rng_for", "room_ir", "stereo_file",
    "time_stretch", "pitch_shift", "gaussian_noise",
]

DEGRADE_VERSION = 1  # bump when a degradation changes its output (invalidates robustness caches)
REVERB_DRR_DB = 0.0  # direct-to-reverberant energy ratio of the synthetic room (a mic ~1 m from a speaker)
REVERB_PREDELAY_S = (0.003, 0.012)  # the first reflection arrives this long after the direct path
BABBLE_TALKERS = 6
MIC_HIGHPASS_ORDER = 2  # 12 dB/octave below the corner
MIC_ROLLOFF_HZ = 8000.0  # first-order roll-off corner at the moderate (100 Hz) setting


# ----------------------------------------------------------------------------- helpers

def rng_for(*keys, seed: int = 0) -> np.random.Generator:
    """A generator seeded from ``seed`` and any strings/numbers: stable across runs and processes."""
    entropy = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(entropy)


def _finish(y: np.ndarray) -> np.ndarray:
    """float32, NaN-free, clipped to [-1, 1]: what an ADC or a PCM file holds."""
    return np.clip(np.nan_to_num(np.asarray(y, dtype=np.float64)), -1.0, 1.0).astype(np.float32)


def _fix_length(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if y.size >= n else np.pad(y, (0, n - y.size))


def _power(y: np.ndarray) -> float:
    return float(np.mean(np.square(y, dtype=np.float64)))


def _shaped_noise(n: int, sr: int, magnitude: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``n`` samples whose spectrum is scaled by ``magnitude(freqs)``; unit RMS."""
    size = 1 << max(n - 1, 1).bit_length()  # a power of two: clip lengths can have large prime factors
    spec = np.fft.rfft(rng.standard_normal(size))
    spec *= magnitude(np.fft.rfftfreq(size, 1.0 / sr))
    out = np.fft.irfft(spec, size)[:n]
    rms = np.sqrt(_power(out))
    return out / rms if rms > 0 else out


# ----------------------------------------------------------------------------- capture degradations

def bandlimit(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Resample to ``strength`` Hz and back to ``sr`` (soxr HQ, as the runtime): no energy above strength/2.

    16000 is a speech-grade rip or a 16-kHz USB microphone; 8000 a telephone line.
    """
    rate = int(round(strength))
    if rate >= sr:
        return _finish(y)
    down = resample(np.asarray(y, dtype=np.float32), sr, rate)
    return _finish(_fix_length(resample(down, rate, sr), y.size))


def white_noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white Gaussian noise."""
    out = rng.standard_normal(n)
    return out / np.sqrt(_power(out))


def pink_noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS pink noise: power falls 3 dB per octave (1/f) from 20 Hz up."""
    return _shaped_noise(n, sr, lambda f: 1.0 / np.sqrt(np.maximum(f, 20.0)) * (f > 0), rng)


def _talker_spectrum(f: np.ndarray, scale: float) -> np.ndarray:
    """Long-term speech spectrum: rises to ~500 Hz (x scale), falls ~6 dB/oct above 800 Hz, band 100 Hz-5 kHz."""
    f = np.maximum(f, 1e-3)
    highpass = (f / (100 * scale)) ** 2 / np.sqrt(1 + (f / (100 * scale)) ** 4)
    body = 1.0 / np.sqrt(1 + (f / (800 * scale)) ** 2)
    formant = 1 + 0.8 * np.exp(-0.5 * ((f - 500 * scale) / (250 * scale)) ** 2)
    lowpass = 1.0 / np.sqrt(1 + (f / (5000 * scale)) ** 8)
    return highpass * body * formant * lowpass


def _syllabic_envelope(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """On/off amplitude envelope at syllable (2-7 Hz) rate with pauses; mean about 1."""
    rate = 100  # envelope sample rate
    m = n * rate // sr + 2
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / rate)
    spec *= (f >= 2.0) & (f <= 7.0)
    s = np.fft.irfft(spec, m)
    s /= np.std(s) or 1.0
    env = np.maximum(0.0, 0.6 + s)  # about a quarter of the time silent (pauses between syllables)
    env = np.interp(np.arange(n) * rate / sr, np.arange(m), env)
    return env / (np.sqrt(np.mean(env ** 2)) or 1.0)


def babble_noise(n: int, sr: int, rng: np.random.Generator, talkers: int = BABBLE_TALKERS) -> np.ndarray:
    """Unit-RMS babble-like noise: several speech-shaped, syllable-modulated noise 'talkers' summed.

    Each talker has its own voice scale (0.8-1.6: lower and higher voices), level (+-3 dB) and
    on/off envelope; no recorded speech is used.
    """
    out = np.zeros(n)
    for _ in range(talkers):
        scale = rng.uniform(0.8, 1.6)
        voice = _shaped_noise(n, sr, lambda f, s=scale: _talker_spectrum(f, s), rng)
        out += 10 ** (rng.uniform(-3, 3) / 20) * voice * _syllabic_envelope(n, sr, rng)
    rms = np.sqrt(_power(out))
    return out / rms if rms > 0 else out


NOISE_KINDS = {"white": white_noise, "pink": pink_noise, "babble": babble_noise}


def noise_at_snr(y: np.ndarray, sr: int, snr_db: float, rng: np.random.Generator, kind: str = "white") -> np.ndarray:
    """``y`` plus ``kind`` noise scaled so that 10 log10(P_signal / P_noise) = ``snr_db`` over the whole clip."""
    noise = NOISE_KINDS[kind](y.size, sr, rng)
    p_signal = max(_power(y), 1e-12)
    noise *= np.sqrt(p_signal / 10 ** (snr_db / 10))
    return _finish(y + noise)


def _noise_fn(kind: str):
    def fn(y, sr, strength, rng):
        return noise_at_snr(y, sr, strength, rng, kind)

    fn.__name__ = f"noise_{kind}"
    fn.__doc__ = f"{kind.capitalize()} noise at ``strength`` dB SNR (see :func:`noise_at_snr`)."
    return fn


def gain(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Multiply by ``strength`` dB and clip to [-1, 1] (a hot input gain saturates the ADC)."""
    return _finish(np.asarray(y, dtype=np.float64) * 10 ** (strength / 20))


def room_ir(sr: int, rt60: float, rng: np.random.Generator, drr_db: float = REVERB_DRR_DB) -> np.ndarray:
    """Synthetic room impulse response: a unit direct path, then exponentially decaying Gaussian noise.

    The tail's amplitude falls by 60 dB over ``rt60`` seconds (envelope ``exp(-6.91 t / rt60)``); it
    starts after a short pre-delay and holds ``drr_db`` dB less energy than the direct path.
    """
    length = int(round(sr * min(1.2 * rt60 + 0.05, 3.0)))
    predelay = int(round(sr * rng.uniform(*REVERB_PREDELAY_S)))
    t = np.arange(length - predelay) / sr
    tail = rng.standard_normal(t.size) * np.exp(-np.log(1000.0) * t / rt60)
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail ** 2))
    ir = np.zeros(length)
    ir[0] = 1.0
    ir[predelay:] = tail
    return ir


def _fft_convolve(y: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = y.size + h.size - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(y, size) * np.fft.rfft(h, size), size)[: y.size]


def reverb(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with :func:`room_ir` (RT60 ``strength`` s); the clip keeps its RMS level and length."""
    if strength <= 0:
        return _finish(y)
    wet = _fft_convolve(np.asarray(y, dtype=np.float64), room_ir(sr, strength, rng))
    p_in, p_out = _power(y), _power(wet)
    if p_out > 0:
        wet *= np.sqrt(p_in / p_out)
    return _finish(wet)


def mic_eq_response(freqs: np.ndarray, highpass_hz: float) -> np.ndarray:
    """Magnitude response of :func:`mic_eq`: 2nd-order Butterworth high-pass at ``highpass_hz`` times a
    first-order low-pass at ``8000 * sqrt(100 / highpass_hz)`` Hz (8 kHz at the moderate 100 Hz setting)."""
    f = np.abs(np.asarray(freqs, dtype=np.float64))
    ratio = (f / highpass_hz) ** MIC_HIGHPASS_ORDER
    hp = ratio / np.sqrt(1 + ratio ** 2)
    lp_hz = MIC_ROLLOFF_HZ * np.sqrt(100.0 / highpass_hz)
    lp = 1.0 / np.sqrt(1 + (f / lp_hz) ** 2)
    return hp * lp


def mic_eq(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """A small microphone's response: high-pass at ``strength`` Hz, gentle high-frequency roll-off (zero phase)."""
    n = y.size
    size = 1 << max(n - 1, 1).bit_length()  # zero padding keeps the circular wrap-around out of the clip
    spec = np.fft.rfft(np.asarray(y, dtype=np.float64), size)
    spec *= mic_eq_response(np.fft.rfftfreq(size, 1.0 / sr), strength)
    return _finish(np.fft.irfft(spec, size)[:n])


def stereo_file(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator | None = None,
                subtype: str = "PCM_16") -> np.ndarray:
    """Write ``y`` as a stereo 16-bit WAV at ``strength`` Hz (44.1/48 kHz) and read it back with the runtime's
    :func:`edge_genre.audio.load_audio` (mean downmix, soxr resampling back to ``sr``)."""
    import soundfile as sf

    rate = int(round(strength))
    up = resample(np.asarray(y, dtype=np.float32), sr, rate)
    stereo = np.clip(np.stack([up, up], axis=1), -1.0, 1.0)
    fd, path = tempfile.mkstemp(suffix=".wav", prefix="edge-genre-degrade-")
    os.close(fd)
    try:
        sf.write(path, stereo, rate, subtype=subtype)
        back = load_audio(path, sr=sr)
    finally:
        os.unlink(path)
    return _finish(_fix_length(back, y.size))


# ----------------------------------------------------------------------------- augmentation-only (papers)

def _stft(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(y, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * window, axis=1).T  # (bins, frames)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.fft.irfft(spec.T, n_fft, axis=1) * window
    total = n_fft + hop * (frames.shape[0] - 1)
    out, norm = np.zeros(total), np.zeros(total)
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += window ** 2
    out /= np.maximum(norm, 1e-8)
    return _fix_length(out[n_fft // 2 :], length)


def time_stretch(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator | None = None,
                 n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Phase-vocoder time stretch by ``strength`` (>1 faster/shorter, <1 slower/longer), pitch kept."""
    rate = float(strength)
    if rate == 1.0:
        return _finish(y)
    spec = _stft(np.asarray(y, dtype=np.float64), n_fft, hop)
    steps = np.arange(0, spec.shape[1] - 1, rate)
    spec = np.pad(spec, ((0, 0), (0, 2)))
    lo = steps.astype(int)
    frac = steps - lo
    mag = (1 - frac) * np.abs(spec[:, lo]) + frac * np.abs(spec[:, lo + 1])
    advance = np.linspace(0, np.pi * hop, spec.shape[0])
    dphi = np.angle(spec[:, lo + 1]) - np.angle(spec[:, lo]) - advance[:, None]
    dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
    phase = np.angle(spec[:, :1]) + np.cumsum(np.concatenate([np.zeros((spec.shape[0], 1)), (dphi + advance[:, None])[:, :-1]], axis=1), axis=1)
    out = _istft(mag * np.exp(1j * phase), n_fft, hop, int(round(y.size / rate)))
    return _finish(out)


def pitch_shift(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Shift the pitch by ``strength`` semitones, keeping the duration (time-stretch, then resample)."""
    import soxr

    factor = 2.0 ** (strength / 12.0)
    if factor == 1.0:
        return _finish(y)
    stretched = time_stretch(y, sr, 1.0 / factor)
    shifted = soxr.resample(stretched.astype(np.float32), sr * factor, sr, quality="HQ")
    return _finish(_fix_length(shifted, y.size))


def gaussian_noise(y: np.ndarray, sr: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The papers' noise augmentation: ``y + strength * N(0, 1)`` (absolute level, not an SNR)."""
    return _finish(y + strength * rng.standard_normal(y.size))


# ----------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class Degradation:
    """One registry entry: ``fn(y, sr, strength, rng) -> y`` and how to choose its strength."""

    name: str
    fn: Callable[..., np.ndarray]
    grid: tuple[float, ...]  # mildest to most severe: the robustness report's strengths
    moderate: float  # the documented 'moderate' setting (the target's test point)
    unit: str
    description: str
    order: int  # position in a chain: room -> noise -> microphone -> gain/ADC -> rate -> file
    train_range: tuple[float, float] | None = None  # augmentation draws uniformly from here ...
    log_uniform: bool = False  # ... in log space
    train_choices: tuple[float, ...] = field(default=())  # ... or from these values
    capture: bool = True  # a capture/playback condition (in the robustness report by default)

    def sample(self, rng: np.random.Generator) -> float:
        """A random strength for augmentation."""
        if self.train_choices:
            return float(self.train_choices[int(rng.integers(len(self.train_choices)))])
        if self.train_range:
            lo, hi = self.train_range
            if self.log_uniform:
                return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            return float(rng.uniform(lo, hi))
        return float(self.grid[int(rng.integers(len(self.grid)))])

    def format(self, strength: float) -> str:
        value = f"{strength:+g}" if self.unit == "dB" and self.name == "gain" else f"{strength:g}"
        return f"{value} {self.unit}".strip()


DEGRADATIONS: dict[str, Degradation] = {d.name: d for d in (
    Degradation("time-stretch", time_stretch, (0.9, 1.1, 0.8, 1.2), 1.1, "x", "phase-vocoder time stretch (rate)",
                0, train_range=(0.8, 1.2), capture=False),
    Degradation("pitch-shift", pitch_shift, (1.0, -1.0, 2.0, -2.0), 1.0, "semitones", "pitch shift (semitones)",
                1, train_range=(-2.0, 2.0), capture=False),
    Degradation("reverb", reverb, (0.2, 0.4, 0.8, 1.2), 0.4, "s", "room reverb, RT60 (s)", 2, train_range=(0.1, 1.0)),
    Degradation("noise-white", _noise_fn("white"), (30.0, 20.0, 10.0, 5.0), 20.0, "dB", "white noise, SNR (dB)", 3,
                train_range=(5.0, 30.0)),
    Degradation("noise-pink", _noise_fn("pink"), (30.0, 20.0, 10.0, 5.0), 20.0, "dB", "pink noise, SNR (dB)", 3,
                train_range=(5.0, 30.0)),
    Degradation("noise-babble", _noise_fn("babble"), (30.0, 20.0, 10.0, 5.0), 20.0, "dB", "babble-like noise, SNR (dB)",
                3, train_range=(5.0, 30.0)),
    Degradation("noise", gaussian_noise, (0.001, 0.005, 0.01, 0.02), 0.005, "", "Gaussian noise, std (papers)", 3,
                train_range=(0.001, 0.01), log_uniform=True, capture=False),
    Degradation("mic-eq", mic_eq, (100.0, 200.0, 400.0), 100.0, "Hz", "microphone EQ, high-pass corner (Hz)", 4,
                train_range=(60.0, 400.0), log_uniform=True),
    Degradation("gain", gain, (6.0, -10.0, -20.0, -30.0), -20.0, "dB", "gain (dB), clipped to [-1, 1]", 5,
                train_range=(-30.0, 6.0)),
    Degradation("bandlimit", bandlimit, (16000.0, 11025.0, 8000.0), 16000.0, "Hz", "band limit via resampling (Hz)", 6,
                train_choices=(8000.0, 11025.0, 16000.0)),
    Degradation("stereo-file", stereo_file, (44100.0, 48000.0), 44100.0, "Hz", "stereo 16-bit WAV round trip (Hz)", 7,
                train_choices=(44100.0, 48000.0)),
)}

# The capture degradations, in report order.
CAPTURE = ("bandlimit", "noise-white", "noise-pink", "noise-babble", "gain", "reverb", "mic-eq", "stereo-file")
assert set(CAPTURE) == {name for name, d in DEGRADATIONS.items() if d.capture}


def get(name: str) -> Degradation:
    try:
        return DEGRADATIONS[name]
    except KeyError:
        raise KeyError(f"unknown degradation {name!r}; choose from {', '.join(DEGRADATIONS)}") from None


def apply(y: np.ndarray, sr: int, name: str, strength: float | None = None,
          rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Apply one degradation (``strength`` defaults to its moderate setting; ``rng`` may be a seed)."""
    d = get(name)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return d.fn(np.asarray(y, dtype=np.float32), sr, d.moderate if strength is None else strength, rng)


def apply_chain(y: np.ndarray, sr: int, steps: list[tuple[str, float]], rng: np.random.Generator) -> np.ndarray:
    """Apply ``(name, strength)`` steps in chain order (room, noise, microphone, gain, rate, file)."""
    for name, strength in sorted(steps, key=lambda s: get(s[0]).order):
        y = get(name).fn(y, sr, strength, rng)
    return y
