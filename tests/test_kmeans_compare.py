"""K-means purity analysis, K-means-stratified splits and the run comparison table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("sklearn")

from edge_genre.config import FeatureConfig  # noqa: E402
from train.dataset import FeatureSet  # noqa: E402


@pytest.fixture
def blobs() -> FeatureSet:
    """Three well separated 'genres' of 6 clips x 2 windows; genre 2 splits into two sub-clusters."""
    rng = np.random.default_rng(0)
    xs, ys, clips = [], [], []
    for g in range(3):
        for c in range(6):
            for w in range(2):
                centre = 10.0 * g + (5.0 if g == 2 and c % 2 else 0.0)
                xs.append(centre + rng.standard_normal((130, 13)))
                ys.append(g)
                clips.append(f"g{g}.{c:05d}")
    return FeatureSet(np.asarray(xs, np.float32), np.asarray(ys), np.asarray(clips), ("a", "b", "c"), FeatureConfig())


def test_purity_finds_the_structure(blobs):
    from train.kmeans import cluster_windows, purity

    clusters = cluster_windows(blobs, k=4, seed=0)
    result = purity(blobs, clusters)
    assert result["per_genre"]["a"]["purity"] == 1.0
    assert result["per_genre"]["b"]["purity"] == 1.0
    assert result["per_genre"]["c"]["clusters_used"] == 2  # the split genre spreads over two clusters
    assert np.asarray(result["table"]).sum() == len(blobs.y)


def test_kmeans_stratified_kfold_keeps_clips_together(blobs):
    from train.kmeans import kmeans_strata
    from train.splits import make_folds

    strata = kmeans_strata(blobs, k=4, seed=0, min_count=3)
    for fold in make_folds(blobs, "kfold", k=3, strata=strata):
        assert not set(blobs.clip[fold.train]) & set(blobs.clip[fold.test])
        assert len(np.unique(blobs.y[fold.test])) == 3


def test_kmeans_cli_and_compare(blobs, tmp_path):
    from edge_genre.cli import main

    blobs.save(tmp_path / "f.npz")
    res = CliRunner().invoke(main, ["train", "kmeans", "--features", str(tmp_path / "f.npz"), "--out", str(tmp_path / "k"),
                                    "--clusters", "4", "--no-plot"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "k" / "purity.json").read_text())["clusters"] == 4

    for name, acc, split in (("r1", 0.9, "paper"), ("r2", 0.5, "artist")):
        (tmp_path / name).mkdir()
        extra = {"song_recall": {"a": 0.25, "b": None}} if split == "artist" else {}
        (tmp_path / name / "metrics.json").write_text(json.dumps(
            {"accuracy": acc, "track_accuracy": acc, "f1": acc, "trainable_parameters": 1234, "ms_per_step": 5.0,
             "leaky_split": split == "paper", "split": split, "config": {"model": "cnn", "split": split, "epochs": 7},
             **extra}))
    res = CliRunner().invoke(main, ["train", "compare", str(tmp_path / "r1"), str(tmp_path / "r2")])
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith(("| r1 ", "| r2 "))]
    assert "90.00" in rows[0] and "window-leaky (paper)" in rows[0] and "| 7 |" in rows[0]
    assert "50.00" in rows[1] and "artist-grouped (artist)" in rows[1]
    assert "| r2 | 25 | - |" in res.output  # per-genre song recall of the runs that have it
