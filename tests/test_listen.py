"""``edge-genre listen``: live pipeline, capture sources (with a fake PortAudio), CLI and signals.

No sound card exists in CI: the microphone path runs against a fake ``sounddevice``
module whose stream thread calls the real callback with scripted blocks (48 kHz
stereo, varying sizes, overflow flags, a device that vanishes or stalls).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from edge_genre.audio import load_audio, resample, to_mono
from edge_genre.capture import ArraySource, FileSource, MicrophoneSource, _Ring, list_input_devices
from edge_genre.classifier import SILENCE, GenreClassifier
from edge_genre.cli import main
from edge_genre.dsp import window_features
from edge_genre.errors import AudioError, DeviceError
from edge_genre.exit_codes import EXIT_DEVICE
from edge_genre.listen import UNCERTAIN, LatencyHistogram, LivePipeline

from model_fixtures import model_for_tests

sf = pytest.importorskip("soundfile")

SR = 22050
# Streaming and batch features differ by float32 rounding (see test_streaming); through the
# int8 model that can move an output by a quantum or two.
FEAT_RTOL, FEAT_ATOL = 1e-5, 1e-4
PROB_ATOL = 0.02
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="session")
def model(request) -> str:
    """The shipped int8 model, or a cached tiny stand-in built with TensorFlow."""
    return model_for_tests(request)


@pytest.fixture(scope="session")
def clf(model) -> GenreClassifier:
    # The test audio is synthetic (notes over noise): the music detector is off for these pipeline
    # tests (tests/test_trust.py tests it, and test_not_music_is_smoothed_and_reported below).
    return GenreClassifier(model, music_threshold=0.0)


def music(rng, seconds, sr=SR, channels=1):
    """Music-like test audio: decaying harmonic notes over noise, float32 ``(n,)`` or ``(n, channels)``."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    out = []
    for c in range(channels):
        y = 0.03 * rng.standard_normal(n)
        for start in np.arange(0, seconds, 0.31):
            f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
            i0 = int(start * sr)
            seg = t[i0 : i0 + int(0.45 * sr)] - start
            y[i0 : i0 + seg.size] += 0.25 * np.exp(-5 * seg) * (np.sin(2 * np.pi * f0 * seg)
                                                                + 0.4 * np.sin(4 * np.pi * f0 * seg))
        out.append(y * (1.0 if c == 0 else 0.5))
    y = np.stack(out, axis=1) if channels > 1 else out[0]
    return y.astype(np.float32)


def run_pipeline(clf, source, **kwargs):
    duration = kwargs.pop("duration", None)
    pipe = LivePipeline(clf, source, keep_features=True, **kwargs)
    return pipe, list(pipe.run(duration=duration))


def assert_windows_match_batch(clf, hops, y, hop_seconds):
    """Hop results equal batch features and 'classify' for every window of the mono model-rate signal ``y``."""
    n = clf.config.window_samples
    starts = clf.window_starts(y.size, hop_seconds)
    assert [round(h.window.start_s * SR) for h in hops] == starts
    batch = clf.classify(y, SR, hop_seconds=hop_seconds)
    assert len(batch.windows) == len(hops)
    for h, ref, start in zip(hops, batch.windows, starts):
        np.testing.assert_allclose(h.features, window_features(y[start : start + n], clf.config),
                                   rtol=FEAT_RTOL, atol=FEAT_ATOL)
        assert h.window.start_s == ref.start_s
        assert h.window.level_dbfs == ref.level_dbfs  # the same samples reach the silence gate
        assert h.window.silent == ref.silent
        if ref.silent:
            assert h.genre == SILENCE and h.confidence == 0.0
            continue
        # Exactly what the classifier says about these features ...
        np.testing.assert_array_equal(h.window.probabilities, clf.predict(h.features))
        # ... and what 'classify' says about the window, up to float32 rounding of the features.
        np.testing.assert_allclose(h.window.probabilities, ref.probabilities, atol=PROB_ATOL)
        top2 = np.sort(ref.probabilities)[-2:]
        if top2[1] - top2[0] > 2 * PROB_ATOL:
            assert h.window.genre == ref.genre


def json_lines(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every stdout line must be JSON


HOP_KEYS = {"t", "genre", "confidence", "probabilities", "dsp_ms", "inference_ms", "silent", "uncertain",
            "not_music", "music_score", "window_start_s", "window", "top_k", "smoothed_over", "overflows", "hop", "unix_time"}


def assert_hop_schema(obj, labels):
    assert set(obj) == HOP_KEYS
    assert isinstance(obj["t"], float) and isinstance(obj["genre"], str)
    assert obj["genre"] in (*labels, SILENCE, UNCERTAIN, "not_music")
    assert set(obj["probabilities"]) == set(labels)
    assert 0.0 <= obj["confidence"] <= 1.0
    assert obj["dsp_ms"] >= 0 and obj["inference_ms"] >= 0
    assert isinstance(obj["silent"], bool) and isinstance(obj["top_k"], list)
    assert set(obj["window"]) == {"genre", "confidence", "music_score", "level_dbfs"}
    if obj["silent"]:
        assert obj["genre"] == SILENCE and obj["confidence"] == 0.0 and obj["top_k"] == []


def assert_summary(summary, windows=None):
    for key in ("run_seconds", "audio_seconds", "cpu_seconds", "windows", "genres", "overflows",
                "latency_ms", "stop_reason"):
        assert key in summary
    for part in ("dsp", "inference", "total"):
        stats = summary["latency_ms"][part]
        assert set(stats) >= {"p50", "p95", "p99", "mean", "max", "count"}
        if stats["count"]:
            assert stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"] * 1.0001
    assert sum(summary["genres"].values()) == summary["windows"]
    if windows is not None:
        assert summary["windows"] == windows


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result, match, status=2):
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edge-genre: error: ") and match in lines[0], lines[0]


# --------------------------------------------------------------------------- pipeline: alignment and equality


@pytest.mark.parametrize("hop_seconds", [0.25, 1.0, 1.3, 3.0])
def test_window_starts_match_classify_hop_rounding(clf, rng, hop_seconds):
    y = music(rng, 8.0)
    pipe, hops = run_pipeline(clf, ArraySource(y, SR, block_frames=lambda i: 300 + 977 * (i % 7)),
                              hop_seconds=hop_seconds, smooth=1)
    assert pipe.hop_samples == clf.window_starts(10**7, hop_seconds)[1]  # same rounding as 'classify --hop'
    assert [round(h.window.start_s * SR) for h in hops] == clf.window_starts(y.size, hop_seconds)
    assert all(abs(h.t - h.window.start_s - 3.0) < 1e-9 for h in hops)


def test_file_source_equals_batch_classify(clf, rng, write_audio):
    y = music(rng, 9.0)
    y[int(4.2 * SR) : int(8.0 * SR)] = 0.0  # long enough for fully silent windows
    path = write_audio("clip.wav", y, SR, subtype="FLOAT")
    pipe, hops = run_pipeline(clf, FileSource(path, realtime=False, block_frames=1000), hop_seconds=0.5, smooth=1)
    assert any(h.silent for h in hops) and not all(h.silent for h in hops)
    assert_windows_match_batch(clf, hops, load_audio(path, SR), 0.5)
    assert_summary(pipe.summary(), windows=len(hops))
    assert pipe.summary()["stop_reason"] == "end of input"


def test_stereo_48k_varying_blocks_equal_batch_of_resampled_audio(clf, rng):
    """The USB-microphone case: 48 kHz stereo in odd block sizes with overflow flags."""
    native = music(rng, 7.0, sr=48000, channels=2)
    blocks, pos, flags = [], 0, 0
    while pos < native.shape[0]:
        n = int(rng.integers(1, 6000))
        flag = int(rng.random() < 0.1)
        flags += flag
        blocks.append((native[pos : pos + n], flag))
        pos += n
    pipe, hops = run_pipeline(clf, ArraySource(blocks, 48000, channels=2), hop_seconds=1.0, smooth=1)
    assert pipe.overflows == flags and hops[-1].overflows == flags
    # Streaming soxr equals one-shot soxr sample for sample, as load_audio resamples.
    y = resample(to_mono(native), 48000, SR)
    assert_windows_match_batch(clf, hops, y, 1.0)
    assert pipe.summary()["input"] == {"sample_rate": 48000, "channels": 2}


@pytest.mark.data
def test_gtzan_clip_matches_cli_classify(model, gtzan_wavs):
    """'listen --file --json --smooth 1' and 'classify --json --hop' agree on a real clip."""
    path = gtzan_wavs[len(gtzan_wavs) // 2]
    listen = invoke("listen", "--model", model, "--file", path, "--no-realtime", "--json", "--smooth", "1",
                    "--hop", "1")
    assert listen.exit_code == 0, listen.output
    objs = json_lines(listen.stdout)
    hops, summary = objs[:-1], objs[-1]["summary"]
    classify = invoke("classify", path, "--model", model, "--json", "--hop", "1")
    assert classify.exit_code == 0, classify.output
    ref = json.loads(classify.stdout)["windows"]
    assert len(hops) == len(ref) == summary["windows"] >= 27
    for h, w in zip(hops, ref):
        assert h["window_start_s"] == w["start_s"]
        assert abs(h["window"]["confidence"] - w["confidence"]) <= PROB_ATOL
        if h["window"]["genre"] != w["genre"]:  # only possible in a near tie
            assert abs(h["probabilities"][w["genre"]] - h["confidence"]) <= 2 * PROB_ATOL


# --------------------------------------------------------------------------- silence, smoothing, threshold


def test_silence_is_reported_and_left_out_of_the_mean(clf, rng):
    y = music(rng, 16.0)
    y[int(5 * SR) : int(9.5 * SR)] = 0.0  # digital silence
    y[int(9.5 * SR) : int(13 * SR)] = 10 ** (-75 / 20) * rng.standard_normal(int(3.5 * SR))  # -75 dBFS hiss
    pipe, hops = run_pipeline(clf, ArraySource(y, SR, block_frames=2048), hop_seconds=1.0, smooth=4)
    silent = [h for h in hops if h.silent]
    assert len(silent) >= 4
    for h in silent:
        assert h.genre == SILENCE and h.confidence == 0.0 and h.top_k == [] and h.smoothed_over == 0
        assert h.window.level_dbfs < -60 and not h.probabilities.any()
        assert h.inference_ms < 5.0  # the model is skipped
    raw = [h.window for h in hops]
    for i, h in enumerate(hops):
        if h.silent:
            continue
        recent = [w.raw_probabilities for w in raw[max(0, i - 3) : i + 1] if not w.silent]
        assert h.smoothed_over == len(recent)
        # the calibrated mean of the windows' raw outputs, as classify aggregates a clip
        np.testing.assert_allclose(h.probabilities, clf.aggregate(recent), rtol=1e-6, atol=1e-7)
        assert h.genre == clf.labels[int(np.argmax(h.probabilities))]
        assert h.top_k[0] == (h.genre, pytest.approx(h.confidence))
    summary = pipe.summary()
    assert summary["silent_windows"] == len(silent) == summary["genres"][SILENCE]
    # The gate is the one 'classify' uses.
    assert [w.silent for w in clf.classify(y, SR, hop_seconds=1.0).windows] == [h.silent for h in hops]


def test_threshold_reports_uncertain(clf, rng):
    y = music(rng, 10.0)
    _, plain = run_pipeline(clf, ArraySource(y, SR), smooth=3, top_k=2)
    threshold = float(np.median([h.confidence for h in plain]))
    pipe, hops = run_pipeline(clf, ArraySource(y, SR), smooth=3, top_k=2, threshold=threshold)
    for a, b in zip(plain, hops):
        assert len(b.top_k) == 2
        if a.confidence < threshold:
            assert b.genre == UNCERTAIN and b.uncertain and b.top_k[0][0] == a.genre
        else:
            assert b.genre == a.genre
    n_uncertain = sum(h.uncertain for h in hops)
    assert n_uncertain == pipe.summary()["uncertain_hops"] == pipe.summary()["genres"].get(UNCERTAIN, 0)


def test_duration_and_bounded_state(clf, rng):
    y = music(rng, 30.0)
    pipe, hops = run_pipeline(clf, ArraySource(y, SR, block_frames=1024), hop_seconds=0.25, smooth=6, duration=7.0)
    assert 7.0 <= pipe.audio_seconds < 7.0 + 1024 / SR + 1e-9
    assert pipe.summary()["stop_reason"] == "duration"
    assert len(pipe._recent) == 6 and pipe._recent.maxlen == 6
    assert pipe._ring.capacity == clf.config.window_samples + pipe.hop_samples
    assert pipe.dsp.counts.size == pipe.inference.counts.size < 2000  # fixed-size latency histograms
    assert pipe.dsp.count == len(hops)


def test_invalid_blocks_and_settings(clf):
    with pytest.raises(AudioError, match="smooth"):
        LivePipeline(clf, ArraySource(np.zeros(10, np.float32), SR), smooth=0)
    pipe = LivePipeline(clf, ArraySource(np.zeros(10, np.float32), 48000, channels=2))
    with pytest.raises(AudioError, match="shape"):
        pipe.process(np.zeros((100, 3), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        pipe.process(np.full((100, 2), np.nan, np.float32))


def test_latency_histogram_percentiles(rng):
    values = rng.lognormal(mean=0.5, sigma=0.6, size=20000)
    hist = LatencyHistogram()
    for v in values:
        hist.add(float(v))
    for q in (50, 95, 99):
        assert hist.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.03)
    assert hist.mean == pytest.approx(values.mean()) and hist.max == values.max()
    assert hist.counts.size < 1000 and hist.count == values.size


# --------------------------------------------------------------------------- sources


def test_file_source_loops_and_paces(clf, rng, write_audio):
    y = music(rng, 4.0, sr=48000, channels=2)
    path = write_audio("loop.flac", y, 48000)
    source = FileSource(path, realtime=False, loop=3, block_frames=4096)
    assert (source.sample_rate, source.channels) == (48000, 2)
    pipe, hops = run_pipeline(clf, source, hop_seconds=1.0)
    assert source.frames_read == 3 * y.shape[0]
    assert len(hops) == len(clf.window_starts(int(np.ceil(3 * y.shape[0] * SR / 48000)), 1.0))

    short = write_audio("short.wav", music(rng, 0.6), SR)
    t0 = time.monotonic()
    frames = sum(b.shape[0] for b, _ in FileSource(short, realtime=True, block_frames=2048))
    assert frames == int(0.6 * SR) and time.monotonic() - t0 >= 0.55  # paced like a live input


def test_file_source_errors(tmp_path, write_audio):
    with pytest.raises(AudioError, match="no such file"):
        FileSource(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="cannot decode"):
        FileSource(bad)
    a = write_audio("a.wav", np.zeros(1000, np.float32), 22050)
    b = write_audio("b.wav", np.zeros(1000, np.float32), 44100)
    with pytest.raises(AudioError, match="differ"):
        FileSource([a, b])


def test_device_error_mid_stream_propagates_after_results(clf, rng):
    y = music(rng, 6.0)

    def blocks():
        for i in range(0, y.size, 2048):
            yield y[i : i + 2048]
        raise DeviceError("microphone vanished")

    pipe = LivePipeline(clf, ArraySource(blocks(), SR))
    got = []
    with pytest.raises(DeviceError, match="vanished"):
        for hop in pipe.run():
            got.append(hop)
    assert len(got) == len(clf.window_starts(y.size, 1.0))
    summary = pipe.summary()
    assert summary["windows"] == len(got) and summary["stop_reason"].startswith("error")


def test_ring_wraps_and_never_overwrites():
    ring = _Ring(10, 2)
    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    assert ring.write(data[:7])
    np.testing.assert_array_equal(ring.read_available(), data[:7])
    assert ring.write(data[7:15])  # wraps around the end
    assert not ring.write(data[15:20])  # only 2 frames free: dropped, not blocked
    np.testing.assert_array_equal(ring.read_available(), data[7:15])
    assert ring.read_available().shape == (0, 2)


# --------------------------------------------------------------------------- fake PortAudio


class FakePortAudioError(Exception):
    pass


class FakeStream:
    """Calls the callback from its own thread with the scripted ``(block, overflow)`` pairs, then ends.

    ``end``: "finish" (PortAudio ends the stream: device unplugged), "stall" (no more callbacks,
    stream stays active), "error" (PortAudio reports the stream as broken) or "wait" (keeps the
    stream alive until closed).
    """

    def __init__(self, fake, **kwargs):
        self.fake, self.kwargs = fake, kwargs
        self.callback, self.finished_callback = kwargs["callback"], kwargs.get("finished_callback")
        self._active, self.broken = False, False
        self.closed = threading.Event()
        fake.streams.append(self)

    def start(self):
        if self.fake.start_error:
            raise FakePortAudioError(self.fake.start_error)
        self._active = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for block, overflow in self.fake.script(self.kwargs["samplerate"], self.kwargs["channels"]):
            if self.closed.is_set():
                return
            status = SimpleNamespace(input_overflow=True) if overflow else None
            self.callback(block, block.shape[0], None, status)
            time.sleep(0.001)
        if self.fake.end == "error":
            self.broken = True
        if self.fake.end == "finish":
            self._active = False
            if self.finished_callback:
                self.finished_callback()
        elif self.fake.end == "wait":
            self.closed.wait(30)

    @property
    def active(self):
        if self.broken:
            raise FakePortAudioError("Unanticipated host error [PaErrorCode -9999]")
        return self._active

    def abort(self):
        self.closed.set()
        self._active = False

    def close(self):
        self.closed.set()
        self._active = False


class FakeSoundDevice:
    """Just the sounddevice API edge_genre.capture uses."""

    PortAudioError = FakePortAudioError

    def __init__(self, devices=None, default_input=1, end="finish", seconds=6.0, start_error=None, rng=None):
        self.devices = devices if devices is not None else [
            {"name": "bcm2835 Headphones: - (hw:0,0)", "hostapi": 0, "max_input_channels": 0,
             "max_output_channels": 8, "default_samplerate": 44100.0},
            {"name": "USB PnP Sound Device: Audio (hw:2,0)", "hostapi": 0, "max_input_channels": 2,
             "max_output_channels": 0, "default_samplerate": 48000.0},
            {"name": "pulse", "hostapi": 0, "max_input_channels": 32, "max_output_channels": 32,
             "default_samplerate": 44100.0},
        ]
        for i, d in enumerate(self.devices):
            d.setdefault("index", i)
        self.default = SimpleNamespace(device=[default_input, 0])
        self.end, self.seconds, self.start_error = end, seconds, start_error
        self.rng = rng or np.random.default_rng(0)
        self.streams = []
        self.checked = []
        self.audio = None

    def query_devices(self, device=None, kind=None):
        if kind == "input":
            if self.default.device[0] < 0:
                raise FakePortAudioError("no default input")
            return self.devices[self.default.device[0]]
        return list(self.devices) if device is None else self.devices[device]

    def query_hostapis(self):
        return [{"name": "ALSA"}]

    def check_input_settings(self, device=None, channels=None, dtype=None, samplerate=None):
        self.checked.append((device, channels, samplerate))
        if channels > self.devices[device]["max_input_channels"]:
            raise FakePortAudioError("Invalid number of channels")

    def InputStream(self, **kwargs):  # noqa: N802 - sounddevice's name
        return FakeStream(self, **kwargs)

    def script(self, rate, channels):
        """Music at the stream's rate/channels, in varying blocks; every 7th block flags an overflow."""
        self.audio = music(self.rng, self.seconds, sr=rate, channels=channels).reshape(-1, channels)
        pos, i = 0, 0
        while pos < self.audio.shape[0]:
            n = int(self.rng.integers(200, 4000))
            yield self.audio[pos : pos + n], i % 7 == 3
            pos, i = pos + n, i + 1


@pytest.fixture
def fake_sd(monkeypatch):
    fake = FakeSoundDevice()
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


def test_microphone_source_native_format_overflows_and_vanishing_device(clf, fake_sd):
    source = MicrophoneSource("usb", buffer_seconds=30)
    assert (source.device, source.sample_rate, source.channels) == (1, 48000, 2)
    pipe = LivePipeline(clf, source, hop_seconds=1.0, smooth=1, keep_features=True)
    hops = []
    with pytest.raises(DeviceError, match="stopped unexpectedly"):
        for hop in pipe.run():
            hops.append(hop)
    stream = fake_sd.streams[0]
    assert stream.kwargs["samplerate"] == 48000 and stream.kwargs["channels"] == 2
    assert stream.kwargs["dtype"] == "float32" and stream.closed.is_set()  # closed on the error path
    assert pipe.overflows == source.portaudio_overflows >= 3 and source.dropped_frames == 0
    # Everything captured went through: windows equal batch results of the resampled signal
    # (except those the resampler's end-of-stream flush would add).
    y = resample(to_mono(fake_sd.audio), 48000, SR)
    starts = clf.window_starts(y.size, 1.0)
    assert len(hops) >= len(starts) - 1 >= 3
    n = clf.config.window_samples
    for h in hops:
        s = round(h.window.start_s * SR)
        np.testing.assert_allclose(h.features, window_features(y[s : s + n], clf.config),
                                   rtol=FEAT_RTOL, atol=FEAT_ATOL)
    summary = pipe.summary()
    assert summary["source"]["portaudio_overflows"] == pipe.overflows
    assert summary["stop_reason"].startswith("error")


def test_callback_never_blocks_when_the_buffer_is_full(fake_sd):
    source = MicrophoneSource(1, block_seconds=0.05, buffer_seconds=0.2)
    source._ring = _Ring(source.buffer_frames, source.channels)
    block = np.zeros((source.block_frames, 2), np.float32)
    t0 = time.perf_counter()
    for _ in range(20):  # nobody reads: the ring fills, then blocks are dropped and counted
        source._callback(block, block.shape[0], None, None)
    assert time.perf_counter() - t0 < 0.5
    assert source.dropped_blocks == 20 - source.buffer_frames // source.block_frames
    assert source.overflows == source.dropped_blocks and source.dropped_frames == source.dropped_blocks * 2400


def test_dropped_audio_comes_back_as_silence_in_place_so_the_clock_keeps_pace(fake_sd):
    source = MicrophoneSource(1, block_seconds=0.05, buffer_seconds=0.2)  # 4 blocks of 2400 frames fit
    source._ring = _Ring(source.buffer_frames, source.channels)
    source._stream = object()  # only its presence is checked while blocks are pending
    frames = source.block_frames
    for k in range(1, 7):  # blocks 5 and 6 find the ring full and are dropped
        source._callback(np.full((frames, 2), k, np.float32), frames, None, None)
    it = iter(source)
    block, overflow = next(it)
    assert overflow == 2 and source.dropped_frames == 2 * frames
    assert block.shape == (6 * frames, 2)  # 4 captured blocks, then the 2 lost ones as silence
    np.testing.assert_array_equal(block[: 4 * frames, 0], np.repeat(np.arange(1, 5), frames))
    np.testing.assert_array_equal(block[4 * frames :], 0)
    source._callback(np.full((frames, 2), 7, np.float32), frames, None, None)
    block, overflow = next(it)
    assert overflow == 0 and block.shape == (frames, 2) and (block == 7).all()
    assert source.stats()["filled_frames"] == 2 * frames


@pytest.mark.parametrize("end, message", [("stall", "no audio from .* for"), ("error", "failed .*host error")])
def test_stalled_or_broken_device_is_detected(clf, fake_sd, end, message):
    fake_sd.end, fake_sd.seconds = end, 1.0
    source = MicrophoneSource(1, stall_seconds=0.3)
    with pytest.raises(DeviceError, match=message):
        list(LivePipeline(clf, source).run())
    assert fake_sd.streams[0].closed.is_set()


def test_device_selection(fake_sd):
    assert [d["index"] for d in list_input_devices()] == [1, 2]  # output-only device left out
    assert MicrophoneSource().device == 1  # the default input
    pulse = MicrophoneSource("pulse")
    assert pulse.channels == 2 and pulse.sample_rate == 44100  # at most 2 of its 32 channels
    assert MicrophoneSource("2").device == 2
    with pytest.raises(DeviceError, match="no input device with index 0"):
        MicrophoneSource(0)
    with pytest.raises(DeviceError, match="no input device matches 'webcam'"):
        MicrophoneSource("webcam")
    fake_sd.devices.append({"name": "USB mic 2", "index": 3, "hostapi": 0, "max_input_channels": 1,
                            "max_output_channels": 0, "default_samplerate": 16000.0})
    with pytest.raises(DeviceError, match="matches several"):
        MicrophoneSource("usb")
    fake_sd.start_error = "Device unavailable"
    with pytest.raises(DeviceError, match="cannot open input device.*Device unavailable"):
        with MicrophoneSource(1):
            pass


def test_cli_list_devices(fake_sd):
    result = invoke("listen", "--list-devices")
    assert result.exit_code == 0, result.output
    assert "USB PnP Sound Device" in result.stdout and "pulse" in result.stdout
    assert "Headphones" not in result.stdout
    assert "*   1  USB PnP" in result.stdout
    result = invoke("listen", "--list-devices", "--json")
    devices = json.loads(result.stdout)["input_devices"]
    assert devices[0] == {"index": 1, "name": "USB PnP Sound Device: Audio (hw:2,0)", "hostapi": "ALSA",
                          "input_channels": 2, "default_samplerate": 48000, "default": True}


def test_cli_no_input_device(monkeypatch, model):
    fake = FakeSoundDevice(devices=[{"name": "HDMI", "max_input_channels": 0, "max_output_channels": 2,
                                     "default_samplerate": 48000.0, "hostapi": 0}], default_input=-1)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    # a missing or vanished device: exit 3 (systemd retries), not 2 (a usage error)
    assert_user_error(invoke("listen", "--model", model), "no audio input device found", EXIT_DEVICE)
    assert_user_error(invoke("listen", "--model", model, "--device", "7"), "no audio input device found", EXIT_DEVICE)


def test_cli_unknown_device(fake_sd, model):
    assert_user_error(invoke("listen", "--model", model, "--device", "webcam"), "no input device matches 'webcam'",
                      EXIT_DEVICE)


@pytest.mark.parametrize("how", ["oserror", "not-installed"])
def test_cli_portaudio_missing(monkeypatch, tmp_path, model, rng, write_audio, how):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    if how == "oserror":  # what sounddevice does when libportaudio2 is absent
        (tmp_path / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
        monkeypatch.syspath_prepend(str(tmp_path))
    else:
        monkeypatch.setitem(sys.modules, "sounddevice", None)
    result = invoke("listen", "--model", model)
    assert_user_error(result, "PortAudio is not available" if how == "oserror" else "sounddevice package", EXIT_DEVICE)
    assert_user_error(invoke("listen", "--list-devices"), "sounddevice" if how != "oserror" else "libportaudio2",
                      EXIT_DEVICE)
    # Files still work without PortAudio.
    path = write_audio("x.wav", music(rng, 4.0), SR)
    result = invoke("listen", "--model", model, "--file", path, "--no-realtime", "--json")
    assert result.exit_code == 0, result.output
    assert len(json_lines(result.stdout)) == 3  # two hops and the summary


def test_cli_microphone_json_overflows_and_vanished_device(fake_sd, model):
    result = invoke("listen", "--model", model, "--device", "USB", "--json", "--hop", "0.5", "--top-k", "2")
    assert result.exit_code == EXIT_DEVICE, result.output
    objs = json_lines(result.stdout)  # all of stdout parses, even on the error path
    hops, summary = objs[:-1], objs[-1]["summary"]
    assert len(hops) >= 4
    labels = GenreClassifier(model).labels
    for obj in hops:
        assert_hop_schema(obj, labels)
        assert len(obj["top_k"]) == 2 or obj["silent"]
    assert summary["overflows"] >= 3 and hops[-1]["overflows"] <= summary["overflows"]
    assert_summary(summary, windows=len(hops))
    err = result.stderr.strip().splitlines()
    assert err[0].startswith("edge-genre: listening to 'USB PnP Sound Device")
    assert any("overflows" in line for line in err) and any("p95" in line for line in err)
    assert err[-1].startswith("edge-genre: error: the audio stream from") and "stopped unexpectedly" in err[-1]


def test_cli_file_text_output_and_duration(model, rng, write_audio):
    path = write_audio("x.wav", music(rng, 12.0), SR)
    result = invoke("listen", "--model", model, "--file", path, "--no-realtime", "--duration", "6",
                    "--hop", "1", "--threshold", "0.99")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and all("dsp" in line and "inference" in line for line in lines)
    assert "stopped: duration" in result.stderr and "windows classified 4" in result.stderr
    assert "p50" in result.stderr and "p99" in result.stderr
    usage = invoke("listen", "--file", path, "--device", "1")
    assert usage.exit_code == 2 and "--device" in usage.stderr


def test_cli_warns_when_the_source_rate_cannot_fill_the_models_band(model, rng, write_audio):
    path = write_audio("x16k.wav", music(rng, 4.0, sr=16000), 16000)
    result = invoke("listen", "--model", model, "--file", path, "--no-realtime", "--json")
    assert result.exit_code == 0, result.output
    expected = GenreClassifier(model).config.bandwidth_warning(16000)
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == ([f"edge-genre: warning: x16k.wav (16000 Hz, 1 ch): {expected}"] if expected else [])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_end_cleanly_with_summary(model, rng, write_audio, sig):
    """systemd stop (SIGTERM) and Ctrl-C (SIGINT): exit 0, parseable stdout, summary."""
    path = write_audio("x.wav", music(rng, 5.0), SR)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_genre.cli", "listen", "--model", model, "--file", str(path),
         "--no-realtime", "--loop", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=env, cwd=REPO,
    )
    try:
        first = proc.stdout.readline()  # unbuffered: communicate() below gets everything after it
        assert first, proc.stderr.read()
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode()
    assert proc.returncode == 0, err
    objs = json_lines((first + rest).decode())
    assert "summary" in objs[-1] and all("summary" not in o for o in objs[:-1])
    summary = objs[-1]["summary"]
    assert summary["stop_reason"] == signal.Signals(sig).name
    assert_summary(summary, windows=len(objs) - 1)
    assert "Traceback" not in err and "windows classified" in err and "p99" in err


def test_keyboard_interrupt_in_the_source_ends_the_run_cleanly(clf, rng):
    y = music(rng, 6.0)

    def blocks():
        yield y[: 4 * SR]
        raise KeyboardInterrupt

    pipe = LivePipeline(clf, ArraySource(blocks(), SR))
    hops = list(pipe.run())
    assert len(hops) == 2 and pipe.summary()["stop_reason"] == "interrupted"


def test_duration_is_wall_clock_for_a_realtime_source(clf, rng, write_audio):
    path = write_audio("long.wav", music(rng, 10.0), SR)
    t0 = time.monotonic()
    pipe = LivePipeline(clf, FileSource(path, realtime=True, block_frames=1024))
    assert list(pipe.run(duration=0.4)) == []
    assert 0.35 <= time.monotonic() - t0 < 2.0
    assert pipe.summary()["stop_reason"] == "duration"


def test_not_music_is_smoothed_and_reported(model, rng):
    """White noise through the live pipeline: not_music once the smoothed music score falls below the
    model's threshold, with the score in the JSON and a count in the summary."""
    detector_on = GenreClassifier(model)
    if detector_on.music_detector is None:
        pytest.skip("the test model has no music detector")
    y = (0.1 * rng.standard_normal(int(12 * SR))).astype(np.float32)
    pipe, hops = run_pipeline(detector_on, ArraySource(y, SR, block_frames=2048), hop_seconds=1.0, smooth=3)
    assert hops and all(h.not_music and h.genre == "not_music" and h.confidence == 0.0 for h in hops)
    assert all(h.music_score < detector_on.music_threshold for h in hops)
    d = hops[-1].to_dict(detector_on.labels)
    assert d["not_music"] is True and d["music_score"] == pytest.approx(hops[-1].music_score, abs=1e-4)
    assert pipe.summary()["not_music_hops"] == len(hops)
