"""StreamingMFCC: the same numbers as window_features, computed incrementally."""

from __future__ import annotations

import numpy as np
import pytest

from edge_genre import StreamingMFCC, window_features
from edge_genre.config import FeatureConfig
from edge_genre.errors import AudioError, ConfigError
from edge_genre.streaming import Window

SR = 22050
# Streaming and batch features run the same code on different frame blocks, so BLAS may
# round the float32 mel projection differently: allow a few float32 ulps, no more.
RTOL, ATOL = 1e-5, 1e-4


def music(rng, seconds, sr=SR):
    """Deterministic music-like test signal: decaying notes over pink-ish noise, with silences."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = 0.02 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n) + 0.02 * rng.standard_normal(n)
    for start in np.arange(0, seconds, 0.37):
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        i0 = int(start * sr)
        seg = t[i0:i0 + int(0.5 * sr)] - start
        y[i0:i0 + seg.size] += 0.2 * np.exp(-6 * seg) * (np.sin(2 * np.pi * f0 * seg) + 0.3 * np.sin(4 * np.pi * f0 * seg))
    y[int(0.3 * n):int(0.3 * n) + sr // 3] = 0.0  # a silent gap: the top_db floor differs per window
    return y.astype(np.float32)


def feed(stream, y, sizes):
    """Push ``y`` in chunks (an int, or a callable giving the i-th chunk size); return all windows."""
    windows, pos, i = [], 0, 0
    while pos < y.size:
        n = sizes(i) if callable(sizes) else sizes
        windows += stream.push(y[pos:pos + n])
        pos += n
        i += 1
    return windows


def assert_matches_batch(windows, y, stream):
    config = stream.config
    n = config.window_samples
    expected_starts = list(range(0, y.size - n + 1, stream.hop_samples))
    assert [w.start_sample for w in windows] == expected_starts
    for w in windows:
        assert isinstance(w, Window)
        assert w.start_sample % stream.hop_samples == 0
        assert w.features.shape == config.feature_shape and w.features.dtype == np.float32
        ref = window_features(y[w.start_sample:w.start_sample + n], config)
        np.testing.assert_allclose(w.features, ref, rtol=RTOL, atol=ATOL,
                                   err_msg=f"window at sample {w.start_sample}")


def expected_frames_computed(stream, n_windows):
    """126 interior + 4 edge frames for the first window, then min(hop, 126) new interior + 4 edges."""
    interior, edges = stream._n_interior, stream.config.n_frames - stream._n_interior
    if n_windows == 0:
        return 0
    return interior + edges + (n_windows - 1) * (min(stream.hop_frames, interior) + edges)


@pytest.mark.parametrize("chunk", [511, 512, 4096, 66150, 10**6, "random"])
@pytest.mark.parametrize("hop_seconds", [0.5, 1.0, 3.0])
def test_stream_equals_batch(hop_seconds, chunk, rng):
    y = music(rng, 9.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=hop_seconds)
    sizes = (lambda i: int(rng.integers(1, 9000))) if chunk == "random" else chunk
    windows = feed(stream, y, sizes)
    assert len(windows) == 1 + (y.size - 66150) // stream.hop_samples
    assert_matches_batch(windows, y, stream)
    assert stream.frames_computed == expected_frames_computed(stream, len(windows))


def test_chunks_of_one_sample(rng):
    y = music(rng, 5.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    windows = feed(stream, y, 1)
    assert len(windows) == 3
    assert_matches_batch(windows, y, stream)
    assert stream.frames_computed == 130 + 2 * 47


def test_hop_of_one_frame(rng):
    y = music(rng, 3.5)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=512 / SR)
    assert stream.hop_frames == 1 and stream.hop_samples == 512
    windows = feed(stream, y, 1000)
    assert len(windows) == 1 + (y.size - 66150) // 512 == 22
    assert_matches_batch(windows, y, stream)
    assert stream.frames_computed == 130 + 21 * (1 + 4)


@pytest.mark.parametrize("hop_seconds, frames", [(1.0, 43), (0.5, 22), (3.0, 129), (0.01, 1), (2.0, 86), (1e-9, 1)])
def test_hop_is_rounded_to_whole_frames(hop_seconds, frames):
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=hop_seconds)
    assert stream.hop_frames == frames
    assert stream.hop_samples == frames * 512


@pytest.mark.parametrize("hop_seconds", [0, -1.0, float("nan")])
def test_invalid_hop_raises(hop_seconds):
    with pytest.raises(ConfigError, match="hop must be more than 0"):
        StreamingMFCC(FeatureConfig(), hop_seconds=hop_seconds)


def test_only_new_frames_are_transformed(rng, monkeypatch):
    """Count the rows that really go through the FFT, not just the stream's own counter."""
    y = music(rng, 8.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    rows = []

    class CountingFront:
        def __init__(self, front):
            self._front = front

        def __getattr__(self, name):
            return getattr(self._front, name)

        def frames_db(self, frames):
            rows.append(frames.shape[0])
            return self._front.frames_db(frames)

    monkeypatch.setattr(stream, "front", CountingFront(stream.front))

    assert stream.push(y[:66149]) == []
    assert stream.frames_computed == 0 and sum(rows) == 0  # nothing before the first window completes
    first = stream.push(y[66149:66150])
    assert len(first) == 1
    assert stream.frames_computed == sum(rows) == 126 + 4

    history = [stream.frames_computed]
    pos = 66150
    while pos + stream.hop_samples <= y.size:
        out = stream.push(y[pos:pos + stream.hop_samples])
        pos += stream.hop_samples
        assert len(out) == 1
        history.append(stream.frames_computed)
    assert np.diff(history).tolist() == [43 + 4] * (len(history) - 1)
    assert sum(rows) == stream.frames_computed
    assert max(rows) <= 126  # no full-window recomputation after the first


def test_reset_restarts_the_stream(rng):
    y = music(rng, 6.0)
    z = music(rng, 5.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    first = feed(stream, y, 3000)
    stream.push(z[:40000])  # half a window of other audio, then forget it
    stream.reset()
    assert stream.frames_computed == 0 and stream.samples_seen == 0
    again = feed(stream, y, 777)
    assert [w.start_sample for w in again] == [w.start_sample for w in first]
    for a, b in zip(first, again):
        np.testing.assert_allclose(a.features, b.features, rtol=RTOL, atol=ATOL)
    assert stream.frames_computed == expected_frames_computed(stream, len(again))
    stream.reset()
    assert_matches_batch(feed(stream, z, 4096), z, stream)


def test_start_positions_are_absolute_sample_indices(rng):
    y = music(rng, 7.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=0.5)
    windows = feed(stream, y, 2500)
    assert windows[0].start_sample == 0
    assert all(b.start_sample - a.start_sample == stream.hop_samples for a, b in zip(windows, windows[1:]))
    assert windows[2].start_seconds(SR) == pytest.approx(2 * 11264 / SR)
    assert stream.samples_seen == y.size


@pytest.mark.parametrize("config", [
    FeatureConfig(normalization="window"),
    FeatureConfig(kind="logmel"),
    FeatureConfig(kind="logmel", normalization="window", top_db=None),
    FeatureConfig(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=64, n_mfcc=20, fmin=30.0, fmax=7000.0),
    FeatureConfig(n_fft=2047, hop_length=500, window_seconds=2.0),
    FeatureConfig(window_seconds=3.01),
    FeatureConfig(n_fft=512, hop_length=128, window_seconds=1.0),
    FeatureConfig(normalization="level"),
    FeatureConfig(kind="logmel", n_mels=40, fmax=8000.0, normalization="level"),
], ids=["mfcc-window-norm", "logmel", "logmel-norm-no-topdb", "16k-custom", "odd-fft", "3.01s", "small-fft",
        "mfcc-level", "logmel40-8k-level"])
def test_other_configs_match_window_features(config, rng):
    y = music(rng, 7.0, config.sample_rate)
    stream = StreamingMFCC(config, hop_seconds=0.75)
    windows = feed(stream, y, lambda i: int(rng.integers(1, 5000)))
    assert len(windows) >= 4
    assert_matches_batch(windows, y, stream)
    assert stream.frames_computed == expected_frames_computed(stream, len(windows))


def test_window_normalisation_is_applied(rng):
    y = music(rng, 4.0)
    stream = StreamingMFCC(FeatureConfig(normalization="window"), hop_seconds=1.0)
    windows = feed(stream, y, 4096)
    for w in windows:
        np.testing.assert_allclose(w.features.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(w.features.std(axis=0), 1, atol=1e-3)


def test_float64_chunks_and_empty_chunks(rng):
    y = music(rng, 4.0).astype(np.float64)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    assert stream.push(np.zeros(0)) == []
    windows = feed(stream, y, 10000)
    assert_matches_batch(windows, y, stream)


@pytest.mark.parametrize("chunk, match", [
    (np.array([0.1, np.nan]), "NaN"),
    (np.zeros(100, np.int16), "floating point"),
    (np.zeros((100, 2), np.float32), "mono"),
])
def test_bad_chunks_raise_and_leave_the_stream_usable(chunk, match, rng):
    y = music(rng, 4.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    windows = stream.push(y[:30000])
    with pytest.raises(AudioError, match=match):
        stream.push(chunk)
    windows += stream.push(y[30000:])
    assert_matches_batch(windows, y, stream)


@pytest.mark.data
def test_real_clip_streams_like_batch(gtzan_mini):
    from edge_genre import load_audio

    y = load_audio(gtzan_mini / "jazz" / "jazz.00000.wav")
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    windows = feed(stream, y, 1024)
    assert len(windows) == 1 + (y.size - 66150) // 22016
    assert_matches_batch(windows, y, stream)
    assert stream.frames_computed == expected_frames_computed(stream, len(windows))


def test_hop_longer_than_the_window(rng):
    y = music(rng, 12.0)
    stream = StreamingMFCC(FeatureConfig(), hop_seconds=4.0)
    windows = feed(stream, y, 4096)
    assert len(windows) == 3
    assert_matches_batch(windows, y, stream)


def test_window_shorter_than_the_fft(rng):
    config = FeatureConfig(window_seconds=0.05)
    y = music(rng, 1.0)
    stream = StreamingMFCC(config, hop_seconds=0.05)
    assert_matches_batch(feed(stream, y, 1000), y, stream)


def test_window_much_shorter_than_the_fft_does_not_hang(rng):
    """Regression: the buffer must keep n_fft of history beyond window + hop."""
    config = FeatureConfig(window_seconds=0.02)
    y = music(rng, 1.0)
    stream = StreamingMFCC(config, hop_seconds=0.02)
    windows = feed(stream, y, 22050)
    assert len(windows) == 1 + (y.size - config.window_samples) // stream.hop_samples
    assert_matches_batch(windows, y, stream)


@pytest.mark.parametrize("hop", [0.0, -1.0, float("inf"), float("nan"), 1e7])
def test_bad_hops_are_config_errors(hop):
    from edge_genre.errors import ConfigError

    with pytest.raises(ConfigError, match="hop must be"):
        StreamingMFCC(FeatureConfig(), hop_seconds=hop)
