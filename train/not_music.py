"""Sounds that are not music, made here: what a Pi in a living room hears most of the day.

Each generator is ``(n, sr, rng) -> y``: ``n`` samples of mono float audio at ``sr`` Hz, peak
level drawn by the caller. Kinds:

========== =====================================================================
kind       what
========== =====================================================================
white      white noise
pink       pink (1/f) noise
brown      brown (1/f^2) noise: rumble, wind
hum        mains hum: 50 or 60 Hz and its harmonics over faint noise
dc         a cheap microphone's DC offset over faint room noise
tone       one sine tone (a test tone, a beep held down)
beeps      a tone switched on and off (alarms, a microwave)
dtmf       two-tone telephone keypad sequences
sweep      a sine sweep (a test signal)
clicks     an impulse train (a clock, a turn signal)
hoover     band-passed noise with a motor's wobbling harmonic whine
chirps     bird-like fast frequency-modulated chirps between pauses
rain       noise with random droplets
babble     crowd babble (speech-shaped, syllable-modulated noise)
speech     speech synthesized with espeak-ng (skipped when it is not installed)
========== =====================================================================

:func:`not_music_set` draws a set of these with a seed; the set a model learns from and the set it
is evaluated on use different seeds, and speech in different languages and voice variants
(:data:`TRAIN_VOICES` / :data:`TEST_VOICES`). No recorded audio is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from edge_genre.audio import load_audio

from .degrade import babble_noise, pink_noise, white_noise

Generator = Callable[[int, int, np.random.Generator], np.ndarray]


def _brown(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    y = np.cumsum(rng.standard_normal(n))
    y -= np.linspace(y[0], y[-1], n)  # no drift
    return y / (np.abs(y).max() + 1e-12)


def _faint(n: int, rng: np.random.Generator, db: float) -> np.ndarray:
    return 10 ** (db / 20) * rng.standard_normal(n)


def _hum(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.998, 1.002)
    y = sum(rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) for k in range(1, 8))
    return y + _faint(n, rng, rng.uniform(-50, -30))


def _dc(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.02, 0.3) * rng.choice([-1, 1]) + _faint(n, rng, rng.uniform(-70, -45))


def _tone(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    return np.sin(2 * np.pi * np.exp(rng.uniform(np.log(80), np.log(6000))) * t)


def _beeps(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(0.2, 1.2)
    on = (np.arange(n) / sr) % period < period * rng.uniform(0.2, 0.7)
    return _tone(n, sr, rng) * on


def _dtmf(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    y = np.zeros(n)
    key = int(0.12 * sr)
    for start in range(0, n, int(rng.uniform(0.15, 0.3) * sr)):
        lo, hi = rng.choice([697, 770, 852, 941]), rng.choice([1209, 1336, 1477])
        seg = slice(start, min(n, start + key))
        y[seg] = np.sin(2 * np.pi * lo * t[seg]) + np.sin(2 * np.pi * hi * t[seg])
    return y


def _sweep(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    f0, f1 = np.exp(rng.uniform(np.log(40), np.log(500))), np.exp(rng.uniform(np.log(2000), np.log(10000)))
    t = np.arange(n) / sr
    k = np.log(f1 / f0) / t[-1]
    return np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)


def _clicks(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    y = _faint(n, rng, -60)
    period = int(rng.uniform(0.25, 1.0) * sr)
    click = np.exp(-np.arange(int(0.01 * sr)) / (0.001 * sr)) * rng.standard_normal(int(0.01 * sr))
    for start in range(int(rng.uniform(0, period)), n - click.size, period):
        y[start : start + click.size] += click
    return y


def _bandpass_noise(n: int, sr: int, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[(f < lo) | (f > hi)] *= 0.05
    return np.fft.irfft(spec, n)


def _hoover(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = rng.uniform(120, 400) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
    whine = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 6))
    noise = _bandpass_noise(n, sr, rng, rng.uniform(100, 500), rng.uniform(3000, 9000))
    return noise / (np.abs(noise).max() + 1e-12) + rng.uniform(0.05, 0.4) * whine


def _chirps(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    y = _faint(n, rng, -55)
    pos = int(rng.uniform(0, 0.3) * sr)
    while pos < n:
        dur = int(rng.uniform(0.03, 0.25) * sr)
        seg = np.arange(min(dur, n - pos)) / sr
        f = rng.uniform(2000, 7000) + rng.uniform(-3000, 3000) * seg / max(seg[-1], 1e-3) if seg.size else seg
        f = np.clip(f, 500, 10000)
        y[pos : pos + seg.size] += np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(seg.size)
        pos += dur + int(rng.uniform(0.02, 0.6) * sr)
    return y


def _rain(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    y = 0.3 * pink_noise(n, sr, rng)
    for start in rng.integers(0, n - 200, size=int(rng.uniform(20, 200) * n / sr)):
        y[start : start + 200] += rng.uniform(0.1, 1.0) * np.exp(-np.arange(200) / 30) * rng.standard_normal(200)
    return y


GENERATORS: dict[str, Generator] = {
    "white": white_noise, "pink": pink_noise, "brown": _brown, "hum": _hum, "dc": _dc, "tone": _tone,
    "beeps": _beeps, "dtmf": _dtmf, "sweep": _sweep, "clicks": _clicks, "hoover": _hoover, "chirps": _chirps,
    "rain": _rain, "babble": babble_noise,
}

# espeak-ng voices: a language and a voice variant. The detector learns from ten languages in ten
# variants (male, female, the Klatt formant synthesizers, whisper, croak: with the plain voices only,
# real read speech from LibriSpeech was rejected in 70 % of its windows, with these in all); it is
# tested on eight other languages, in their plain voices and in variants it never heard.
TRAIN_LANGUAGES = ("en", "en-us", "de", "fr", "es", "it", "nl", "pl", "ru", "hi")
TRAIN_VARIANTS = ("m1", "m3", "m7", "f1", "f2", "f4", "klatt", "klatt3", "whisper", "croak")
TEST_LANGUAGES = ("en-gb-x-rp", "pt", "sv", "tr", "ja", "cs", "fi", "el")
TEST_VARIANTS = ("m2", "m5", "f3", "f5", "klatt2", "klatt4")
TRAIN_VOICES = tuple(f"{lang}+{variant}" for lang in TRAIN_LANGUAGES for variant in TRAIN_VARIANTS)
TEST_VOICES = TEST_LANGUAGES + tuple(f"{lang}+{variant}" for lang in TEST_LANGUAGES for variant in TEST_VARIANTS)
SENTENCES = (
    "The weather this afternoon will be cloudy with a chance of light rain in the north.",
    "Please remember to take the bins out before you leave for work tomorrow morning.",
    "In today's news the city council voted to extend the opening hours of the library.",
    "Could you tell me the way to the station, I think I have missed my bus again.",
    "Welcome back to the show, tonight we are talking about gardening in small spaces.",
    "Add two cups of flour, a pinch of salt and stir slowly until the mixture is smooth.",
    "The meeting has been moved to Thursday at half past three in the small room.",
    "Scientists have found a new species of frog living high in the mountain forests.",
    "Turn left at the next junction and continue straight for about two kilometres.",
    "I would like to book a table for four people on Saturday evening, please.",
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(n: int, sr: int, rng: np.random.Generator, voices: tuple[str, ...] = TRAIN_VOICES) -> np.ndarray:
    """``n`` samples of espeak-ng speech in a random voice, rate and pitch (looped if shorter)."""
    text = " ".join(rng.choice(SENTENCES, size=2, replace=False))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = ["espeak-ng", "-v", str(rng.choice(voices)), "-s", str(int(rng.uniform(120, 220))),
               "-p", str(int(rng.uniform(20, 80))), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        y = load_audio(wav, sr=sr)
    start = int(rng.integers(0, max(1, y.size - n)))
    y = y[start : start + n]
    return np.resize(y, n) if y.size < n else y


def not_music_clip(kind: str, n: int, sr: int, rng: np.random.Generator, voices: tuple[str, ...] = TRAIN_VOICES
                   ) -> np.ndarray:
    """One clip of ``kind`` at a random peak level from -30 to -1 dB full scale, float32."""
    y = speech(n, sr, rng, voices) if kind == "speech" else GENERATORS[kind](n, sr, rng)
    y = np.asarray(y, dtype=np.float64)
    if kind != "dc":
        y = y - y.mean()
    peak = np.abs(y).max()
    y = y / peak if peak > 0 else y
    return (10 ** (rng.uniform(-30, -1) / 20) * y).astype(np.float32)


def kinds(include_speech: bool | None = None) -> list[str]:
    """Every kind, speech included when espeak-ng is installed (or when asked)."""
    speech_ok = espeak_available() if include_speech is None else include_speech
    return [*GENERATORS, *(["speech"] if speech_ok else [])]


def not_music_set(per_kind: int, seconds: float, sr: int, seed: int, voices: tuple[str, ...] = TRAIN_VOICES,
                  include: list[str] | None = None) -> list[tuple[str, np.ndarray]]:
    """``per_kind`` clips of every kind (speech five times as many: it is what a room hears most)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    out = []
    for kind in include or kinds():
        count = per_kind * (5 if kind == "speech" else 1)
        out += [(kind, not_music_clip(kind, n, sr, rng, voices)) for _ in range(count)]
    return out
