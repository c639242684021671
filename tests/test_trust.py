"""Calibrated confidence, the not-music detector, the user's own labels, one BLAS thread.

Unit tests of the pieces (temperature, detector storage, ECE) run without TensorFlow; the
end-to-end test trains a two-label model on real music (gtzan-mini) and exports it with both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_genre.calibration import PROBABILITY_FLOOR, Calibration, temper
from edge_genre.errors import ModelError
from edge_genre.music_detector import MusicDetector, window_statistics


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- temperature

def test_temper_keeps_the_winner_and_softens_or_sharpens():
    p = _softmax(np.random.default_rng(0).normal(0, 3, (50, 10)))
    assert np.allclose(temper(p, 1.0), p, atol=1e-6)
    soft, sharp = temper(p, 2.0), temper(p, 0.5)
    assert (soft.argmax(1) == p.argmax(1)).all() and (sharp.argmax(1) == p.argmax(1)).all()
    assert (soft.max(1) <= p.max(1) + 1e-6).all() and (sharp.max(1) >= p.max(1) - 1e-6).all()
    assert np.allclose(soft.sum(1), 1, atol=1e-5)
    # on probabilities above the floor it is exactly softmax(logits / T)
    logits = np.array([2.0, 0.5, -1.0])
    assert np.allclose(temper(_softmax(logits), 1.7), _softmax(logits / 1.7), atol=1e-6)


def test_a_saturated_int8_output_can_still_soften():
    saturated = np.zeros(10, np.float32)
    saturated[3] = 1.0  # what an int8 softmax gives for a very sure window
    out = temper(saturated, 2.0)
    assert out.argmax() == 3 and out[3] < 0.8
    assert np.allclose(out[np.arange(10) != 3], out[0]) and out[0] > PROBABILITY_FLOOR


@pytest.mark.parametrize("entry, match", [
    ({"temperature": 0}, "temperature"), ({"temperature": "2"}, "temperature"), ({"temperature": 1e9}, "temperature"),
    ({"temperature": True}, "temperature"), ([1.5], "object"),
])
def test_bad_calibration_metadata_is_a_model_error(entry, match):
    with pytest.raises(ModelError, match=match):
        Calibration.from_metadata(entry)


def test_fit_temperature_recovers_a_known_overconfidence():
    pytest.importorskip("scipy")
    from train.trust import expected_calibration_error, fit_temperature

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.5, (3000, 10))  # few probabilities near the floor
    true_t = 2.0  # the labels follow softmax(logits / 2): the model's softmax(logits) is overconfident
    y = np.array([rng.choice(10, p=p) for p in _softmax(logits / true_t)])
    clips = np.arange(3000).astype(str)  # one window per song
    raw = _softmax(logits)
    t = fit_temperature(raw, y, clips)
    assert abs(t - true_t) < 0.2
    assert expected_calibration_error(temper(raw, t), y) < 0.03 < expected_calibration_error(raw, y)


def test_ece_floor_is_the_noise_of_a_calibrated_model():
    from train.trust import ece_floor, expected_calibration_error

    rng = np.random.default_rng(2)
    p = _softmax(rng.normal(0, 2, (370, 10)))
    floor = ece_floor(p, draws=100)
    assert 0.01 < floor < 0.1
    # an honest model's ECE on 370 songs lies around the floor, not at zero
    y = np.array([rng.choice(10, p=q) for q in p])
    assert expected_calibration_error(p, y) < 3 * floor


# ----------------------------------------------------------------------------- the detector

def _detector(bands: int = 8, hidden: int = 4, threshold: float = 0.4) -> MusicDetector:
    rng = np.random.default_rng(3)
    n = 3 * bands + 1
    return MusicDetector(rng.normal(size=n), rng.uniform(0.5, 2, n),
                         ((rng.normal(size=(n, hidden)), rng.normal(size=hidden)),
                          (rng.normal(size=(hidden, 1)), rng.normal(size=1))), threshold, "test")


def test_window_statistics_shapes():
    x = np.random.default_rng(0).normal(size=(5, 130, 8)).astype(np.float32)
    assert window_statistics(x).shape == (5, 25)
    assert np.allclose(window_statistics(x[0]), window_statistics(x)[0])


def test_detector_round_trips_through_metadata_as_float16():
    det = _detector()
    entry = json.loads(json.dumps(det.to_metadata()))
    back = MusicDetector.from_metadata(entry, n_bands=8)
    x = np.random.default_rng(4).normal(size=(6, 130, 8))
    assert np.allclose(det.score(x), back.score(x), atol=2e-3)
    assert isinstance(back.score(x[0]), float) and back.threshold == 0.4
    assert len(json.dumps(entry)) < 1200  # base64 float16, not JSON numbers


@pytest.mark.parametrize("mutate, match", [
    (lambda e: e.update(statistics="other"), "statistics"),
    (lambda e: e.update(inputs=99), "network"),
    (lambda e: e.update(hidden=[10 ** 6]), "network"),
    (lambda e: e.update(threshold=1.5), "threshold"),
    (lambda e: e["layers"][0].__setitem__(0, "not base64!"), "base64"),
    (lambda e: e["layers"][0].__setitem__(0, e["layers"][1][0]), "shape|values"),
    (lambda e: e.update(mean="A" * 10 ** 6), "malformed"),
])
def test_damaged_detector_metadata_is_a_model_error(mutate, match):
    entry = _detector().to_metadata()
    mutate(entry)
    with pytest.raises(ModelError, match=match):
        MusicDetector.from_metadata(entry, n_bands=8)


def test_not_music_generators_are_finite_at_the_requested_level():
    from train.not_music import GENERATORS, not_music_clip

    rng = np.random.default_rng(5)
    for kind in GENERATORS:
        y = not_music_clip(kind, 22050, 22050, rng)
        assert y.dtype == np.float32 and y.shape == (22050,) and np.isfinite(y).all(), kind
        assert 10 ** (-31 / 20) <= np.abs(y).max() <= 10 ** (-0.9 / 20), kind


# ----------------------------------------------------------------------------- shipped models

@pytest.mark.parametrize("model", ["int8", "large"])
def test_shipped_models_are_calibrated_and_reject_what_is_not_music(model):
    from edge_genre.classifier import NOT_MUSIC, GenreClassifier
    from train.degrade import pink_noise

    clf = GenreClassifier(model)
    assert clf.calibration.temperature > 1.0  # both were overconfident on unseen artists
    assert clf.music_detector is not None and 0 < clf.music_threshold <= 0.5
    sr = clf.config.sample_rate
    t = np.arange(5 * sr) / sr
    rng = np.random.default_rng(6)
    for name, y in {"440 Hz tone": 0.3 * np.sin(2 * np.pi * 440 * t),
                    "white noise": 0.1 * rng.standard_normal(t.size),
                    "pink noise": 0.1 * pink_noise(t.size, sr, rng)}.items():
        res = clf.classify(y.astype(np.float32), sr)
        assert res.genre == NOT_MUSIC, (name, res.music_score)
        assert res.confidence == 0.0 and res.music_score < clf.music_threshold
    # the detector off: a genre again
    off = GenreClassifier(model, music_threshold=0.0)
    assert off.classify((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr).genre in clf.labels


def test_demo_music_and_real_speech(data_dir):
    from edge_genre.audio import load_audio
    from edge_genre.classifier import NOT_MUSIC, GenreClassifier

    speech = data_dir / "not-music" / "speech_198-209-0000.ogg"
    demo = Path(__file__).resolve().parents[1] / "demo" / "vibe_ace.ogg"
    for model in ("int8", "large"):
        clf = GenreClassifier(model)
        music = clf.classify(load_audio(demo, sr=clf.config.sample_rate), clf.config.sample_rate)
        assert music.genre in clf.labels and music.music_score >= clf.music_threshold
        talk = clf.classify(load_audio(speech, sr=clf.config.sample_rate), clf.config.sample_rate)
        assert talk.genre == NOT_MUSIC, (model, talk.music_score)


def test_reserved_labels_are_refused_at_load(tmp_path):
    pytest.importorskip("tensorflow")
    from edge_genre.classifier import GenreClassifier
    from edge_genre.model_io import resolve_model_path
    from train.trust import write_into_models

    path = tmp_path / "m.tflite"
    path.write_bytes(resolve_model_path("int8").read_bytes())
    labels = list(GenreClassifier(path).labels)
    write_into_models([path], {"labels": ["not_music", *labels[1:]]})
    with pytest.raises(ModelError, match="reserved"):
        GenreClassifier(path)


# ----------------------------------------------------------------------------- own labels, end to end

@pytest.mark.slow
def test_two_own_labels_train_export_and_run(gtzan_mini, tmp_path, monkeypatch):
    """Folders named 'calm' and 'loud' (any names), a stray folder and a stray file: prepare reports
    what it leaves out, fit and export work, the model file carries the two labels, and classify
    answers with them, or not_music for noise."""
    pytest.importorskip("tensorflow")
    from click.testing import CliRunner

    import train.trust as trust
    from edge_genre.cli import main

    monkeypatch.setattr(trust, "TRAIN_PER_KIND", 3)
    monkeypatch.setattr(trust, "TEST_PER_KIND", 1)
    root = tmp_path / "mine"
    for label, genre in (("calm", "classical"), ("loud", "metal")):
        (root / label).mkdir(parents=True)
        for src in sorted((gtzan_mini / genre).glob("*.wav"))[:6]:
            (root / label / src.name).symlink_to(src)
    (root / "calm" / "notes.txt").write_text("not audio")
    (root / "empty").mkdir()
    runner = CliRunner()
    res = runner.invoke(main, ["train", "prepare", "--data", str(root), "--out", str(tmp_path / "feat"),
                               "--kind", "logmel", "--n-mels", "32", "--normalization", "level", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "2 labels (calm, loud)" in res.output
    assert "empty: no audio files" in res.output and "notes.txt" in res.output
    res = runner.invoke(main, ["train", "fit", "--features", str(tmp_path / "feat"), "--epochs", "6", "--lstm-units", "8",
                               "--out", str(tmp_path / "run"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "clip-grouped" in res.output or "track" in res.output  # the default split keeps songs on one side
    res = runner.invoke(main, ["train", "export", str(tmp_path / "run"), "--out", str(tmp_path / "models"),
                               "--name", "mine"])
    assert res.exit_code == 0, res.output
    assert "calibration: temperature" in res.output and "not music: threshold" in res.output
    model = tmp_path / "models" / "mine_int8.tflite"
    res = runner.invoke(main, ["info", "--model", str(model), "--json"])
    desc = json.loads(res.output)
    assert desc["labels"] == ["calm", "loud"] and desc["music_detector"]["threshold"] > 0
    noise = tmp_path / "noise.wav"
    import soundfile as sf

    sf.write(noise, (0.1 * np.random.default_rng(7).standard_normal(22050 * 4)).astype(np.float32), 22050)
    clip = sorted((gtzan_mini / "classical").glob("*.wav"))[-1]
    res = runner.invoke(main, ["classify", "--model", str(model), "--json", str(clip), str(noise)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert set(lines[0]["probabilities"]) == {"calm", "loud"}
    assert lines[0]["genre"] in ("calm", "loud") and lines[1]["genre"] == "not_music"


def test_a_reserved_folder_name_is_refused(tmp_path):
    pytest.importorskip("sklearn")
    from train.dataset import DatasetError, discover_clips

    for name in ("silence", "jazz"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="reserved"):
        discover_clips(tmp_path)


# ----------------------------------------------------------------------------- BLAS threads

def _blas_env(extra: dict[str, str]) -> dict:
    from edge_genre.blas import BLAS_THREAD_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    return {**env, **extra}


def test_import_edge_genre_limits_blas_to_one_thread_unless_the_user_set_it():
    pytest.importorskip("threadpoolctl")
    code = ("import edge_genre, numpy, json; from edge_genre.blas import blas_threads; "
            "print(json.dumps(blas_threads()))")
    default = json.loads(subprocess.run([sys.executable, "-c", code], env=_blas_env({}), capture_output=True,
                                        text=True, check=True).stdout)
    assert default["set_by_edge_genre"] and default["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert all(p["threads"] == 1 for p in default["pools"] if p["api"] == "openblas")
    user = json.loads(subprocess.run([sys.executable, "-c", code], env=_blas_env({"OPENBLAS_NUM_THREADS": "2"}),
                                     capture_output=True, text=True, check=True).stdout)
    assert user["env"]["OPENBLAS_NUM_THREADS"] == "2"


def test_prepare_recipe_shipped_and_explicit_options_win(tmp_path):
    pytest.importorskip("sklearn")
    import soundfile as sf
    from click.testing import CliRunner

    from edge_genre.cli import main
    from train.dataset import FeatureSet

    rng = np.random.default_rng(8)
    for label in ("ours", "theirs"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for k in range(2):
            sf.write(tmp_path / "data" / label / f"{k}.flac", 0.1 * rng.standard_normal(22050 * 4), 22050)
    res = CliRunner().invoke(main, ["train", "prepare", "--data", str(tmp_path / "data"), "--recipe", "shipped",
                                    "--n-mels", "32", "--workers", "1", "--out", str(tmp_path / "feat")])
    assert res.exit_code == 0, res.output
    cfg = FeatureSet.load(tmp_path / "feat").config
    assert (cfg.kind, cfg.n_mels, cfg.normalization, cfg.top_db) == ("logmel", 32, "level", 60.0)


def test_fit_recipe_shipped_fills_what_was_not_given():
    import click

    from train.cli import FIT_RECIPES, apply_recipe, fit

    ctx = click.Context(fit)
    ctx.set_parameter_source("epochs", click.core.ParameterSource.COMMANDLINE)
    out = apply_recipe(ctx, FIT_RECIPES, "shipped", {"epochs": 3, "lstm_units": 64, "augment": None})
    assert out["epochs"] == 3 and out["lstm_units"] == 40 and out["augment"] == "robust"
    assert apply_recipe(ctx, FIT_RECIPES, None, {"epochs": 3}) == {"epochs": 3}


def test_speech_is_synthesized_with_espeak_ng():
    from train.not_music import TEST_VOICES, TRAIN_VOICES, espeak_available, speech

    if not espeak_available():
        if os.environ.get("EDGE_GENRE_REQUIRE_ESPEAK") == "1":
            pytest.fail("espeak-ng is required (EDGE_GENRE_REQUIRE_ESPEAK=1) but not installed")
        pytest.skip("espeak-ng not installed (Debian package espeak-ng): the detector would learn without speech")
    assert not set(TRAIN_VOICES) & set(TEST_VOICES)
    rng = np.random.default_rng(9)
    for voices in (TRAIN_VOICES, TEST_VOICES):
        y = speech(3 * 16000, 16000, rng, voices)
        assert y.shape == (48000,) and np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > 1e-3
