"""load_audio equals librosa.load sample for sample; unusable files raise AudioError."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
librosa = pytest.importorskip("librosa")

from edge_genre import load_audio  # noqa: E402
from edge_genre.audio import find_audio_files, resample, to_mono  # noqa: E402
from edge_genre.errors import AudioError  # noqa: E402

TARGETS = [None, 22050, 16000, 44100]  # None: the file's own rate


def ref_load(path, sr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return librosa.load(path, sr=sr)


def assert_same_as_librosa(path, sr):
    """Exactly equal: same length (librosa fixes it to ceil(n * ratio)), same float32 samples."""
    ref, ref_sr = ref_load(path, sr)
    target = ref_sr if sr is None else sr
    ours = load_audio(path, sr=target)
    assert ours.dtype == np.float32 and ours.ndim == 1
    assert ours.shape == ref.shape, f"{path.name} @ {target} Hz: {ours.shape} vs librosa {ref.shape}"
    np.testing.assert_array_equal(ours, ref, err_msg=f"{path.name} @ {target} Hz")
    return ours


def tone(rng, seconds, sr, channels=1):
    n = int(seconds * sr)
    t = np.arange(n) / sr
    cols = [0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(n) for c in range(channels)]
    y = np.stack(cols, axis=1) if channels > 1 else cols[0]
    return np.clip(y, -1, 1).astype(np.float32)


FORMATS = [
    # name, native rate, channels, subtype, format, seconds
    ("int16.wav", 22050, 1, "PCM_16", None, 1.5),
    ("float32.wav", 22050, 1, "FLOAT", None, 1.5),
    ("int24.wav", 44100, 1, "PCM_24", None, 1.0),
    ("uint8.wav", 8000, 1, "PCM_U8", None, 1.0),
    ("clip.flac", 22050, 1, None, None, 1.5),
    ("clip.ogg", 22050, 1, None, None, 1.5),
    ("clip.au", 22050, 1, None, None, 1.5),
    ("clip.aiff", 32000, 1, None, None, 1.0),
    ("stereo48k.wav", 48000, 2, "PCM_16", None, 1.3),
    ("stereo48k-float.wav", 48000, 2, "FLOAT", None, 1.3),
    ("odd-11025.wav", 11025, 1, "PCM_16", None, 0.5599),
]


@pytest.mark.parametrize("sr", TARGETS, ids=lambda s: f"to-{s or 'native'}")
@pytest.mark.parametrize("name, native, channels, subtype, fmt, seconds", FORMATS, ids=[f[0] for f in FORMATS])
def test_synthetic_files_equal_librosa(write_audio, rng, name, native, channels, subtype, fmt, seconds, sr):
    path = write_audio(name, tone(rng, seconds, native, channels), native, subtype=subtype, format=fmt)
    y = assert_same_as_librosa(path, sr)
    if sr in (None, native):
        assert y.size == sf.info(str(path)).frames
    else:
        assert y.size == int(np.ceil(sf.info(str(path)).frames * sr / native))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 441, 1001, 4801, 48001])
@pytest.mark.parametrize("native", [8000, 44100, 48000])
def test_resampled_lengths_equal_librosa(write_audio, rng, n, native):
    path = write_audio("len.wav", rng.uniform(-0.5, 0.5, n).astype(np.float32), native, subtype="FLOAT")
    for sr in (22050, 16000):
        assert_same_as_librosa(path, sr)


@pytest.mark.parametrize("channels", [3, 6])
def test_multichannel_float_equals_librosa(write_audio, rng, channels):
    path = write_audio("multi.wav", rng.uniform(-0.9, 0.9, (20000, channels)).astype(np.float32), 22050, subtype="FLOAT")
    assert_same_as_librosa(path, 22050)


def test_multichannel_int16_equals_librosa(write_audio, rng):
    path = write_audio("multi16.wav", rng.uniform(-0.9, 0.9, (20000, 4)).astype(np.float32), 48000, subtype="PCM_16")
    for sr in (22050, 48000):
        assert_same_as_librosa(path, sr)


def test_pathlike_and_str_paths(write_audio, rng):
    path = write_audio("a.wav", tone(rng, 0.5, 22050), 22050, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(path), load_audio(str(path)))


@pytest.mark.data
@pytest.mark.parametrize("sr", TARGETS, ids=lambda s: f"to-{s or 'native'}")
def test_real_clip_equals_librosa(gtzan_mini, sr):
    path = gtzan_mini / "blues" / "blues.00000.wav"
    y = assert_same_as_librosa(path, sr)
    if sr in (None, 22050):
        assert y.size == sf.info(str(path)).frames


@pytest.mark.data
def test_real_clips_of_every_genre_at_16k(gtzan_wavs):
    by_genre = {}
    for p in gtzan_wavs:
        by_genre.setdefault(p.parent.name, p)
    assert len(by_genre) == 10
    for p in by_genre.values():
        assert_same_as_librosa(p, 16000)


# ----------------------------------------------------------------------------- errors

def wav_bytes(rng, tmp_path, n=22050, subtype="PCM_16"):
    p = tmp_path / "src.wav"
    sf.write(str(p), rng.uniform(-0.5, 0.5, n).astype(np.float32), 22050, subtype=subtype)
    return p.read_bytes()


def check_error(path, match, **kw):
    with pytest.raises(AudioError, match=match) as info:
        load_audio(path, **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_file(tmp_path):
    assert str(tmp_path / "nope.wav") in check_error(tmp_path / "nope.wav", "no such file")


def test_directory(tmp_path):
    check_error(tmp_path, "is a directory")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    check_error(p, "file is empty")


@pytest.mark.parametrize("content", [b"\x00" * 10, b"hello, this is not audio\n" * 50, "random"], ids=["zeros", "text", "random"])
@pytest.mark.parametrize("name", ["junk.wav", "junk.flac", "junk.bin"])
def test_junk_bytes(tmp_path, rng, content, name):
    p = tmp_path / name
    p.write_bytes(rng.bytes(5000) if content == "random" else content)
    check_error(p, "cannot decode audio")


@pytest.mark.parametrize("keep", ["half", "header+1", "header", "all-but-one"])
def test_truncated_wav(tmp_path, rng, keep):
    data = wav_bytes(rng, tmp_path)
    cut = {"half": len(data) // 2, "header+1": 45, "header": 44, "all-but-one": len(data) - 1}[keep]
    p = tmp_path / "cut.wav"
    p.write_bytes(data[:cut])
    check_error(p, "truncated")


def test_header_cut_inside_fmt_chunk(tmp_path, rng):
    p = tmp_path / "cut.wav"
    p.write_bytes(wav_bytes(rng, tmp_path)[:20])
    check_error(p, "cannot decode")


def test_truncated_flac(tmp_path, rng):
    p = tmp_path / "a.flac"
    sf.write(str(p), rng.uniform(-0.5, 0.5, 5 * 22050).astype(np.float32), 22050)
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])
    check_error(p, "cannot decode|truncated")


def test_wav_without_samples(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(str(p), np.zeros(0, np.float32), 22050)
    check_error(p, "no audio samples")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_wav(write_audio, rng, bad):
    y = rng.uniform(-0.5, 0.5, 5000).astype(np.float32)
    y[1234] = bad
    check_error(write_audio("bad.wav", y, 22050, subtype="FLOAT"), "NaN or infinite")


@pytest.mark.parametrize("rate", [1, 100, 1_000_000])
def test_absurd_file_sample_rate(write_audio, rng, rate):
    path = write_audio("odd-rate.wav", rng.uniform(-0.5, 0.5, 3000).astype(np.float32), rate, subtype="PCM_16")
    message = check_error(path, rf"unsupported sample rate .*{rate}")
    assert "4000" in message and "384000" in message


def test_zero_sample_rate_in_header(tmp_path, rng):
    data = bytearray(wav_bytes(rng, tmp_path))
    data[24:28] = struct.pack("<I", 0)
    p = tmp_path / "sr0.wav"
    p.write_bytes(bytes(data))
    check_error(p, "cannot decode|sample rate")


@pytest.mark.parametrize("sr", [0, -22050, 100, 10**7, 22050.0, True, "22050", None])
def test_absurd_target_rate(write_audio, rng, sr):
    path = write_audio("a.wav", rng.uniform(-0.5, 0.5, 3000).astype(np.float32), 22050, subtype="PCM_16")
    check_error(path, "unsupported target sample rate", sr=sr)


def test_numpy_integer_target_rate_is_accepted(write_audio, rng):
    path = write_audio("a.wav", rng.uniform(-0.5, 0.5, 3000).astype(np.float32), 22050, subtype="PCM_16")
    assert load_audio(path, sr=np.int64(16000)).size == int(np.ceil(3000 * 16000 / 22050))


# ----------------------------------------------------------------------------- helpers

def test_to_mono():
    y = np.array([[1.0, 0.0], [0.5, -0.5], [0.25, 0.75]], np.float32)
    np.testing.assert_array_equal(to_mono(y), [0.5, 0.0, 0.5])
    assert to_mono(y).dtype == np.float32
    mono = np.arange(4, dtype=np.float32)
    assert to_mono(mono) is mono
    with pytest.raises(AudioError, match="1-D or"):
        to_mono(np.zeros((2, 2, 2), np.float32))


def test_resample_matches_librosa(rng):
    y = rng.uniform(-0.5, 0.5, 12345).astype(np.float32)
    for sr_in, sr_out in [(44100, 22050), (22050, 16000), (8000, 22050), (48000, 44100)]:
        ours = resample(y, sr_in, sr_out)
        ref = librosa.resample(y, orig_sr=sr_in, target_sr=sr_out, res_type="soxr_hq")
        assert ours.dtype == np.float32 and ours.shape == ref.shape
        np.testing.assert_array_equal(ours, ref)
    assert resample(y, 22050, 22050) is y
    with pytest.raises(AudioError):
        resample(y, 0, 22050)


def test_find_audio_files(tmp_path, write_audio, rng):
    y = rng.uniform(-0.1, 0.1, 100).astype(np.float32)
    for rel in ["b/song.WAV", "a/x.flac", "a/deep/er/y.ogg", "a/z.au", "c.aiff", "top.wav"]:
        write_audio(rel, y, 22050, format={"aiff": "AIFF", "au": "AU"}.get(rel.rsplit(".", 1)[1].lower()))
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    (tmp_path / "a" / "cover.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "a" / "folder.wav").mkdir()  # a directory with an audio extension is not a file
    (tmp_path / "empty").mkdir()

    found = find_audio_files([tmp_path])
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == sorted(rel)
    assert set(rel) == {"b/song.WAV", "a/x.flac", "a/deep/er/y.ogg", "a/z.au", "c.aiff", "top.wav"}

    # Explicit files are kept whatever their extension, in the order given, then directories expand.
    explicit = find_audio_files([tmp_path / "a" / "notes.txt", tmp_path / "a" / "deep"])
    assert explicit == [tmp_path / "a" / "notes.txt", tmp_path / "a" / "deep" / "er" / "y.ogg"]
    assert find_audio_files([tmp_path / "empty"]) == []
    assert find_audio_files([]) == []
    assert find_audio_files([str(tmp_path / "top.wav")]) == [tmp_path / "top.wav"]


@pytest.mark.data
def test_find_audio_files_on_gtzan(gtzan_mini):
    files = find_audio_files([gtzan_mini])
    assert len(files) == len(list(gtzan_mini.glob("*/*.wav"))) >= 10
    assert {p.parent.name for p in files} >= {"blues", "classical", "jazz", "rock"}


def test_unreadable_file_is_audio_error(write_audio, rng):
    import os

    path = write_audio("locked.wav", rng.uniform(-0.5, 0.5, 2000).astype(np.float32), 22050)
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: nothing to test
            pytest.skip("running as a user who can read mode-000 files")
        with pytest.raises(AudioError, match="cannot read"):
            load_audio(path)
    finally:
        os.chmod(path, 0o644)
