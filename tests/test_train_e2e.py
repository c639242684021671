"""End to end: prepare features, train a tiny model, export float + int8, classify through the CLI.

Uses a small synthetic GTZAN-layout dataset written to tmp_path (no GTZAN audio).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow

from edge_genre.cli import main  # noqa: E402

SR = 22050
GENRES = ("blues", "classical", "metal")


def _clip(genre: str, k: int, seconds: float = 6.5) -> np.ndarray:
    """Audio with a genre-specific spectrum so that a tiny model can separate them."""
    rng = np.random.default_rng(hash((genre, k)) % 2**32)
    t = np.arange(int(seconds * SR)) / SR
    if genre == "blues":  # low tones
        y = 0.3 * np.sin(2 * np.pi * (110 + 5 * k) * t) + 0.2 * np.sin(2 * np.pi * 220 * t)
    elif genre == "classical":  # mid-range chord, quiet
        y = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (523.25 + k, 659.25, 783.99))
    else:  # loud broadband noise
        y = 0.4 * rng.standard_normal(t.size)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def synthetic_gtzan(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gtzan") / "genres_original"
    for genre in GENRES:
        (root / genre).mkdir(parents=True)
        for k in range(5):
            sf.write(root / genre / f"{genre}.{k:05d}.wav", _clip(genre, k), SR, subtype="PCM_16")
    (root / "metal" / "metal.00099.wav").write_bytes(b"RIFF....WAVEjunk")  # unreadable
    sf.write(root / "blues" / "blues.00098.wav", _clip("blues", 0, seconds=0.5), SR)  # under the 1-s minimum
    return root.parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_gtzan):
    work = tmp_path_factory.mktemp("work")
    runner = CliRunner()
    res = runner.invoke(main, ["train", "prepare", "--data", str(synthetic_gtzan), "--out", str(work / "feat"), "--workers", "2"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["train", "fit", "--features", str(work / "feat"), "--split", "track", "--epochs", "8",
                               "--lstm-units", "8", "--lr", "0.01", "--out", str(work / "run"), "--quiet"])
    assert res.exit_code == 0, res.output
    # Synthetic tones and noise are what the not-music detector rejects: this fixture tests conversion
    # (tests/test_trust.py exports real music with the detector).
    res = runner.invoke(main, ["train", "export", str(work / "run"), "--out", str(work / "models"), "--json",
                               "--no-trust"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{"):])
    return work, report, synthetic_gtzan


def test_prepare_skips_bad_clips_and_names_them(trained):
    from train.dataset import FeatureSet

    work, _, _ = trained
    fs = FeatureSet.load(work / "feat")
    assert fs.labels == GENRES
    assert len(set(fs.clip.tolist())) == 15  # the junk and the 0.5-s clip are skipped
    assert fs.x.shape == (30, 130, 13)  # two 3-s windows per 6.5-s clip
    assert "metal.00099" not in fs.clip and "blues.00098" not in fs.clip


def test_prepare_records_an_absolute_source_so_augmentation_works_from_any_directory(synthetic_gtzan, tmp_path,
                                                                                     monkeypatch):
    from train.dataset import FeatureSet

    monkeypatch.chdir(synthetic_gtzan.parent)
    res = CliRunner().invoke(main, ["train", "prepare", "--data", synthetic_gtzan.name, "--out", str(tmp_path / "f"),
                                    "--kind", "logmel", "--n-mels", "40", "--normalization", "level", "--top-db", "50"])
    assert res.exit_code == 0, res.output
    fs = FeatureSet.load(tmp_path / "f")
    assert Path(fs.source).is_absolute() and Path(fs.source).is_dir()
    assert (fs.config.kind, fs.config.n_mels, fs.config.normalization, fs.config.top_db) == ("logmel", 40, "level", 50.0)
    assert fs.x.shape[1:] == (130, 40)
    # the floor: no value more than top_db below its window's maximum (before level centring shifted both)
    assert (fs.x.max(axis=(1, 2)) - fs.x.min(axis=(1, 2))).max() <= 50.0 + 1e-3


def test_prepare_reports_skipped_files(synthetic_gtzan, tmp_path):
    res = CliRunner().invoke(main, ["train", "prepare", "--data", str(synthetic_gtzan), "--out", str(tmp_path / "f")])
    assert res.exit_code == 0
    assert "metal.00099.wav" in res.output and "blues.00098.wav" in res.output


def test_run_directory_contents(trained):
    work, _, _ = trained
    run = work / "run"
    for name in ("metrics.json", "summary.md", "model.keras", "history.json", "run.json", "confusion.png", "roc.png", "curves.png"):
        assert (run / name).exists(), name
    m = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "loss", "precision", "recall", "f1", "track_accuracy", "per_class", "trainable_parameters",
                "ms_per_step", "config", "versions"):
        assert key in m
    assert m["leaky_split"] is False
    run_info = json.loads((run / "run.json").read_text())
    assert not set(run_info["clips"]["train"]) & set(run_info["clips"]["test"])


def test_keep_best_restores_the_epoch_with_the_best_validation_accuracy(trained, tmp_path):
    import tf_keras as keras

    from train.dataset import FeatureSet

    work, _, _ = trained
    res = CliRunner().invoke(main, ["train", "fit", "--features", str(work / "feat"), "--split", "track", "--epochs", "6",
                                    "--lstm-units", "8", "--lr", "0.01", "--keep", "best", "--out", str(tmp_path / "run"),
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    val = json.loads((tmp_path / "run" / "history.json").read_text())["val_accuracy"]
    assert m["config"]["keep"] == "best" and 1 <= m["kept_epoch"] <= 6
    assert val[m["kept_epoch"] - 1] == max(val)
    # The saved model is that epoch's: it scores the best validation accuracy again.
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    fs = FeatureSet.load(work / "feat")
    valid = np.asarray(run["windows"]["valid"])
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    pred = model.predict(fs.x[valid][..., np.newaxis], verbose=0).argmax(axis=1)
    assert np.mean(pred == fs.y[valid]) == pytest.approx(max(val), abs=1e-6)


def test_export_is_full_integer_with_fused_lstm(trained):
    _, report, _ = trained
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in report["int8"]["ops"]
    assert not {"WHILE", "QUANTIZE", "DEQUANTIZE", "FlexTensorListReserve"} & set(report["int8"]["ops"])
    assert report["int8"]["size_bytes"] < report["float"]["size_bytes"]
    assert 0 <= report["top1_agreement"] <= 1
    assert report["held_out_songs"] >= 1 and 0 <= report["song_agreement"] <= 1
    assert all(0 <= report[kind]["song_accuracy"] <= 1 for kind in ("float", "int8"))


def test_export_matches_keras(trained):
    """The float TFLite model computes what Keras computes (LSTM state reset per window)."""
    import tf_keras as keras

    from edge_genre.classifier import GenreClassifier
    from train.dataset import FeatureSet

    work, _, _ = trained
    fs = FeatureSet.load(work / "feat")
    model = keras.models.load_model(work / "run" / "model.keras")
    expected = model.predict(fs.x[:8, ..., None], verbose=0)
    got = GenreClassifier(work / "models" / "model_float.tflite").predict(fs.x[:8])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_classify_cli_on_exported_model(trained, tmp_path):
    work, _, data = trained
    model = work / "models" / "model_int8.tflite"
    clip = data / "genres_original" / "metal" / "metal.00000.wav"
    res = CliRunner().invoke(main, ["classify", "--model", str(model), "--json", str(clip)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert set(out) >= {"file", "genre", "confidence", "probabilities", "windows"}
    assert set(out["probabilities"]) == set(GENRES)
    assert [w["start_s"] for w in out["windows"]] == [0.0, 3.0]


def test_info_cli(trained):
    work, _, _ = trained
    res = CliRunner().invoke(main, ["info", "--model", str(work / "models" / "model_int8.tflite"), "--json"])
    assert res.exit_code == 0, res.output
    desc = json.loads(res.output)
    assert desc["input"]["dtype"] == "int8" and desc["labels"] == list(GENRES)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in desc["ops"]


def test_export_refuses_non_run_dir(tmp_path):
    res = CliRunner().invoke(main, ["train", "export", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "not a run directory" in res.output


@pytest.mark.parametrize("layout", ["empty", "unknown_only"])
def test_prepare_bad_data_dirs(tmp_path, layout):
    if layout == "unknown_only":
        (tmp_path / "genres_original" / "polka").mkdir(parents=True)
    res = CliRunner().invoke(main, ["train", "prepare", "--data", str(tmp_path), "--out", str(tmp_path / "f")])
    assert res.exit_code == 2
    assert "no label folders" in res.output


def test_feature_cache_config_mismatch(trained):
    from edge_genre.config import FeatureConfig
    from train.dataset import DatasetError, FeatureSet

    work, _, _ = trained
    with pytest.raises(DatasetError, match="different FeatureConfig"):
        FeatureSet.load(work / "feat", expect_config=FeatureConfig(n_mfcc=20))


def test_original_au_layout(tmp_path):
    """The original GTZAN distribution: genres/<genre>/<genre>.NNNNN.au."""
    from train.dataset import discover_clips

    for genre in ("jazz", "pop"):
        (tmp_path / "genres" / genre).mkdir(parents=True)
        sf.write(tmp_path / "genres" / genre / f"{genre}.00000.au", _clip("blues", 0, 3.5), SR, format="AU", subtype="PCM_16")
    clips, labels = discover_clips(tmp_path)
    assert labels == ("jazz", "pop") and [c.clip_id for c in clips] == ["jazz.00000", "pop.00000"]


def test_kfold_only_folds_and_resume(tmp_path, trained):
    """A recipe can be screened on one fold, and an interrupted k-fold run resumed without
    training its finished folds again (the partition is the full run's)."""
    work, _, _ = trained
    runner = CliRunner()
    run = tmp_path / "cv"
    base = ["train", "fit", "--features", str(work / "feat"), "--split", "kfold", "--folds", "3", "--epochs", "2",
            "--lstm-units", "4", "--out", str(run), "--quiet"]
    res = runner.invoke(main, [*base, "--only-folds", "1"])
    assert res.exit_code == 0, res.output
    assert "1 of 3 folds (fold1)" in res.output
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == ["fold1"]
    agg = json.loads((run / "metrics.json").read_text())
    assert (agg["folds"], agg["folds_run"], agg["folds_total"]) == (1, ["fold1"], 3)
    assert "1 of the 3 folds" in (run / "summary.md").read_text()
    fold1_test = json.loads((run / "fold1" / "run.json").read_text())["clips"]["test"]
    stamp = (run / "fold1" / "model.keras").stat().st_mtime_ns

    res = runner.invoke(main, [*base, "--resume"])
    assert res.exit_code == 0, res.output
    assert (run / "fold1" / "model.keras").stat().st_mtime_ns == stamp  # kept, not retrained
    agg = json.loads((run / "metrics.json").read_text())
    assert agg["folds_run"] == ["fold0", "fold1", "fold2"] and agg["folds"] == 3
    assert json.loads((run / "fold1" / "run.json").read_text())["clips"]["test"] == fold1_test
    tests = [set(json.loads((run / f / "run.json").read_text())["clips"]["test"]) for f in ("fold0", "fold1", "fold2")]
    assert not (tests[0] & tests[1] or tests[0] & tests[2] or tests[1] & tests[2])

    # another recipe in the same directory is trained again, never mixed with the old folds
    res = runner.invoke(main, [*base, "--lstm-units", "5", "--only-folds", "1", "--resume"])
    assert res.exit_code == 0, res.output
    assert (run / "fold1" / "model.keras").stat().st_mtime_ns != stamp


@pytest.mark.parametrize("value, message", [("3", "the folds are 0-2"), ("a", "expected fold indices")])
def test_only_folds_bad_values(trained, tmp_path, value, message):
    work, _, _ = trained
    res = CliRunner().invoke(main, ["train", "fit", "--features", str(work / "feat"), "--split", "kfold", "--folds", "3",
                                    "--epochs", "1", "--out", str(tmp_path / "r"), "--only-folds", value])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "r").exists()
