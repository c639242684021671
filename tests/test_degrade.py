"""Capture degradations (train/degrade.py): determinism and measured physical properties."""

from __future__ import annotations

import numpy as np
import pytest

from train import degrade

SR = 22050


def _music(rng: np.random.Generator, seconds: float = 4.0, level: float = 0.2) -> np.ndarray:
    """Broadband test signal: a few partials plus noise, at a level that never clips."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (110, 440, 1250, 3300, 7000))
    y = y / np.abs(y).max() + 0.3 * rng.standard_normal(t.size)
    return (level * y / np.abs(y).max()).astype(np.float32)


def _power(y: np.ndarray) -> float:
    return float(np.mean(np.square(y, dtype=np.float64)))


@pytest.mark.parametrize("name", sorted(degrade.DEGRADATIONS))
def test_deterministic_for_a_seed_and_valid_audio(name, rng):
    y = _music(rng)
    d = degrade.get(name)
    a = degrade.apply(y, SR, name, d.moderate, 7)
    b = degrade.apply(y, SR, name, d.moderate, np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert a.dtype == np.float32 and np.isfinite(a).all() and np.abs(a).max() <= 1.0
    if name != "time-stretch":
        assert a.size == y.size
    assert not np.array_equal(a, y)


@pytest.mark.parametrize("name", ["noise-white", "noise-pink", "noise-babble", "reverb", "noise"])
def test_random_degradations_depend_on_the_seed(name, rng):
    y = _music(rng)
    assert not np.array_equal(degrade.apply(y, SR, name, None, 1), degrade.apply(y, SR, name, None, 2))


def test_registry_moderate_strengths_are_documented_values():
    moderate = {n: d.moderate for n, d in degrade.DEGRADATIONS.items()}
    assert moderate["bandlimit"] == 16000 and moderate["gain"] == -20 and moderate["reverb"] == 0.4
    assert moderate["noise-white"] == moderate["noise-pink"] == moderate["noise-babble"] == 20
    assert moderate["mic-eq"] == 100 and moderate["stereo-file"] == 44100
    for d in degrade.DEGRADATIONS.values():
        assert d.moderate in d.grid, d.name
        lo_hi = d.train_range or (min(d.train_choices), max(d.train_choices))
        s = [d.sample(np.random.default_rng(i)) for i in range(20)]
        assert min(s) >= lo_hi[0] and max(s) <= lo_hi[1]
    assert set(degrade.CAPTURE) == {n for n, d in degrade.DEGRADATIONS.items() if d.capture}


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr", [20.0, 5.0])
def test_noise_snr_is_as_requested(kind, snr, rng):
    y = _music(rng, level=0.1)
    z = degrade.noise_at_snr(y, SR, snr, rng, kind)
    measured = 10 * np.log10(_power(y) / _power(z.astype(np.float64) - y))
    assert measured == pytest.approx(snr, abs=0.05)


def test_noise_colours_have_their_spectra(rng):
    n = SR * 8
    f = np.fft.rfftfreq(n, 1 / SR)

    def band_db(x, lo, hi):
        p = np.abs(np.fft.rfft(x)) ** 2
        return 10 * np.log10(p[(f >= lo) & (f < hi)].mean())

    white, pink, babble = (degrade.NOISE_KINDS[k](n, SR, rng) for k in ("white", "pink", "babble"))
    assert abs(band_db(white, 250, 500) - band_db(white, 4000, 8000)) < 1.0
    assert band_db(pink, 250, 500) - band_db(pink, 4000, 8000) == pytest.approx(10 * np.log10(16), abs=1.5)  # 3 dB/oct
    assert band_db(babble, 300, 800) - band_db(babble, 6000, 10000) > 20  # speech band
    env = np.sqrt(np.convolve(babble ** 2, np.ones(441) / 441, mode="valid"))[::441]  # 20-ms RMS
    assert np.std(env) / np.mean(env) > 0.2  # amplitude-modulated, not stationary


def test_gain_scales_and_clips(rng):
    y = _music(rng, level=0.8)
    quiet = degrade.gain(y, SR, -20.0)
    np.testing.assert_allclose(quiet, y * 0.1, rtol=1e-5, atol=1e-8)
    loud = degrade.gain(y, SR, 6.0)
    g = 10 ** (6 / 20)
    assert loud.max() == 1.0 and loud.min() == -1.0
    inside = np.abs(y) * g < 1
    np.testing.assert_allclose(loud[inside], y[inside] * g, rtol=1e-5)
    np.testing.assert_array_equal(loud[~inside], np.sign(y[~inside]))


@pytest.mark.parametrize("rate", [16000, 8000])
def test_bandlimit_removes_energy_above_the_intermediate_nyquist(rate, rng):
    y = (0.2 * rng.standard_normal(SR * 4)).astype(np.float32)
    z = degrade.bandlimit(y, SR, rate)
    f = np.fft.rfftfreq(y.size, 1 / SR)
    py, pz = np.abs(np.fft.rfft(y)) ** 2, np.abs(np.fft.rfft(z)) ** 2
    above = f > rate / 2
    assert 10 * np.log10(pz[above].sum() / py[above].sum()) < -50
    passband = f < 0.85 * rate / 2
    assert 10 * np.log10(pz[passband].sum() / py[passband].sum()) == pytest.approx(0, abs=0.1)


@pytest.mark.parametrize("rt60", [0.4, 1.0])
def test_reverb_ir_decays_at_the_stated_rt60(rt60, rng):
    ir = degrade.room_ir(SR, rt60, rng)
    assert ir[0] == 1.0 and np.abs(ir[1:]).max() < 1.0  # direct path first and strongest
    tail = ir[1:]
    edc = np.cumsum(tail[::-1] ** 2)[::-1]  # Schroeder backward integration
    edc_db = 10 * np.log10(edc / edc[0])
    t = np.arange(edc.size) / SR
    fit = (edc_db < -5) & (edc_db > -25)  # T20, extrapolated to 60 dB
    measured = -60 / np.polyfit(t[fit], edc_db[fit], 1)[0]
    assert measured == pytest.approx(rt60, rel=0.15)
    assert 10 * np.log10(1.0 / np.sum(tail ** 2)) == pytest.approx(degrade.REVERB_DRR_DB, abs=1e-6)


def test_reverb_keeps_level_and_smears_an_impulse(rng):
    y = _music(rng)
    z = degrade.reverb(y, SR, 0.4, rng)
    assert _power(z) == pytest.approx(_power(y), rel=1e-3)
    click = np.zeros(SR, np.float32)
    click[100] = 0.5
    wet = degrade.reverb(click, SR, 0.4, np.random.default_rng(0))
    assert np.argmax(np.abs(wet)) == 100
    assert np.abs(wet[100 + int(0.2 * SR):]).max() > 0  # a tail 200 ms later


def test_mic_eq_attenuates_50_hz_and_passes_1_khz():
    t = np.arange(SR * 2) / SR

    def level_change(freq: float) -> float:
        y = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        z = degrade.mic_eq(y, SR, 100.0)
        mid = slice(SR // 2, -SR // 2)
        return 10 * np.log10(_power(z[mid]) / _power(y[mid]))

    assert level_change(50.0) < -10
    assert level_change(1000.0) == pytest.approx(0, abs=0.5)
    assert level_change(10000.0) < -3  # gentle high-frequency roll-off
    assert 20 * np.log10(degrade.mic_eq_response(np.array([100.0]), 100.0)[0]) == pytest.approx(-3, abs=0.1)


def test_stereo_file_round_trip_goes_through_load_audio(monkeypatch, rng):
    import soundfile as sf

    seen = []
    real = degrade.load_audio

    def spy(path, sr=22050):
        info = sf.info(path)
        seen.append((info.samplerate, info.channels, info.subtype, sr))
        return real(path, sr=sr)

    monkeypatch.setattr(degrade, "load_audio", spy)
    t = np.arange(SR * 2) / SR
    y = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220, 1000, 5000)).astype(np.float32)  # below the filters' edges
    for rate in (44100, 48000):
        z = degrade.stereo_file(y, SR, rate)
        assert z.size == y.size
        mid = slice(SR // 4, -SR // 4)
        assert 10 * np.log10(_power(y[mid]) / _power(z[mid].astype(np.float64) - y[mid])) > 60  # 16 bit + resampling
    assert seen == [(44100, 2, "PCM_16", SR), (48000, 2, "PCM_16", SR)]


def test_time_stretch_and_pitch_shift(rng):
    t = np.arange(SR * 3) / SR
    y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert degrade.time_stretch(y, SR, 1.25).size == round(y.size / 1.25)
    assert degrade.time_stretch(y, SR, 0.8).size == round(y.size / 0.8)
    shifted = degrade.pitch_shift(y, SR, 2.0)
    assert shifted.size == y.size
    spec = np.abs(np.fft.rfft(shifted[SR // 2 : -SR // 2]))
    peak = np.fft.rfftfreq(shifted[SR // 2 : -SR // 2].size, 1 / SR)[np.argmax(spec)]
    assert peak == pytest.approx(440 * 2 ** (2 / 12), rel=0.01)
    noisy = degrade.gaussian_noise(np.zeros(SR, np.float32), SR, 0.01, rng)
    assert np.std(noisy) == pytest.approx(0.01, rel=0.05)


def test_chain_order_does_not_depend_on_the_list_order(rng):
    y = _music(rng)
    steps = [("gain", -10.0), ("reverb", 0.3), ("noise-pink", 15.0)]
    a = degrade.apply_chain(y, SR, steps, np.random.default_rng(3))
    b = degrade.apply_chain(y, SR, steps[::-1], np.random.default_rng(3))
    assert np.array_equal(a, b)


def test_unknown_degradation_is_named():
    with pytest.raises(KeyError, match="unknown degradation 'hiss'"):
        degrade.apply(np.zeros(100, np.float32), SR, "hiss")
