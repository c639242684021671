"""`edge-genre classify` and `info` with the shipped model on synthetic files: formats, rates,
channels, short and silent clips, bad files among good ones, JSON output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edge_genre.cli import main


def run(*args):
    # The clips here are a tone in noise, which the model's music detector rightly calls not_music:
    # these tests are about formats and outputs, so it is off (tests/test_trust.py tests it).
    extra = ["--music-threshold", "0"] if args and args[0] == "classify" else []
    return CliRunner().invoke(main, [str(a) for a in args] + extra)


@pytest.fixture
def files(write_audio, rng):
    music = lambda seconds, sr: (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * sr)) / sr)  # noqa: E731
                                 + 0.05 * rng.standard_normal(int(seconds * sr))).astype(np.float32)
    return {
        "mono22": write_audio("mono22.wav", music(7.0, 22050), 22050),
        "stereo48": write_audio("stereo48.flac", np.stack([music(4.0, 48000)] * 2, axis=1), 48000),
        "short": write_audio("short.wav", music(2.0, 16000), 16000),
        "tiny": write_audio("tiny.wav", music(0.5, 22050), 22050),
        "silent": write_audio("silent.wav", np.zeros(22050 * 4, np.float32), 22050),
    }


def test_json_lines_for_every_good_file_and_errors_for_bad_ones(files, tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    res = run("classify", "--json", files["mono22"], junk, files["stereo48"], files["tiny"], files["short"])
    assert res.exit_code == 1  # some files failed, the others were classified
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(files["mono22"]), str(files["stereo48"]), str(files["short"])]
    for line in lines:
        assert set(line) == {"file", "genre", "confidence", "probabilities", "music_score", "windows"}
        assert abs(sum(line["probabilities"].values()) - 1) < 0.01
        assert line["genre"] == max(line["probabilities"], key=line["probabilities"].get)
    assert [w["start_s"] for w in lines[0]["windows"]] == [0.0, 3.0]  # two whole 3-s windows in 7 s
    assert len(lines[2]["windows"]) == 1  # a 2-s clip is zero-padded to one window
    assert f"{junk}: cannot decode audio" in res.stderr
    assert f"{files['tiny']}: clip is 0.50 s long" in res.stderr
    assert "2 of 5 files could not be classified" in res.stderr


def test_low_sample_rate_files_get_one_bandwidth_warning_per_rate(files, write_audio, rng):
    from edge_genre import GenreClassifier

    config = GenreClassifier("int8").config
    other = write_audio("short2.wav", (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32), 16000)
    res = run("classify", files["short"], other, files["stereo48"])
    assert res.exit_code == 0
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    if config.mel_fmax > 8000:  # the model reads above what 16 kHz audio holds
        assert len(warnings) == 1 and f"{files['short']}: audio recorded at 16000 Hz holds nothing above 8000 Hz" in warnings[0]
        assert "--fmax 8000" in warnings[0]
    else:
        assert warnings == []
    assert len(res.stdout.splitlines()) == 3  # a warning, not an error


def test_bandwidth_warning_follows_the_feature_band():
    from edge_genre.config import FeatureConfig

    assert FeatureConfig().bandwidth_warning(44100) is None
    assert FeatureConfig().bandwidth_warning(22050) is None
    assert "nothing above 8000 Hz" in FeatureConfig().bandwidth_warning(16000)
    assert "nothing above 4000 Hz" in FeatureConfig().bandwidth_warning(8000)
    assert FeatureConfig(fmax=8000.0).bandwidth_warning(16000) is None
    assert "--fmax 4000" in FeatureConfig(fmax=8000.0).bandwidth_warning(8000)


def test_silent_clip_is_silence(files):
    res = run("classify", files["silent"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"{files['silent']}: silence"
    out = json.loads(run("classify", "--json", files["silent"]).stdout)
    assert out["genre"] == "silence" and all(w["genre"] == "silence" for w in out["windows"])


def test_top_k_windows_and_directories(files):
    res = run("classify", "--top-k", "3", "--windows", files["mono22"].parent)
    assert res.exit_code == 1  # tiny.wav in the folder is too short
    first = [line for line in res.stdout.splitlines() if line.startswith(str(files["mono22"]))][0]
    assert first.count("%") == 3


def test_hop_gives_overlapping_windows(files):
    out = json.loads(run("classify", "--json", "--hop", "1", files["mono22"]).stdout)
    starts = [w["start_s"] for w in out["windows"]]
    assert starts == pytest.approx([0.0, 0.9985, 1.997, 2.9955, 3.994], abs=1e-3)  # hop rounded to 43 frames


def test_int8_and_float_models_agree_on_format(files):
    for model in ("int8", "float"):
        res = run("classify", "--model", model, "--json", files["mono22"])
        assert res.exit_code == 0, res.output


def test_bad_model_is_one_line_error(tmp_path, files):
    bogus = tmp_path / "m.tflite"
    bogus.write_bytes(b"\x00" * 100)
    res = run("classify", "--model", bogus, files["mono22"])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "not a TFLite model" in res.stderr


def test_info_json():
    desc = json.loads(run("info", "--json").stdout)
    assert desc["input"]["dtype"] == "int8" and len(desc["labels"]) == 10
    assert "DELEGATE" not in desc["ops"] and "UNIDIRECTIONAL_SEQUENCE_LSTM" in desc["ops"]
    from edge_genre.model_io import read_model_info

    assert desc["held_out_clips"] == read_model_info("int8").extra["held_out_clips"]
    assert len(desc["held_out_clips"]) >= 20


def test_info_text_names_the_whole_front_end():
    # The band, the dB floor and the normalisation change the features: info must show all three.
    from edge_genre import GenreClassifier

    cfg = GenreClassifier().config
    line = next(l for l in run("info").stdout.splitlines() if l.startswith("features"))
    floor = "none" if cfg.top_db is None else f"{cfg.top_db:g} dB"
    assert f"{cfg.fmin:g}-{cfg.mel_fmax:g} Hz" in line and f"floor {floor}" in line
    assert f"normalization {cfg.normalization}" in line
