"""The NumPy front end equals librosa 0.11 (MFCC, log-mel, filterbank) and rejects bad input."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

import edge_genre  # noqa: E402
from edge_genre import dsp  # noqa: E402
from edge_genre.config import FeatureConfig  # noqa: E402
from edge_genre.errors import AudioError  # noqa: E402

SR = 22050
N = 66150  # one 3-s window
RTOL, ATOL = 1e-5, 1e-3  # the parity contract


def ref_mfcc(y, sr=SR, config=None):
    """librosa's MFCC, transposed to (frames, coefficients)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "n_fft too large for input signal"
        if config is None:
            return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=2048, hop_length=512).T
        S = ref_log_mel(y, sr, config).T
        return librosa.feature.mfcc(S=S, n_mfcc=config.n_mfcc).T


def ref_log_mel(y, sr=SR, config=None):
    c = config or FeatureConfig(sample_rate=sr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        M = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=c.n_fft, hop_length=c.hop_length,
                                           n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax)
    return librosa.power_to_db(M, top_db=c.top_db).T


def assert_parity(ours, ref, what="mfcc"):
    assert ours.dtype == np.float32, f"{what}: dtype {ours.dtype}, want float32"
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, librosa {ref.shape}"
    err = np.abs(ours.astype(np.float64) - ref).max()
    assert np.allclose(ours, ref, rtol=RTOL, atol=ATOL), f"{what}: max abs error {err:.3g} vs librosa"


# ----------------------------------------------------------------------------- signals

def _t(n=N):
    return np.arange(n) / SR


def pink_noise(rng, n=N):
    """1/f noise by spectral shaping of white noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return 0.5 * y / np.abs(y).max()


def _impulse(n, at, amp=1.0):
    y = np.zeros(n)
    y[at] = amp
    return y


SIGNALS = {
    "silence": lambda rng: np.zeros(N),
    "dc": lambda rng: np.full(N, 0.5),
    "negative-dc": lambda rng: np.full(N, -1.0),
    "sine-440": lambda rng: 0.5 * np.sin(2 * np.pi * 440 * _t()),
    "sine-50": lambda rng: 0.9 * np.sin(2 * np.pi * 50 * _t()),
    "sine-10k": lambda rng: 0.3 * np.sin(2 * np.pi * 10000 * _t()),
    "sine-nyquist": lambda rng: 0.5 * np.cos(np.pi * np.arange(N)),
    "sine-quiet": lambda rng: 1e-4 * np.sin(2 * np.pi * 1000 * _t()),
    "two-sines": lambda rng: 0.3 * np.sin(2 * np.pi * 220 * _t()) + 0.3 * np.sin(2 * np.pi * 3520 * _t()),
    "white-noise": lambda rng: rng.uniform(-1, 1, N),
    "gauss-noise-loud": lambda rng: 20 * rng.standard_normal(N),  # unnormalised input is allowed
    "pink-noise": pink_noise,
    "chirp-lin": lambda rng: librosa.chirp(fmin=20, fmax=11000, sr=SR, length=N, linear=True),
    "chirp-log": lambda rng: librosa.chirp(fmin=30, fmax=10000, sr=SR, length=N),
    "square-clipped": lambda rng: np.clip(4 * np.sign(np.sin(2 * np.pi * 110 * _t())), -1, 1),
    "square-overdriven-sine": lambda rng: np.clip(3 * np.sin(2 * np.pi * 333 * _t()), -1, 1),
    "impulse-start": lambda rng: _impulse(N, 0),
    "impulse-middle": lambda rng: _impulse(N, N // 2 + 7),
    "impulse-end": lambda rng: _impulse(N, N - 1, -1.0),
    "click-train": lambda rng: (np.arange(N) % 5512 == 0).astype(float),
    "noise-bursts": lambda rng: rng.standard_normal(N) * (np.sin(2 * np.pi * 2 * _t()) > 0.5),
    "silence-then-tone": lambda rng: np.where(_t() > 1.5, 0.5 * np.sin(2 * np.pi * 880 * _t()), 0.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_mfcc_equals_librosa(name, dtype, rng):
    y = SIGNALS[name](rng).astype(dtype)
    assert_parity(edge_genre.mfcc(y, SR), ref_mfcc(y))


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_log_mel_equals_librosa(name, rng):
    y = SIGNALS[name](rng).astype(np.float32)
    assert_parity(edge_genre.log_mel(y, SR), ref_log_mel(y), "log_mel")


@pytest.mark.parametrize("n", [1, 2, 100, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4097, 12345, 66149, 66151])
def test_short_and_odd_lengths(n, rng):
    y = (0.3 * rng.standard_normal(n)).astype(np.float32)
    ours = edge_genre.mfcc(y, SR)
    assert ours.shape == (1 + n // 512, 13)
    assert_parity(ours, ref_mfcc(y))
    assert_parity(edge_genre.log_mel(y, SR), ref_log_mel(y), "log_mel")


def test_long_input_top_db_is_global(rng):
    # top_db is relative to the maximum of the whole input: a loud end must floor a quiet start.
    y = np.concatenate([1e-3 * rng.standard_normal(3 * SR), rng.standard_normal(3 * SR)]).astype(np.float32)
    ours = edge_genre.log_mel(y, SR)
    assert_parity(ours, ref_log_mel(y), "log_mel")
    assert np.isclose(ours.min(), ours.max() - 80, atol=1e-3)
    assert_parity(edge_genre.mfcc(y, SR), ref_mfcc(y))


def test_non_contiguous_readonly_and_other_float_inputs(rng):
    base = (0.2 * rng.standard_normal(2 * N)).astype(np.float32)
    strided = base[::2]
    assert_parity(edge_genre.mfcc(strided, SR), ref_mfcc(np.ascontiguousarray(strided)))
    ro = base[:N].copy()
    ro.flags.writeable = False
    assert_parity(edge_genre.mfcc(ro, SR), ref_mfcc(ro))
    be = base[:N].astype(">f4")
    assert_parity(edge_genre.mfcc(be, SR), ref_mfcc(base[:N]))


def test_input_is_not_modified_and_outputs_are_independent(rng):
    y1 = (0.2 * rng.standard_normal(N)).astype(np.float32)
    y2 = (0.2 * rng.standard_normal(N)).astype(np.float32)
    keep = y1.copy()
    a = edge_genre.mfcc(y1, SR)
    a_copy = a.copy()
    edge_genre.mfcc(y2, SR)
    edge_genre.log_mel(y2, SR)
    np.testing.assert_array_equal(y1, keep)
    np.testing.assert_array_equal(a, a_copy)  # not a view of a reused buffer


@pytest.mark.parametrize("config", [
    FeatureConfig(n_mels=40),
    FeatureConfig(n_mels=64, n_mfcc=20),
    FeatureConfig(fmin=50.0, fmax=8000.0),
    FeatureConfig(n_fft=512, hop_length=256),
    FeatureConfig(n_fft=2047, hop_length=500),
    FeatureConfig(top_db=None),
    FeatureConfig(top_db=40.0),
    FeatureConfig(sample_rate=16000),
    FeatureConfig(sample_rate=44100, n_fft=4096, hop_length=1024),
], ids=lambda c: f"sr{c.sample_rate}-fft{c.n_fft}-hop{c.hop_length}-mels{c.n_mels}-mfcc{c.n_mfcc}"
                 f"-f{c.fmin:g}-{c.fmax}-db{c.top_db}")
def test_other_configs_equal_librosa(config, rng):
    sr = config.sample_rate
    y = (0.3 * pink_noise(rng, 2 * sr) + 0.2 * np.sin(2 * np.pi * 700 * np.arange(2 * sr) / sr)).astype(np.float32)
    assert_parity(edge_genre.mfcc(y, sr, config), ref_mfcc(y, sr, config))
    assert_parity(edge_genre.log_mel(y, sr, config), ref_log_mel(y, sr, config), "log_mel")


@pytest.mark.parametrize("config", [
    FeatureConfig(),
    FeatureConfig(n_mels=40),
    FeatureConfig(fmin=20.0, fmax=8000.0),
    FeatureConfig(sample_rate=16000, n_fft=512),
    FeatureConfig(n_fft=2047, hop_length=500),
    FeatureConfig(n_mels=256),  # some bands are empty (librosa warns)
], ids=lambda c: f"sr{c.sample_rate}-fft{c.n_fft}-mels{c.n_mels}-f{c.fmin:g}-{c.fmax}")
def test_mel_filterbank_equals_librosa(config):
    ours = dsp.mel_filterbank(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                                  fmin=config.fmin, fmax=config.fmax)
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (config.n_mels, 1 + config.n_fft // 2)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_mel_scale_and_window_helpers():
    freqs = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0, 20000.0])
    np.testing.assert_allclose(dsp.hz_to_mel(freqs), librosa.hz_to_mel(freqs), rtol=1e-12)
    mels = np.linspace(0, 45, 31)
    np.testing.assert_allclose(dsp.mel_to_hz(mels), librosa.mel_to_hz(mels), rtol=1e-12)
    np.testing.assert_allclose(dsp.mel_to_hz(dsp.hz_to_mel(freqs)), freqs, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(dsp.hann_window(2048), librosa.filters.get_window("hann", 2048), atol=1e-15)
    np.testing.assert_allclose(dsp.hann_window(2047), librosa.filters.get_window("hann", 2047), atol=1e-15)


@pytest.mark.parametrize("n_out, n_in", [(13, 128), (20, 40), (1, 1), (8, 8)])
def test_dct_matrix_is_orthonormal_dct_ii(n_out, n_in, rng):
    scipy_fft = pytest.importorskip("scipy.fft")
    D = dsp.dct_matrix(n_out, n_in)
    assert D.shape == (n_out, n_in)
    x = rng.standard_normal((n_in, 5))
    np.testing.assert_allclose(D @ x, scipy_fft.dct(x, type=2, axis=0, norm="ortho")[:n_out], atol=1e-12)
    np.testing.assert_allclose(D @ D.T, np.eye(n_out), atol=1e-12)


def test_window_features_equals_mfcc_of_the_window_and_normalises(rng):
    y = (0.3 * pink_noise(rng)).astype(np.float32)
    config = FeatureConfig()
    feats = edge_genre.window_features(y, config)
    assert feats.shape == config.feature_shape == (130, 13) and feats.dtype == np.float32
    assert_parity(feats, ref_mfcc(y))
    lm = edge_genre.window_features(y, FeatureConfig(kind="logmel"))
    assert lm.shape == (130, 128)
    assert_parity(lm, ref_log_mel(y), "log_mel")
    normed = edge_genre.window_features(y, FeatureConfig(normalization="window"))
    ref = ref_mfcc(y)
    ref = (ref - ref.mean(axis=0)) / np.maximum(ref.std(axis=0), 1e-5)
    np.testing.assert_allclose(normed, ref, atol=2e-4)
    np.testing.assert_allclose(normed.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(normed.std(axis=0), 1, atol=1e-4)


def test_level_normalisation_makes_features_gain_invariant_and_only_centres_c0(rng):
    y = (0.3 * pink_noise(rng)).astype(np.float32)
    plain = edge_genre.window_features(y, FeatureConfig())
    level = edge_genre.window_features(y, FeatureConfig(normalization="level"))
    quiet = edge_genre.window_features(y * np.float32(0.1), FeatureConfig(normalization="level"))
    # MFCC: a constant dB offset lives in c0 alone (orthonormal DCT), so only c0 is centred.
    np.testing.assert_allclose(level[:, 1:], plain[:, 1:], atol=2e-4)
    np.testing.assert_allclose(level[:, 0], plain[:, 0] - plain[:, 0].mean(), atol=2e-3)
    np.testing.assert_allclose(quiet, level, atol=2e-3)  # -20 dB of gain changes nothing
    assert abs(plain[:, 0].mean() - edge_genre.window_features(y * np.float32(0.1), FeatureConfig())[:, 0].mean()) > 100
    lm = edge_genre.window_features(y, FeatureConfig(kind="logmel", n_mels=40, normalization="level"))
    assert abs(float(lm.mean())) < 1e-3
    lm_quiet = edge_genre.window_features(y * np.float32(0.1), FeatureConfig(kind="logmel", n_mels=40, normalization="level"))
    np.testing.assert_allclose(lm_quiet, lm, atol=1e-3)


def test_window_normalisation_of_a_constant_coefficient_is_finite():
    feats = edge_genre.window_features(np.zeros(N, np.float32), FeatureConfig(normalization="window"))
    assert np.isfinite(feats).all()
    np.testing.assert_array_equal(feats, 0)


def test_concurrent_calls_share_tables_safely(rng):
    signals = [(0.3 * rng.standard_normal(N)).astype(np.float32) for _ in range(4)]
    expected = [edge_genre.mfcc(y, SR) for y in signals]
    results: dict[int, list[np.ndarray]] = {}

    def work(i):
        results[i] = [edge_genre.mfcc(signals[i], SR) for _ in range(15)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, exp in enumerate(expected):
        for got in results[i]:
            np.testing.assert_array_equal(got, exp)


# ----------------------------------------------------------------------------- real music

@pytest.mark.data
def test_every_gtzan_window_equals_librosa(gtzan_wavs):
    """All ten 3-s windows of every clip (window k = y[k*66150:(k+1)*66150] of librosa.load).

    librosa runs batched over a clip's windows (melspectrogram on a (10, 66150)
    array) with ``power_to_db`` per window, which is exactly what
    ``librosa.feature.mfcc(y=window)`` computes, only faster; the first clip is
    also checked against the plain per-window call. Clips are loaded once each.
    """
    assert len(gtzan_wavs) >= 10
    try:  # one BLAS thread: many small matmuls run faster without thread hand-offs on a busy machine
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        threadpool_limits = lambda limits: contextlib.nullcontext()  # noqa: E731
    with threadpool_limits(limits=1):
        _check_gtzan_windows(gtzan_wavs)


def _check_gtzan_windows(gtzan_wavs):
    worst = 0.0
    failures = []
    checked = checked_tails = 0
    for i, path in enumerate(gtzan_wavs):
        y, sr = librosa.load(path, sr=SR)
        # A few GTZAN clips are slightly under 30 s: their tenth window is a shorter slice.
        assert sr == SR and y.size > 9 * N, f"{path.name}: {y.size} samples"
        n_full = min(10, y.size // N)
        windows = np.stack([y[k * N:(k + 1) * N] for k in range(n_full)])
        if n_full < 10:
            tail = y[9 * N:10 * N]
            assert_parity(edge_genre.mfcc(tail, SR), ref_mfcc(tail), f"mfcc {path.name} window 9 ({tail.size} samples)")
            checked_tails += 1
        mel = librosa.feature.melspectrogram(y=windows, sr=SR, n_fft=2048, hop_length=512)
        db = np.stack([librosa.power_to_db(m, top_db=80) for m in mel])
        ref = np.swapaxes(librosa.feature.mfcc(S=db, n_mfcc=13), 1, 2)
        if i == 0:
            direct = np.stack([ref_mfcc(w) for w in windows])
            np.testing.assert_allclose(ref, direct, rtol=RTOL, atol=ATOL)
        config = FeatureConfig()
        for k, w in enumerate(windows):
            ours = edge_genre.mfcc(w, SR)
            assert ours.shape == (130, 13) and ours.dtype == np.float32
            err = float(np.abs(ours - ref[k]).max())
            worst = max(worst, err)
            checked += 1
            if not np.allclose(ours, ref[k], rtol=RTOL, atol=ATOL):
                failures.append(f"{path.name} window {k}: max abs error {err:.3g}")
            if k % 5 == 0:  # the model input path gives the same numbers
                np.testing.assert_array_equal(edge_genre.window_features(w, config), ours)
        if i % 10 == 0:  # log-mel parity on one window per genre
            assert_parity(edge_genre.log_mel(windows[3], SR), db[3].T, f"log_mel {path.name}")
    assert checked + checked_tails == 10 * len(gtzan_wavs)
    assert not failures, (f"{len(failures)} windows differ from librosa (worst {worst:.3g}): "
                          + "; ".join(failures[:10]))


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("func", [edge_genre.mfcc, edge_genre.log_mel], ids=["mfcc", "log_mel"])
@pytest.mark.parametrize("y, match", [
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.1, np.nan, 0.2], np.float32), "NaN or infinite"),
    (np.array([0.1, np.inf, 0.2], np.float64), "NaN or infinite"),
    (np.array([0.1, -np.inf], np.float32), "NaN or infinite"),
    (np.zeros(1000, np.int16), r"floating point.*int16.*scale integer PCM"),
    (np.zeros(1000, np.int32), r"floating point.*int32"),
    (np.zeros(1000, np.uint8), r"floating point.*uint8"),
    (np.zeros(1000, bool), r"floating point.*bool"),
    (np.zeros(1000, np.complex64), r"floating point.*complex64"),
    (np.zeros((1000, 2), np.float32), r"mono \(1-D\).*\(1000, 2\).*downmix"),
    (np.zeros((2, 1000), np.float32), r"mono \(1-D\).*\(2, 1000\)"),
    (np.array(0.5, np.float32), r"mono \(1-D\)"),
    ([0.0, 0.1, 0.2], "must be a NumPy array, got list"),
], ids=["empty", "nan", "inf", "-inf", "int16", "int32", "uint8", "bool", "complex", "stereo-frames-first",
        "stereo-channels-first", "scalar", "list"])
def test_bad_audio_raises_audio_error(func, y, match):
    with pytest.raises(AudioError, match=match) as info:
        func(y, SR)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("sr", [16000, 44100, 22051])
def test_wrong_sample_rate_raises(sr):
    y = np.zeros(N, np.float32)
    with pytest.raises(AudioError, match=rf"{sr} Hz but the features need 22050 Hz; resample"):
        edge_genre.mfcc(y, sr, FeatureConfig())
    with pytest.raises(AudioError, match="resample"):
        edge_genre.log_mel(y, sr, FeatureConfig())


def test_window_features_rejects_wrong_length_and_bad_audio():
    config = FeatureConfig()
    for n in (N - 1, N + 1, 1):
        with pytest.raises(AudioError, match=f"66150 samples, got {n}"):
            edge_genre.window_features(np.zeros(n, np.float32), config)
    with pytest.raises(AudioError, match="window.*NaN"):
        edge_genre.window_features(np.full(N, np.nan, np.float32), config)
    with pytest.raises(AudioError, match="window.*floating point"):
        edge_genre.window_features(np.zeros(N, np.int16), config)


def test_validate_audio_returns_contiguous_float(rng):
    y = rng.standard_normal(100)[::2]
    out = dsp.validate_audio(y)
    assert out.flags.c_contiguous and np.array_equal(out, y)
    with pytest.raises(AudioError, match="chunk is empty"):
        dsp.validate_audio(np.zeros(0), name="chunk")


def test_mel_bands_without_fft_bins_are_deterministic_floor():
    """Regression: bands that no FFT bin reaches must read as the -100 dB floor, not leftover memory."""
    cfg = FeatureConfig(n_fft=128, hop_length=64, n_mels=64, fmin=100.0, fmax=400.0, kind="logmel", top_db=None)
    y = np.zeros(2205, np.float32)
    first = dsp.log_mel(y, 22050, cfg)
    np.testing.assert_array_equal(first, dsp.log_mel(y, 22050, cfg))
    np.testing.assert_allclose(first, -100.0, atol=1e-4)  # float32 10*log10(1e-10), as librosa gives


def test_all_finite_checks_every_chunk():
    from edge_genre.dsp import all_finite

    y = np.zeros(10_007, np.float32)
    assert all_finite(y, chunk=1000)
    for bad in (np.nan, np.inf, -np.inf):
        for where in (0, 999, 1000, 10_006):
            z = y.copy()
            z[where] = bad
            assert not all_finite(z, chunk=1000), (bad, where)
    assert not all_finite(np.array([[0.0, 1.0], [np.nan, 0.0]]), chunk=3)  # 2-D input, NaN in the last chunk
