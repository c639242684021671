"""Answers a user can trust: fit the temperature and the music detector, and measure both.

:func:`calibrate_run` is what ``edge-genre train export`` does after converting a run (and what
``edge-genre train calibrate RUN --write MODEL`` does for a model already exported):

- the **temperature** (:mod:`edge_genre.calibration`) minimises the negative log-likelihood of the
  run's *validation* songs (by artists the model did not train on), computed from the model's own
  uncalibrated outputs (the int8 file's, when a file is given);
- the **music detector** (:mod:`edge_genre.music_detector`) learns from the run's training windows
  (and one degraded copy of each training clip, so that music through a room and a cheap
  microphone stays music) against generated non-music (:mod:`train.not_music`, training seeds and
  voices), also degraded.

It reports on the run's held-out test songs: expected calibration error (ECE) before and after, and
its sampling floor (the ECE a perfectly calibrated model would show on as many songs); how many
music songs keep a genre (clean and degraded); how much of generated non-music in other seeds and
voices, and of real recordings (``--not-music DIR``), gets ``not_music``. :func:`calibrate_kfold` does
this for every fold of a k-fold run and pools the held-out songs: the model card's figures.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_genre.audio import find_audio_files, load_audio
from edge_genre.calibration import TEMPERATURE_RANGE, temper
from edge_genre.config import FeatureConfig
from edge_genre.music_detector import NOT_MUSIC, MusicDetector, window_statistics

from .dataset import FeatureSet, clip_features
from .not_music import TEST_VOICES, TRAIN_VOICES, not_music_set

ECE_BINS = 10
DETECTOR_HIDDEN = 16
DETECTOR_ALPHA = 1.0  # L2 penalty of the detector's network
TRAIN_PER_KIND, TEST_PER_KIND = 40, 8
TRAIN_SEED, TEST_SEED = 1, 2  # generated non-music: the detector never sees the test seeds or voices
MUSIC_THRESHOLD_SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5)
MUSIC_KEEP_QUANTILE = 0.01  # the threshold keeps at least 99 % of the training songs
# At most 0.3: in artist-grouped CV of the default model, 0.5 rejected 6 % of music songs through a room
# and a cheap microphone (one capture degradation) for 1.2 points more non-music rejected than 0.3.
MAX_MUSIC_THRESHOLD = 0.3
DEGRADE = "robust"  # the degradations of the capture augmentation (one copy per clip)


# ----------------------------------------------------------------------------- calibration metrics

def group_means(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted group ids and the mean of ``values`` (windows along axis 0) in each group."""
    ids = np.unique(groups)
    return ids, np.stack([np.asarray(values)[groups == g].mean(axis=0) for g in ids])


def song_means(probs: np.ndarray, y: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per song: mean window probabilities, true label, id (as ``classify`` aggregates)."""
    ids, means = group_means(probs, clips)
    return means, group_means(y, clips)[1].astype(int), ids


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))))


def fit_temperature(probs: np.ndarray, y: np.ndarray, clips: np.ndarray) -> float:
    """Temperature minimising the NLL of the windows plus that of the songs (tempered mean
    probabilities): one temperature serves both outputs, a window (``listen --smooth 1``,
    ``classify --windows``) and an aggregate (a clip, ``listen``'s smoothing)."""
    from scipy.optimize import minimize_scalar

    means, labels, _ = song_means(probs, y, clips)

    def loss(t: float) -> float:
        return nll(temper(means, t), labels) + nll(temper(probs, t), y)

    return float(minimize_scalar(loss, bounds=TEMPERATURE_RANGE, method="bounded").x)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the top label: sum over equal-width confidence bins of |accuracy - confidence| x share."""
    rows = [r for r in reliability_table(probs, y, bins) if r["songs"]]
    return float(sum(r["songs"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / max(len(y), 1))


def ece_floor(probs: np.ndarray, draws: int = 200, seed: int = 0) -> float:
    """Mean ECE of a perfectly calibrated model with these confidences (labels drawn from ``probs``):
    the sampling noise of ECE on this many songs."""
    rng = np.random.default_rng(seed)
    p = probs / probs.sum(axis=1, keepdims=True)
    cum = p.cumsum(axis=1)
    values = []
    for _ in range(draws):
        y = (rng.random((len(p), 1)) > cum).sum(axis=1).clip(0, p.shape[1] - 1)
        values.append(expected_calibration_error(p, y))
    return float(np.mean(values))


def reliability_table(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width confidence bin: its songs (or windows), mean confidence and accuracy."""
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        rows.append({"from": round(float(lo), 2), "to": round(float(hi), 2), "songs": int(m.sum()),
                     "confidence": float(conf[m].mean()) if m.any() else None,
                     "accuracy": float(correct[m].mean()) if m.any() else None})
    return rows


def coverage_table(probs: np.ndarray, y: np.ndarray, thresholds=(0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) -> list[dict]:
    """What ``--threshold P`` costs: share of songs still answered and the accuracy on those."""
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    rows = []
    for t in thresholds:
        m = conf >= t
        rows.append({"threshold": t, "answered": float(m.mean()),
                     "accuracy_answered": float(correct[m].mean()) if m.any() else None})
    return rows


def plot_reliability(before: np.ndarray, after: np.ndarray, y: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    for probs, name, color in ((before, "before", "tab:red"), (after, "after", "tab:blue")):
        rows = [r for r in reliability_table(probs, y) if r["songs"]]
        ece = expected_calibration_error(probs, y)
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], "o-", color=color,
                label=f"{name} temperature (ECE {ece:.3f})")
        for r in rows:
            ax.annotate(str(r["songs"]), (r["confidence"], r["accuracy"]), fontsize=7, color=color,
                        xytext=(3, -9), textcoords="offset points")
    ax.set_xlabel("confidence (mean over songs in the bin)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- the music detector

def not_music_features(config: FeatureConfig, per_kind: int, seed: int, voices: tuple[str, ...],
                       degrade_copies: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of generated non-music through ``config``'s front end, clean and degraded; and their kinds."""
    from .augment import augment_clip, parse_augment

    recipe = parse_augment(DEGRADE, copies=degrade_copies, seed=seed) if degrade_copies else None
    seconds = config.window_samples / config.sample_rate
    xs, kinds = [], []
    for i, (kind, y) in enumerate(not_music_set(per_kind, seconds, config.sample_rate, seed, voices)):
        feats = clip_features(y, config)
        if recipe is not None:
            feats = np.concatenate([feats, augment_clip(y, config, recipe, f"not-music-{seed}-{i}")[0]])
        xs.append(feats)
        kinds += [kind] * len(feats)
    return np.concatenate(xs).astype(np.float32), np.array(kinds)


def real_not_music(config: FeatureConfig, folder: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Windows of every audio file under ``folder`` (real recordings that are not music), and file names."""
    if folder is None:
        return np.zeros((0, *config.feature_shape), np.float32), np.zeros(0, dtype=str)
    xs, names = [], []
    for path in find_audio_files([folder]):
        feats = clip_features(load_audio(path, sr=config.sample_rate), config)
        xs.append(feats)
        names += [path.name] * len(feats)
    if not xs:
        return np.zeros((0, *config.feature_shape), np.float32), np.zeros(0, dtype=str)
    return np.concatenate(xs), np.array(names)


def fit_detector(music: np.ndarray, music_clips: np.ndarray, not_music: np.ndarray, seed: int = 0,
                 trained_on: str = "") -> MusicDetector:
    """Train the detector on music windows (with their song ids) and non-music windows.

    Classes are balanced by repeating the smaller one. The threshold is :data:`MAX_MUSIC_THRESHOLD`,
    lowered if needed so that at least 99 % of the training songs (mean score of their windows) stay music.
    """
    from sklearn.neural_network import MLPClassifier

    sm, sn = window_statistics(music).astype(np.float64), window_statistics(not_music).astype(np.float64)
    x = np.concatenate([sm, sn])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    rng = np.random.default_rng(seed)
    if len(sn) <= len(sm):  # the larger class first, the smaller one drawn with replacement to its size
        xb, yb = np.concatenate([sm, sn[rng.integers(0, len(sn), len(sm))]]), np.r_[np.ones(len(sm)), np.zeros(len(sm))]
    else:
        xb, yb = np.concatenate([sn, sm[rng.integers(0, len(sm), len(sn))]]), np.r_[np.zeros(len(sn)), np.ones(len(sn))]
    net = MLPClassifier((DETECTOR_HIDDEN,), alpha=DETECTOR_ALPHA, max_iter=2000, random_state=seed)
    net.fit((xb - mean) / scale, yb)
    layers = tuple((np.asarray(w), np.asarray(b)) for w, b in zip(net.coefs_, net.intercepts_))
    # Through the stored form (float16), so that every figure measures the detector the file holds.
    n_bands = music.shape[-1]
    detector = MusicDetector.from_metadata(MusicDetector(mean, scale, layers, 0.5, trained_on).to_metadata(), n_bands)
    song_scores = group_means(detector.score(music), music_clips)[1]
    threshold = min(MAX_MUSIC_THRESHOLD, float(np.quantile(song_scores, MUSIC_KEEP_QUANTILE)))
    return MusicDetector(detector.mean, detector.scale, detector.layers, threshold, trained_on)


# ----------------------------------------------------------------------------- one run

@dataclass
class TrustData:
    """What the detector learns from and is tested on, shared by the folds of a k-fold run."""

    not_music_train: np.ndarray
    not_music_test: np.ndarray
    not_music_test_kinds: np.ndarray
    real: np.ndarray
    real_names: np.ndarray
    degraded: dict[str, np.ndarray] = field(default_factory=dict)  # clip -> one degraded copy's windows


def trust_data(fs: FeatureSet, clips: list[str], real_dir: Path | None, progress: bool = True) -> TrustData:
    """Generate non-music (train and test seeds) and one degraded copy of each music clip in ``clips``."""
    from .augment import Augmenter, parse_augment

    if progress:
        print("trust: generating non-music (noises, tones, hum, chirps, synthesized speech) ...", file=sys.stderr,
              flush=True)
    train_x, _ = not_music_features(fs.config, TRAIN_PER_KIND, TRAIN_SEED, TRAIN_VOICES)
    test_x, test_kinds = not_music_features(fs.config, TEST_PER_KIND, TEST_SEED, TEST_VOICES)
    real_x, real_names = real_not_music(fs.config, real_dir)
    degraded: dict[str, np.ndarray] = {}
    if fs.clip_paths:
        aug = Augmenter(fs, parse_augment(DEGRADE, copies=1, seed=TRAIN_SEED), progress=progress)
        aug.compute(clips)
        degraded = dict(aug.cache)
    return TrustData(train_x, test_x, test_kinds, real_x, real_names, degraded)


def run_probabilities(run: dict, fs: FeatureSet, model_path: Path | None = None, keras_model=None) -> dict:
    """Uncalibrated probabilities of a run's validation and test windows: from a .tflite through the
    runtime (loaded once), or from a Keras model."""
    if model_path is not None:
        from edge_genre.classifier import GenreClassifier

        clf = GenreClassifier(model_path)

        def predict(x: np.ndarray) -> np.ndarray:
            return clf.predict(x, calibrated=False)
    else:
        from .models import predict_batch

        def predict(x: np.ndarray) -> np.ndarray:
            return keras_model.predict(x[..., np.newaxis], verbose=0, batch_size=predict_batch(fs.config))

    out = {}
    for side in ("valid", "test"):
        idx = np.asarray(run["windows"][side], dtype=int)
        out[side] = predict(fs.x[idx]) if idx.size else np.zeros((0, len(fs.labels)))
    return out


def read_temperature(path: Path) -> tuple[float, str]:
    """The pooled temperature of a k-fold trust report (``train calibrate CV --out DIR``: DIR/trust.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "trust.json"
    try:
        report = json.loads(path.read_text())
        t, songs = float(report["temperature_pooled"]), int(report["songs"]["n"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a k-fold trust report with a pooled temperature ({exc})") from None
    return t, f"{songs} held-out songs by held-out artists ({report.get('protocol', 'k-fold')}; {path.parent.name})"


def calibrate_run(run: dict, fs: FeatureSet, data: TrustData, probs: dict, seed: int = 0,
                  temperature: tuple[float, str] | None = None) -> tuple[dict, dict]:
    """Fit temperature and detector for one run; returns (metadata entries, report with per-song arrays).

    ``probs``: :func:`run_probabilities`. ``temperature``: (value, what it was fitted on) to use
    instead of fitting one on the run's validation songs (few, for a hold-out run: a k-fold run of
    the same recipe pools hundreds, see :func:`read_temperature`).
    """
    idx = {side: np.asarray(run["windows"][side], dtype=int) for side in ("train", "valid", "test")}
    if temperature is None:
        if idx["valid"].size == 0:
            raise ValueError("the run has no validation windows to fit a temperature on")
        n_valid_songs = len(np.unique(fs.clip[idx["valid"]]))
        temperature = (fit_temperature(probs["valid"], fs.y[idx["valid"]], fs.clip[idx["valid"]]),
                       f"{n_valid_songs} validation songs ({idx['valid'].size} windows) by artists not in training")
    temperature, fitted_on = temperature

    train_clips = list(dict.fromkeys(fs.clip[idx["train"]].tolist()))
    music = [fs.x[idx["train"]]] + [data.degraded[c] for c in train_clips if c in data.degraded]
    music_clips = [fs.clip[idx["train"]]] + [np.full(len(data.degraded[c]), c) for c in train_clips if c in data.degraded]
    detector = fit_detector(np.concatenate(music), np.concatenate(music_clips), data.not_music_train, seed,
                            trained_on=f"{len(train_clips)} training songs (clean + 1 degraded copy) vs "
                                       f"{len(data.not_music_train)} windows of generated non-music")
    metadata = {
        "calibration": {"temperature": round(temperature, 4), "fitted_on": fitted_on},
        "music_detector": detector.to_metadata(),
    }
    report: dict = {"temperature": temperature, "music_threshold": detector.threshold}
    if idx["test"].size:
        test_p = probs["test"]
        means, labels, ids = song_means(test_p, fs.y[idx["test"]], fs.clip[idx["test"]])
        song_score = group_means(detector.score(fs.x[idx["test"]]), fs.clip[idx["test"]])[1]
        deg_score = np.array([detector.score(data.degraded[c]).mean() if c in data.degraded else np.nan for c in ids])
        report["songs"] = {"ids": ids.tolist(), "labels": labels.tolist(), "raw": means.tolist(),
                           "tempered": temper(means, temperature).tolist(), "music_score": song_score.tolist(),
                           "music_score_degraded": deg_score.tolist(), "threshold": detector.threshold}
        report["windows"] = {"labels": fs.y[idx["test"]].tolist(), "raw": test_p.tolist(),
                             "tempered": temper(test_p, temperature).tolist()}
    report["not_music"] = {"kinds": data.not_music_test_kinds.tolist(),
                           "score": np.atleast_1d(detector.score(data.not_music_test)).tolist(),
                           "real_names": data.real_names.tolist(),
                           "real_score": np.atleast_1d(detector.score(data.real)).tolist() if len(data.real) else [],
                           "threshold": detector.threshold}
    return metadata, report


# ----------------------------------------------------------------------------- pooled figures

def summarize(reports: list[dict]) -> dict:
    """Pooled held-out figures of one or more runs' reports (folds: each with its own temperature/detector)."""
    songs = [r["songs"] for r in reports if "songs" in r]
    out: dict = {"temperatures": [round(r["temperature"], 3) for r in reports],
                 "music_thresholds": [round(r["music_threshold"], 3) for r in reports]}
    nm = [r["not_music"] for r in reports]
    kinds = np.concatenate([n["kinds"] for n in nm])
    rejected = np.concatenate([np.asarray(n["score"]) < n["threshold"] for n in nm])
    real_rejected = np.concatenate([np.asarray(n["real_score"]) < n["threshold"] for n in nm])
    if songs:
        y = np.concatenate([s["labels"] for s in songs]).astype(int)
        raw = np.concatenate([s["raw"] for s in songs])
        tempered = np.concatenate([s["tempered"] for s in songs])
        windows = [r["windows"] for r in reports if "windows" in r]
        wy = np.concatenate([w["labels"] for w in windows]).astype(int)
        wraw, wtemp = np.concatenate([w["raw"] for w in windows]), np.concatenate([w["tempered"] for w in windows])
        scores = np.concatenate([s["music_score"] for s in songs])
        kept = np.concatenate([np.asarray(s["music_score"]) >= s["threshold"] for s in songs])
        deg = np.concatenate([np.asarray(s["music_score_degraded"]) for s in songs])
        deg_thr = np.concatenate([np.full(len(s["ids"]), s["threshold"]) for s in songs])
        has_deg = ~np.isnan(deg)
        correct = raw.argmax(1) == y
        out["songs"] = {
            "n": int(len(y)), "accuracy": float(correct.mean()),
            "accuracy_with_not_music": float((correct & kept).mean()),
            "ece_before": expected_calibration_error(raw, y), "ece_after": expected_calibration_error(tempered, y),
            "ece_floor": ece_floor(tempered), "mean_confidence_before": float(raw.max(1).mean()),
            "mean_confidence_after": float(tempered.max(1).mean()),
            "reliability_after": reliability_table(tempered, y), "coverage_after": coverage_table(tempered, y),
            "music_kept": float(kept.mean()),
            "music_kept_degraded": float(np.mean(deg[has_deg] >= deg_thr[has_deg])) if has_deg.any() else None,
        }
        out["windows"] = {"n": int(len(wy)), "ece_before": expected_calibration_error(wraw, wy),
                          "ece_after": expected_calibration_error(wtemp, wy), "ece_floor": ece_floor(wtemp, draws=50)}
        out["_arrays"] = (raw, tempered, y)
        # What --music-threshold P costs: music songs kept (clean, degraded) and non-music windows rejected.
        nm_scores = np.concatenate([np.concatenate([n["score"], n["real_score"]]) for n in nm])
        out["music_threshold_sweep"] = [
            {"threshold": t, "music_kept": float((scores >= t).mean()),
             "music_kept_degraded": float((deg[has_deg] >= t).mean()) if has_deg.any() else None,
             "not_music_rejected": float((nm_scores < t).mean())}
            for t in MUSIC_THRESHOLD_SWEEP]
    out["not_music"] = {"generated_windows": int(len(kinds)), "generated_rejected": float(rejected.mean()),
                        "per_kind": {k: float(rejected[kinds == k].mean()) for k in sorted(set(kinds.tolist()))},
                        "real_windows": int(len(real_rejected)),
                        "real_rejected": float(real_rejected.mean()) if len(real_rejected) else None,
                        "all_rejected": float(np.concatenate([rejected, real_rejected]).mean())}
    return out


def summary_markdown(s: dict, protocol: str) -> str:
    lines = [f"# Trust: calibration and not-music ({protocol})", ""]
    if "songs" in s:
        so, w = s["songs"], s["windows"]
        lines += [
            f"Held-out songs: {so['n']} ({w['n']} windows). Temperatures per fold: {s['temperatures']}; "
            f"music thresholds: {s['music_thresholds']}.", "",
            "| | songs | windows |", "|---|---:|---:|",
            f"| ECE before | {so['ece_before']:.3f} | {w['ece_before']:.3f} |",
            f"| ECE after | {so['ece_after']:.3f} | {w['ece_after']:.3f} |",
            f"| ECE of a perfectly calibrated model on as many (sampling floor) | {so['ece_floor']:.3f} | {w['ece_floor']:.3f} |",
            f"| mean confidence before / after | {so['mean_confidence_before']:.3f} / {so['mean_confidence_after']:.3f} | |",
            f"| accuracy | {so['accuracy']:.3f} | |", "",
            "What `--threshold P` costs (songs, after calibration):", "",
            "| threshold | songs answered | accuracy of those |", "|---:|---:|---:|",
            *[f"| {r['threshold']:.1f} | {r['answered']:.1%} | "
              f"{'-' if r['accuracy_answered'] is None else format(r['accuracy_answered'], '.1%')} |" for r in so["coverage_after"]],
            "", "Not music:", "",
            f"- music songs that keep a genre: {so['music_kept']:.1%} clean"
            + (f", {so['music_kept_degraded']:.1%} with one capture degradation" if so["music_kept_degraded"] is not None else ""),
            f"- song accuracy {so['accuracy']:.1%} without the detector, {so['accuracy_with_not_music']:.1%} with it "
            f"(a rejected song counts as wrong)",
        ]
    nm = s["not_music"]
    lines += [f"- generated non-music (seeds and voices never used in training; clean and degraded): "
              f"{nm['generated_rejected']:.1%} of {nm['generated_windows']} windows get `{NOT_MUSIC}`"]
    if nm["real_windows"]:
        lines.append(f"- real recordings (--not-music): {nm['real_rejected']:.1%} of {nm['real_windows']} windows")
    lines += [f"- all non-music: {nm['all_rejected']:.1%}", "", "| kind | rejected |", "|---|---:|",
              *[f"| {k} | {v:.0%} |" for k, v in nm["per_kind"].items()], ""]
    if s.get("music_threshold_sweep"):
        lines += ["What `--music-threshold P` costs:", "",
                  "| P | music songs kept | degraded music songs kept | non-music windows rejected |",
                  "|---:|---:|---:|---:|",
                  *[f"| {r['threshold']:.1f} | {r['music_kept']:.1%} | "
                    f"{'-' if r['music_kept_degraded'] is None else format(r['music_kept_degraded'], '.1%')} | "
                    f"{r['not_music_rejected']:.1%} |" for r in s["music_threshold_sweep"]], ""]
    return "\n".join(lines)


def write_summary(s: dict, out_dir: Path, protocol: str, title: str) -> dict:
    """``trust.json``, ``trust.md`` and ``reliability.png`` in ``out_dir``; returns the JSON-ready summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = s.pop("_arrays", None)
    if arrays is not None:
        plot_reliability(arrays[0], arrays[1], arrays[2], out_dir / "reliability.png", title)
    (out_dir / "trust.json").write_text(json.dumps({"protocol": protocol, **s}, indent=2))
    (out_dir / "trust.md").write_text(summary_markdown(s, protocol))
    return s


def calibrate_kfold(cv_dir: Path, out_dir: Path, real_dir: Path | None = None, progress: bool = True) -> dict:
    """Every fold of a k-fold run (its Keras model): temperature and detector fitted as export would,
    pooled held-out figures written to ``out_dir``."""
    from .export import load_keras_model, load_run

    folds = sorted(p for p in Path(cv_dir).glob("fold*") if (p / "run.json").exists())
    if not folds:
        raise ValueError(f"{cv_dir}: no fold*/run.json (not a k-fold run)")
    run0, fs = load_run(folds[0])
    data = trust_data(fs, list(dict.fromkeys(fs.clip.tolist())), real_dir, progress)
    runs, probs = [], []
    for fold in folds:
        if progress:
            print(f"trust: {fold.name}: predicting its validation and test windows", file=sys.stderr, flush=True)
        run, _ = load_run(fold)
        runs.append(run)
        probs.append(run_probabilities(run, fs, keras_model=load_keras_model(fold / "model.keras")))
    tests = [np.asarray(run["windows"]["test"], dtype=int) for run in runs]

    def pooled_temperature(folds_used: list[int]) -> float:
        return fit_temperature(np.concatenate([probs[i]["test"] for i in folds_used]),
                               np.concatenate([fs.y[tests[i]] for i in folds_used]),
                               np.concatenate([fs.clip[tests[i]] for i in folds_used]))

    reports = []
    for i, run in enumerate(runs):
        others = [j for j in range(len(runs)) if j != i]
        # Cross-fitted: fold i's temperature comes from the other folds' held-out songs, as a model
        # trained on everything takes the temperature pooled over all folds (--temperature-from).
        t = (pooled_temperature(others), f"held-out songs of the other {len(others)} folds")
        _, report = calibrate_run(run, fs, data, probs[i], temperature=t)
        reports.append(report)
    protocol = f"{run0.get('fit_config', {}).get('split', '?')}-grouped {len(folds)}-fold, held-out songs"
    summary = summarize(reports)
    summary["temperature_pooled"] = pooled_temperature(list(range(len(runs))))
    return write_summary(summary, Path(out_dir), protocol, f"{Path(cv_dir).name}: {protocol}")


def write_into_models(paths: list[Path], entries: dict) -> None:
    """Put ``entries`` (``calibration``, ``music_detector``) into the edge-genre metadata of each model
    file, keeping everything else; each file is replaced whole (temporary sibling, then rename)."""
    import os

    from edge_genre.model_io import METADATA_NAME, parse_edge_genre_metadata, read_tflite_metadata

    from .export import add_metadata

    for path in map(Path, paths):
        data = path.read_bytes()
        meta = parse_edge_genre_metadata(read_tflite_metadata(data)[METADATA_NAME])
        out = add_metadata(data, {**meta, **entries})
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(out)
        os.replace(tmp, path)


def run_protocol(run: dict) -> str:
    """What a single run's trust figures are measured on."""
    return f"{run.get('fit_config', {}).get('split', '?')} split, the run's held-out songs"


def trust_for_run(run: dict, fs: FeatureSet, model_path: Path, real_dir: Path | None = None,
                  temperature: tuple[float, str] | None = None, seed: int = 0,
                  progress: bool = True) -> tuple[dict, dict]:
    """Temperature and detector for one run, fitted on ``model_path``'s own outputs: returns the
    metadata entries to store and the summary of its held-out songs (``_arrays`` for the plot)."""
    idx = np.concatenate([np.asarray(run["windows"][side], dtype=int) for side in ("train", "test")])
    data = trust_data(fs, list(dict.fromkeys(fs.clip[idx].tolist())), real_dir, progress)
    probs = run_probabilities(run, fs, model_path=Path(model_path))
    entries, report = calibrate_run(run, fs, data, probs, seed=seed, temperature=temperature)
    return entries, summarize([report])


def calibrate_single(run_dir: Path, models: list[Path], out_dir: Path | None, real_dir: Path | None = None,
                     progress: bool = True, temperature_from: Path | None = None) -> dict:
    """Fit temperature and detector for one run from the first model file's own outputs; write them
    into every file of ``models``; report on the run's held-out songs (to ``out_dir`` if given)."""
    from .export import load_run

    run, fs = load_run(run_dir)
    temperature = read_temperature(temperature_from) if temperature_from else None
    entries, summary = trust_for_run(run, fs, models[0], real_dir, temperature, progress=progress)
    write_into_models(models, entries)
    if out_dir is not None:
        protocol = run_protocol(run)
        summary = write_summary(summary, Path(out_dir), protocol, f"{Path(models[0]).name}: {protocol}")
    else:
        summary.pop("_arrays", None)
    return {"entries": {"calibration": entries["calibration"],
                        "music_detector": {"threshold": entries["music_detector"]["threshold"]}}, **summary}
