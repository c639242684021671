"""Outputs and options that fail: one-line errors, exit status 2, checked before long work, no lost files."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from edge_genre.cli import main

pytest.importorskip("soundfile")


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, list(map(str, args)), **kwargs)


def assert_one_line_error(result, match: str, status: int = 2) -> None:
    """``status``, no traceback, and one ``edge-genre: error:`` line (or a click usage error) naming ``match``."""
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert match in result.output, result.output


@pytest.fixture
def clip(write_audio, rng):
    return write_audio("clip.wav", (0.3 * rng.standard_normal(3 * 22050)).astype(np.float32), 22050, subtype="FLOAT")


def test_an_os_error_inside_any_command_is_one_line():
    @click.command("boom")
    def boom():
        raise FileNotFoundError(2, "No such file or directory", "/proc/x.md")

    main.add_command(boom)
    try:
        result = invoke("boom")
    finally:
        main.commands.pop("boom")
    assert_one_line_error(result, "edge-genre: error: /proc/x.md: No such file or directory")
    assert len(result.output.strip().splitlines()) == 1


def test_features_out_keeps_the_old_file_when_writing_fails(clip, tmp_path, monkeypatch):
    out = tmp_path / "keep.npy"
    np.save(out, np.arange(5))
    before = out.read_bytes()

    def full_disk(f, array):
        f.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("edge_genre.cli_support.np.save", full_disk)
    assert_one_line_error(invoke("features", clip, "--out", out), "No space left on device", status=4)
    assert out.read_bytes() == before  # the previous file is intact ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav", "keep.npy"]  # ... and no partial file is left


def test_features_out_replaces_an_existing_file_completely(clip, tmp_path):
    out = tmp_path / "f.npy"
    out.write_bytes(b"old" * 100000)
    assert invoke("features", clip, "--out", out).exit_code == 0
    assert np.load(out).shape[1] == 13


def test_features_refuses_to_overwrite_its_input(clip):
    before = clip.read_bytes()
    assert_one_line_error(invoke("features", clip, "--out", clip), "is the input audio file")
    assert clip.read_bytes() == before


def test_features_of_a_short_clip_report_its_real_length(write_audio):
    short = write_audio("short.wav", np.full(int(1.5 * 22050), 0.1, np.float32), 22050, subtype="FLOAT")
    result = invoke("features", short, "--model", "int8", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["seconds"] == 1.5 and summary["shape"][0] == 1  # one zero-padded window, but 1.5 s of audio


def test_bench_checks_its_report_paths_before_running(tmp_path, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the benchmark ran although its report could not be written")

    monkeypatch.setattr("benchmarks.bench_cli.run_benchmark", must_not_run)
    for option in ("--markdown", "--plot"):
        result = invoke("bench", "--no-data", option, tmp_path / "missing" / "report.out")
        assert_one_line_error(result, "does not exist")
    assert not (tmp_path / "missing").exists()


def test_bench_refuses_a_data_variable_that_points_nowhere(tmp_path, monkeypatch):
    from benchmarks.accuracy import default_data_dir
    from edge_genre.errors import AudioError

    monkeypatch.setenv("EDGE_GENRE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(AudioError, match="EDGE_GENRE_DATA"):
        default_data_dir()
    monkeypatch.setenv("EDGE_GENRE_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path


def test_prepare_checks_its_outputs_before_computing_features(tmp_path, monkeypatch):
    pytest.importorskip("train")

    def must_not_run(*args, **kwargs):
        raise AssertionError("features were computed although they could not be saved")

    monkeypatch.setattr("train.dataset.prepare_features", must_not_run)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [(("--out", tmp_path / "missing" / "f.npz"), "does not exist"),
             (("--out", a_file), "it is a file"),
             (("--out", tmp_path / "ok", "--paper-json", tmp_path / "missing" / "p.json"), "does not exist")]
    for args, match in cases:
        assert_one_line_error(invoke("train", "prepare", "--data", tmp_path, *args), match)


@pytest.mark.parametrize("workers", ["0", "-3", "100000"])
def test_prepare_workers_are_range_checked(tmp_path, workers):
    pytest.importorskip("train")
    assert_one_line_error(invoke("train", "prepare", "--data", tmp_path, "--out", tmp_path / "f",
                                 "--workers", workers), "--workers")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_usage_errors(clip, tmp_path, value):
    assert_one_line_error(invoke("classify", "--hop", value, clip), "--hop")
    assert_one_line_error(invoke("export-firmware", "--out", tmp_path / "fw", "--audio", clip, "--audio-offset", value),
                          "--audio-offset")


def test_damaged_run_directories_are_one_line_errors(tmp_path):
    pytest.importorskip("train")
    run = tmp_path / "run"
    run.mkdir()
    for content, match in (("{", "unreadable run file"), ("{}", "not a complete run file"),
                           ("[1, 2]", "not a complete run file")):
        (run / "run.json").write_text(content)
        assert_one_line_error(invoke("train", "export", run, "--out", tmp_path / "x"), match)


def test_missing_keras_model_is_a_model_error(tmp_path):
    pytest.importorskip("train")
    from edge_genre.errors import ModelError
    from train.export import load_keras_model

    with pytest.raises(ModelError, match="no Keras model"):
        load_keras_model(tmp_path / "model.keras")
    (tmp_path / "model.keras").write_bytes(b"not a model")
    pytest.importorskip("tf_keras")
    with pytest.raises(ModelError, match="cannot load the Keras model"):
        load_keras_model(tmp_path / "model.keras")


@pytest.mark.parametrize("name", ["../escape", "", "sub/model", ".."])
def test_export_name_stays_inside_out(tmp_path, name):
    pytest.importorskip("train")
    assert_one_line_error(invoke("train", "export", tmp_path, "--out", tmp_path / "x", "--name", name), "--name")


def test_clip_lists_take_ids_and_paths(tmp_path):
    pytest.importorskip("train")
    from train.cli import read_clip_ids

    listing = tmp_path / "clips.txt"
    listing.write_text("blues.00012\n\n  /data/genres_original/jazz/jazz.00054.wav \nrock.00003.au\n")
    assert read_clip_ids(listing) == ["blues.00012", "jazz.00054", "rock.00003"]
    listing.write_text("\n  \n")
    with pytest.raises(click.BadParameter, match="lists no clips"):
        read_clip_ids(listing)


def test_bandwidth_warning_gives_no_advice_for_rates_the_loader_refuses():
    from edge_genre.config import FeatureConfig

    config = FeatureConfig()
    assert config.bandwidth_warning(100) is None
    assert "--fmax 8000" in config.bandwidth_warning(16000)


def test_listen_refuses_a_truncated_wav_like_classify(write_audio, rng):
    path = write_audio("cut.wav", (0.3 * rng.standard_normal(5 * 22050)).astype(np.float32), 22050, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: 3 * 22050])
    assert_one_line_error(invoke("listen", "--file", path, "--no-realtime"), "truncated WAV file")


def test_listen_names_the_file_that_holds_nan(clip, write_audio):
    y = np.full(4 * 22050, 0.1, np.float32)
    y[2 * 22050] = np.nan
    bad = write_audio("bad.wav", y, 22050, subtype="FLOAT")
    result = invoke("listen", "--file", clip, "--file", bad, "--no-realtime", "--json")
    assert_one_line_error(result, "bad.wav: contains NaN or infinite samples")


def test_listen_says_why_a_short_file_gave_nothing(write_audio):
    short = write_audio("short.wav", np.full(22050, 0.1, np.float32), 22050, subtype="FLOAT")
    result = invoke("listen", "--file", short, "--no-realtime")
    assert result.exit_code == 0, result.output
    assert "nothing classified: the input ended before one full window" in result.stderr


def test_export_and_robustness_outputs_that_are_files_are_one_line_errors(tmp_path):
    pytest.importorskip("train")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert_one_line_error(invoke("train", "export", tmp_path, "--out", a_file), "it is a file")
    assert_one_line_error(invoke("train", "robustness", tmp_path, "--out", a_file), "it is a file")
    assert_one_line_error(invoke("train", "robustness", tmp_path, "--out", tmp_path / "r", "--cache", a_file),
                          "cache directory")
    assert_one_line_error(invoke("train", "robustness", tmp_path, "--out", tmp_path / "r", "--degradations", " , "),
                          "--degradations")
