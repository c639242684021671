"""Augmentation (train/augment.py), `train fit --augment` and `train robustness` on synthetic data.

A small GTZAN-layout folder is written to tmp_path (no GTZAN audio): 3 genres x 5
clips of 6.5 s, i.e. two 3-s windows per clip.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from edge_genre.audio import load_audio
from edge_genre.config import FeatureConfig
from train.augment import Augmenter, parse_augment
from train.dataset import FeatureSet, clip_features
from train.splits import make_folds

SR = 22050
GENRES = ("blues", "classical", "metal")
CLIPS_PER_GENRE = 5


def _clip(genre: str, k: int, seconds: float = 6.5) -> np.ndarray:
    rng = np.random.default_rng([GENRES.index(genre), k])
    t = np.arange(int(seconds * SR)) / SR
    if genre == "blues":
        y = 0.3 * np.sin(2 * np.pi * (110 + 5 * k) * t) + 0.2 * np.sin(2 * np.pi * 220 * t)
    elif genre == "classical":
        y = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (523.25 + k, 659.25, 783.99))
    else:
        y = 0.4 * rng.standard_normal(t.size)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, feature cache) of the synthetic set, built without a process pool."""
    base = tmp_path_factory.mktemp("synthetic")
    root = base / "data" / "genres_original"
    config = FeatureConfig()
    xs, ys, ids, paths = [], [], [], {}
    for gi, genre in enumerate(GENRES):
        (root / genre).mkdir(parents=True)
        for k in range(CLIPS_PER_GENRE):
            path = root / genre / f"{genre}.{k:05d}.wav"
            sf.write(path, _clip(genre, k), SR, subtype="PCM_16")
            feats = clip_features(load_audio(path, sr=SR), config)
            clip_id = f"{genre}.{k:05d}"
            xs.append(feats)
            ys += [gi] * len(feats)
            ids += [clip_id] * len(feats)
            paths[clip_id] = f"{genre}/{path.name}"
    fs = FeatureSet(np.concatenate(xs), np.asarray(ys, np.int64), np.asarray(ids), GENRES, config,
                    source=str(root), clip_paths=paths)
    cache = fs.save(base / "features" / "features.npz")
    return base / "data", cache


def test_parse_augment():
    r = parse_augment("robust", copies=3, seed=5)
    assert r.copies == 3 and r.seed == 5 and ("noise-white", "noise-pink", "noise-babble") in r.slots
    assert parse_augment("gain,noise-white|noise-pink").slots == (("gain",), ("noise-white", "noise-pink"))
    assert parse_augment("paper").slots == (("time-stretch",), ("pitch-shift",), ("noise",))
    with pytest.raises(ValueError, match="unknown degradation 'hiss'"):
        parse_augment("gain,hiss")
    d = r.to_dict()
    assert d["spec"] == "robust" and d["copies"] == 3 and "noise-white|noise-pink|noise-babble" in d["slots"]
    assert d["slot_p"] == [0.5] * 5


def test_augment_slot_probability():
    r = parse_augment("gain,reverb@0.9,noise-white|noise-white|noise-pink")
    assert r.slots[1] == ("reverb",) and r.to_dict()["slot_p"] == [0.5, 0.9, 0.5]
    rng = np.random.default_rng(0)
    chains = [r.sample_chain(rng) for _ in range(2000)]
    used = {name: sum(any(step[0] == name for step in c) for c in chains) / len(chains)
            for name in ("gain", "reverb", "noise-white", "noise-pink")}
    assert 0.86 < used["reverb"] < 0.94 and 0.45 < used["gain"] < 0.60  # gain: 0.5, plus the at-least-one rule
    assert 1.6 < used["noise-white"] / used["noise-pink"] < 2.5  # a name given twice is picked twice as often
    for bad in ("reverb@1.5", "reverb@0", "reverb@often"):
        with pytest.raises(ValueError, match="probability after '@'"):
            parse_augment(bad)


def test_augmentation_never_touches_valid_or_test_windows_and_is_reproducible(dataset):
    _, cache = dataset
    fs = FeatureSet.load(cache)
    x_before = fs.x.copy()
    fold = make_folds(fs, "kfold", seed=0, k=3)[0]
    recipe = parse_augment("robust", copies=2, seed=1)
    aug = Augmenter(fs, recipe, workers=1, progress=False)
    x, y = aug(fold)

    n_clean = fold.train.size
    np.testing.assert_array_equal(x[:n_clean], fs.x[fold.train])  # clean training windows first, unchanged
    np.testing.assert_array_equal(y[:n_clean], fs.y[fold.train])
    train_clips = set(fs.clip[fold.train].tolist())
    held_out = set(fs.clip[fold.valid].tolist()) | set(fs.clip[fold.test].tolist())
    assert set(aug.last_clips.tolist()) == train_clips and not held_out & set(aug.chains)
    assert len(x) == len(y) == len(aug.last_clips) == n_clean * (1 + recipe.copies)
    labels = fs.clip_labels
    assert all(y[i] == labels[c] for i, c in enumerate(aug.last_clips))
    assert not np.array_equal(x[n_clean : 2 * n_clean], fs.x[fold.train])  # degraded copies differ
    for x_held in (fs.x[fold.valid], fs.x[fold.test]):  # no held-out window (or a copy of one) in training
        assert not any(np.array_equal(w, h) for w in x for h in x_held)
    np.testing.assert_array_equal(fs.x, x_before)
    assert all(1 <= len(chain) <= len(recipe.slots) for chains in aug.chains.values() for chain in chains)

    again = Augmenter(FeatureSet.load(cache), recipe, workers=1, progress=False)(fold)
    np.testing.assert_array_equal(again[0], x)
    np.testing.assert_array_equal(again[1], y)
    other = Augmenter(fs, parse_augment("robust", copies=2, seed=2), workers=1, progress=False)(fold)
    assert not np.array_equal(other[0][n_clean:], x[n_clean:])


def test_augmented_copies_are_cached_across_folds(dataset):
    _, cache = dataset
    fs = FeatureSet.load(cache)
    folds = make_folds(fs, "kfold", seed=0, k=3)
    aug = Augmenter(fs, parse_augment("gain,mic-eq", copies=1), workers=1, progress=False)
    x0, _ = aug(folds[0])
    cached = {c: v.copy() for c, v in aug.cache.items()}
    aug(folds[1])
    for c, v in cached.items():
        np.testing.assert_array_equal(aug.cache[c], v)
    assert set(aug.cache) == set(fs.clip[np.concatenate([folds[0].train, folds[1].train])].tolist())


@pytest.mark.slow
def test_fit_with_augment_then_robustness_report(dataset, tmp_path):
    pytest.importorskip("tensorflow")
    from edge_genre.cli import main

    data, cache = dataset
    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(main, ["train", "fit", "--features", str(cache), "--split", "track", "--epochs", "1",
                               "--lstm-units", "4", "--lr", "0.01", "--augment", "gain,noise-white|noise-pink",
                               "--augment-copies", "1", "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["extra"]["augment"] == {"spec": "gain,noise-white|noise-pink", "copies": 1, "p": 0.5,
                                                     "seed": 0, "slots": ["gain", "noise-white|noise-pink"],
                                                     "slot_p": [0.5, 0.5]}
    assert metrics["sizes"]["test"] > 0

    out = tmp_path / "rob"
    res = runner.invoke(main, ["train", "robustness", str(run), "--data", str(data), "--out", str(out),
                               "--degradations", "gain,noise-white", "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "single artist" in res.output
    for name in ("robustness.json", "robustness.md", "robustness.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "robustness.json").read_text())
    keys = [r["condition"] for r in report["conditions"]]
    assert keys == ["clean", "gain@6", "gain@-10", "gain@-20", "gain@-30",
                    "noise-white@30", "noise-white@20", "noise-white@10", "noise-white@5"]
    clean = report["conditions"][0]
    # the same held-out windows as the fit's own test metrics
    assert clean["window_accuracy_mean"] == pytest.approx(metrics["accuracy"])
    assert clean["clip_accuracy_mean"] == pytest.approx(metrics["track_accuracy"])
    assert report["clips_per_fold"] == [len(json.loads((run / "run.json").read_text())["clips"]["test"])]
    md = (out / "robustness.md").read_text()
    assert "| gain | -20 dB (moderate) |" in md and "single artist" in md and "Δ window" in md

    # a k-fold layout: each fold's model on its own test clips (--folds picks some)
    kdir = tmp_path / "kfold"
    for i in range(2):
        shutil.copytree(run, kdir / f"fold{i}")
    out2 = tmp_path / "rob2"
    res = runner.invoke(main, ["train", "robustness", str(kdir), "--out", str(out2), "--moderate-only", "--folds", "1",
                               "--degradations", "gain", "--workers", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    report2 = json.loads((out2 / "robustness.json").read_text())
    assert report2["folds"] == ["fold1"]
    assert [r["condition"] for r in report2["conditions"]] == ["clean", "gain@-20"]
    assert report2["conditions"][0]["window_accuracy_mean"] == pytest.approx(metrics["accuracy"])


def test_report_mean_and_std_over_folds(tmp_path):
    from train.robustness import conditions_for, summarize, write_outputs

    conds = conditions_for(["gain", "reverb"], moderate_only=True)
    accs = [(0.8, 0.7, 0.6), (0.6, 0.6, 0.5)]  # per fold: clean, gain, reverb
    per_fold = [{"fold": f"fold{i}", "clips": 10, "results": {
        c.key: {"window_accuracy": a, "clip_accuracy": a, "windows": 100, "silent_windows": 0}
        for c, a in zip(conds, acc)}} for i, acc in enumerate(accs)]
    report = summarize(per_fold, conds)
    rows = {r["condition"]: r for r in report["conditions"]}
    assert rows["clean"]["window_accuracy_mean"] == pytest.approx(0.7)
    assert rows["clean"]["window_accuracy_std"] == pytest.approx(0.1)
    assert rows["gain@-20"]["window_delta_mean"] == pytest.approx(-0.05)
    assert rows["reverb@0.4"]["window_delta_mean"] == pytest.approx(-0.15)
    assert report["moderate"]["worst_window_delta"] == pytest.approx(-0.15)
    assert not report["moderate"]["within_target"]
    report.update({"target": "runs/x", "backend": "keras", "use": "keras", "folds": ["fold0", "fold1"], "n_folds": 2,
                   "clips_per_fold": [10, 10], "seed": 0, "feature_config": FeatureConfig().to_dict(),
                   "caveat": "single artist caveat", "target_points": 5.0, "note": "n"})
    write_outputs(report, tmp_path)
    md = (tmp_path / "robustness.md").read_text()
    assert "| clean | - | 70.0 ± 10.0 |" in md and "| reverb | 0.4 s | 55.0 ± 5.0 | -15.0 ± 5.0 |" in md
    assert (tmp_path / "robustness.png").stat().st_size > 0

    from train.robustness import compare_markdown

    table = compare_markdown({"plain": report, "robust": report})
    assert "| recipe | clean | gain -20 dB | reverb 0.4 s | worst Δ |" in table
    assert "| robust | 70.0 ± 10.0 | 65.0 ± 5.0 (-5.0) | 55.0 ± 5.0 (-15.0) | -15.0 |" in table


def _report(clean, gain, reverb):
    from train.robustness import conditions_for, summarize

    conds = conditions_for(["gain", "reverb"], moderate_only=True)
    per_fold = [{"fold": "fold0", "clips": 10, "results": {
        c.key: {"window_accuracy": a, "clip_accuracy": a, "windows": 100, "silent_windows": 0}
        for c, a in zip(conds, (clean, gain, reverb))}}]
    report = summarize(per_fold, conds)
    report.update({"n_folds": 1, "caveat": "single artist caveat"})
    return report


def test_robustness_compare_command_checks_the_target_against_a_baseline(tmp_path):
    from edge_genre.cli import main

    recipes = {"plain": (0.70, 0.40, 0.65), "flat": (0.685, 0.64, 0.64), "low": (0.60, 0.58, 0.59),
               "edge": (0.80, 0.75, 0.80)}  # edge: exactly 5 points (one clip of 20), which is within 5
    for name, accs in recipes.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "robustness.json").write_text(json.dumps(_report(*accs)))
    res = CliRunner().invoke(main, ["train", "robustness-compare", f"plain={tmp_path / 'plain'}",
                                    str(tmp_path / "flat" / "robustness.json"), f"low={tmp_path / 'low'}",
                                    f"edge={tmp_path / 'edge'}",
                                    "--baseline", "plain", "--out", str(tmp_path / "cmp.md")])
    assert res.exit_code == 0, res.output
    assert "| plain | +0.0 / +0.0 | -30.0 / -30.0 | no |" in res.output  # degrades too much
    assert "| flat | -1.5 / -1.5 | -4.5 / -4.5 | yes |" in res.output  # within both limits
    assert "| low | -10.0 / -10.0 | -2.0 / -2.0 | no |" in res.output  # robust, but clean fell too far
    assert "| edge | +10.0 / +10.0 | -5.0 / -5.0 | yes |" in res.output
    assert _report(0.80, 0.75, 0.80)["moderate"]["within_target"]
    assert (tmp_path / "cmp.md").read_text().strip() == res.output.strip()
    res = CliRunner().invoke(main, ["train", "robustness-compare", str(tmp_path / "nothing")])
    assert res.exit_code == 1 and "no robustness.json" in res.output
    res = CliRunner().invoke(main, ["train", "robustness-compare", f"x={tmp_path / 'plain'}", "--baseline", "y"])
    assert res.exit_code == 1 and "baseline 'y'" in res.output


def test_robustness_refuses_a_non_run(tmp_path):
    from train.robustness import RobustnessError, robustness

    with pytest.raises(RobustnessError, match="neither a run directory"):
        robustness(tmp_path, tmp_path / "out")


def test_markdown_verdict_agrees_with_the_json_at_exactly_five_points(tmp_path):
    """A loss of exactly 5.0 points (0.75 - 0.80 in floating point) is within the target in the
    JSON; the markdown table must say so too (it once compared the raw difference)."""
    from train.robustness import write_outputs

    report = _report(0.80, 0.75, 0.80)
    assert report["moderate"]["within_target"]
    report.update({"target": "runs/x", "backend": "keras", "use": "keras", "folds": ["fold0"],
                   "clips_per_fold": [20], "seed": 0, "feature_config": FeatureConfig().to_dict(),
                   "target_points": 5.0, "note": "n"})
    write_outputs(report, tmp_path)
    gain_row = next(line for line in (tmp_path / "robustness.md").read_text().splitlines() if line.startswith("| gain"))
    assert gain_row.rstrip().endswith("| yes |"), gain_row
