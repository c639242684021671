"""``edge-genre features``: output, --json, --out, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_genre import load_audio, log_mel, mfcc
from edge_genre.cli import main

sf = pytest.importorskip("soundfile")


@pytest.fixture
def clip(write_audio, rng):
    """1.5 s of stereo 44.1 kHz float audio: the command must downmix and resample it."""
    n = int(1.5 * 44100)
    t = np.arange(n) / 44100
    y = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(n)], axis=1)
    return write_audio("clip.wav", y.astype(np.float32), 44100, subtype="FLOAT")


def invoke(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def assert_user_error(result, match):
    """Exit status 2 and exactly one line "edge-genre: error: ..." on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edge-genre: error: ")
    assert match in lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert result.stdout == ""


def test_features_prints_shape_and_means(clip):
    result = invoke("features", clip)
    assert result.exit_code == 0, result.output
    expected = mfcc(load_audio(clip), 22050)
    assert expected.shape == (1 + 33075 // 512, 13)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{clip}: 1.5 s -> mfcc {expected.shape[0]} frames x 13"
    means = [float(v) for v in lines[1].split(":")[1].split()]
    np.testing.assert_allclose(means, expected.mean(axis=0), atol=0.051)


def test_features_json(clip):
    result = invoke("features", clip, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = mfcc(load_audio(clip), 22050)
    assert data["file"] == str(clip) and data["kind"] == "mfcc" and data["seconds"] == 1.5
    assert data["shape"] == list(expected.shape)
    np.testing.assert_allclose(data["mean"], expected.mean(axis=0), atol=1e-3)
    assert "out" not in data


def test_features_out_writes_exact_matrix(clip, tmp_path):
    out = tmp_path / "feats.npy"
    result = invoke("features", clip, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["out"] == str(out)
    saved = np.load(out)
    assert saved.dtype == np.float32
    np.testing.assert_array_equal(saved, mfcc(load_audio(clip), 22050))


def test_features_logmel(clip, tmp_path):
    out = tmp_path / "lm.npy"
    result = invoke("features", clip, "--kind", "logmel", "-o", out)
    assert result.exit_code == 0, result.output
    assert "logmel 65 frames x 128" in result.stdout and f"written to {out}" in result.stdout
    np.testing.assert_array_equal(np.load(out), log_mel(load_audio(clip), 22050))


@pytest.mark.data
def test_features_of_a_real_clip_equal_librosa(gtzan_mini, tmp_path):
    librosa = pytest.importorskip("librosa")
    path = gtzan_mini / "rock" / "rock.00000.wav"
    out = tmp_path / "rock.npy"
    result = invoke("features", path, "--out", out)
    assert result.exit_code == 0, result.output
    y, _ = librosa.load(path, sr=22050)
    ref = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=13, n_fft=2048, hop_length=512).T
    saved = np.load(out)
    assert saved.shape == ref.shape
    assert np.allclose(saved, ref, rtol=1e-5, atol=1e-3)


def test_missing_file(tmp_path):
    assert_user_error(invoke("features", tmp_path / "nope.wav"), "no such file")


def test_junk_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not a wav file" * 20)
    assert_user_error(invoke("features", bad), "cannot decode audio")


def test_truncated_file(tmp_path, write_audio, rng):
    path = write_audio("t.wav", rng.uniform(-0.5, 0.5, 22050).astype(np.float32), 22050, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:10000])
    assert_user_error(invoke("features", path), "truncated")


def test_nan_file(write_audio):
    y = np.zeros(4000, np.float32)
    y[7] = np.nan
    assert_user_error(invoke("features", write_audio("nan.wav", y, 22050, subtype="FLOAT")), "NaN")


def test_failed_input_writes_no_output(tmp_path):
    out = tmp_path / "x.npy"
    assert_user_error(invoke("features", tmp_path / "nope.wav", "--out", out), "no such file")
    assert not out.exists()


def test_unwritable_out_path(clip, tmp_path):
    assert_user_error(invoke("features", clip, "--out", tmp_path / "no" / "such" / "dir" / "x.npy"), "x.npy")


def test_out_path_is_written_as_given(clip, tmp_path):
    out = tmp_path / "feats.bin"
    result = invoke("features", clip, "--out", out, "--json")
    assert result.exit_code == 0
    assert out.exists(), f"written to {sorted(p.name for p in tmp_path.iterdir())} instead"


def console_script() -> list[str]:
    """The installed ``edge-genre`` script next to this interpreter, else ``python -m edge_genre.cli``."""
    script = Path(sys.executable).with_name("edge-genre")
    if script.exists():
        return [str(script)]
    found = shutil.which("edge-genre")
    return [found] if found else [sys.executable, "-m", "edge_genre.cli"]


def test_subprocess_console_script_error_is_one_line(tmp_path):
    """The real entry point: status 2 and a single stderr line, no traceback."""
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"\x00\x01junk" * 100)
    proc = subprocess.run([*console_script(), "features", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"edge-genre: error: {bad}: cannot decode audio (Format not recognised.)"]


def test_subprocess_console_script_success(clip):
    proc = subprocess.run([*console_script(), "features", str(clip), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["shape"] == [65, 13]


def test_top_level_help_lists_lazy_commands_without_importing_them():
    """`edge-genre -h` must not import TensorFlow-side modules (train, bench, firmware)."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from edge_genre.cli import main; "
            "r = CliRunner().invoke(main, ['-h']); assert r.exit_code == 0, r.output; "
            "assert 'train' in r.output and 'export-firmware' in r.output; "
            "print(sorted(m for m in ('train.cli', 'benchmarks.bench_cli', 'firmware_export.cli', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_features_of_a_model_are_what_it_sees(clip, tmp_path):
    from edge_genre import window_features
    from edge_genre.model_io import read_model_info

    config = read_model_info("int8").config
    out = tmp_path / "model_feats.npy"
    result = invoke("features", clip, "--model", "int8", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    y = load_audio(clip)
    expected = window_features(np.pad(y, (0, config.window_samples - y.size)), config)[None]
    assert data["kind"] == config.kind and data["shape"] == list(expected.shape)
    assert data["feature_config"] == config.to_dict()
    np.testing.assert_array_equal(np.load(out), expected)
    text = invoke("features", clip, "--model", "int8")
    assert f"-> {config.kind} 1 windows x {config.n_frames} frames x {config.n_features}" in text.stdout


def test_features_kind_and_model_exclude_each_other(clip):
    assert_user_error(invoke("features", clip, "--model", "int8", "--kind", "mfcc"), "exclude each other")
