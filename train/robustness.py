"""Robustness report: accuracy on held-out clips, clean and under each capture degradation.

A target is a ``.tflite`` model (run through :class:`edge_genre.classifier.GenreClassifier`),
a run directory (its held-out test clips from ``run.json``; the Keras model or an exported
``.tflite``), or a k-fold run directory (``fold0`` ... ``foldN``: each fold's model on its
own test clips; mean ± std over folds).

Each held-out clip is loaded with the runtime's loader, degraded as a whole (30 s) with
:mod:`train.degrade` at every strength of its grid, cut into the training windows and turned
into features by edge_genre's own front end. Windows quieter than the runtime's silence
threshold count as misses (the runtime reports them as ``silence``); a clip's prediction is
the argmax of the mean probabilities of its non-silent windows, as
:meth:`GenreClassifier.summarize` does. Degradation noise is seeded by (seed, clip,
condition), so two models see exactly the same degraded audio (paired comparison).

Outputs: ``robustness.json``, ``robustness.md`` (degradation x strength -> window / clip
accuracy with the change against clean) and ``robustness.png`` (accuracy against strength,
one line per degradation).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_genre.audio import load_audio
from edge_genre.classifier import SILENCE_DBFS, rms_dbfs
from edge_genre.config import FeatureConfig
from edge_genre.evaluation import score
from edge_genre.dsp import window_features
from edge_genre.errors import AudioError, ConfigError, EdgeGenreError

from . import degrade
from .dataset import clip_windows
from .export import load_keras_model, read_run_json

CAVEAT = ("Caveat: in gtzan-mini several genres are a single artist (blues: John Lee Hooker, reggae: Bob Marley, "
          "rock: Morphine, classical: Bach), so clip-grouped validation still shares artists between train and "
          "test: these figures are not accuracy on unseen music.")
ARTIST_NOTE = ("Protocol: artist-grouped (no artist of a held-out song was heard in training): these figures are "
               "accuracy on music by unseen artists.")


def caveat_for(run_dirs: list[Path | None]) -> str:
    """The protocol sentence of a report: artist-grouped runs say so, anything else gets the caveat."""
    from .splits import protocol

    splits = set()
    for d in run_dirs:
        if d is None:
            return CAVEAT
        splits.add((read_run_json(d).get("fit_config") or {}).get("split"))
    return ARTIST_NOTE if splits and all(protocol(s) == "artist-grouped" for s in splits) else CAVEAT
TARGET_POINTS = 5.0  # the target: within 5 points of clean at each moderate strength


def within_points(delta_points: float, limit_points: float) -> bool:
    """Whether a change of ``delta_points`` (negative: a loss) stays within ``limit_points``.

    A loss of exactly the limit is within it: 0.75 - 0.80 is -5.000000000000004 points in floating
    point, one clip of 20, and must not read as a miss."""
    return delta_points >= -limit_points - 1e-6


class RobustnessError(EdgeGenreError):
    """A target or data set the robustness report cannot use."""


@dataclass(frozen=True)
class Condition:
    name: str  # "clean" or a degradation name
    strength: float | None = None

    @property
    def key(self) -> str:
        return "clean" if self.name == "clean" else f"{self.name}@{self.strength:g}"

    @property
    def moderate(self) -> bool:
        return self.name != "clean" and degrade.get(self.name).moderate == self.strength

    def label(self) -> str:
        return "clean" if self.name == "clean" else degrade.get(self.name).format(self.strength)


def conditions_for(names: list[str] | None = None, moderate_only: bool = False) -> list[Condition]:
    """Clean plus every strength of each degradation (default: the capture degradations)."""
    conds = [Condition("clean")]
    for name in names or degrade.CAPTURE:
        d = degrade.get(name)
        conds += [Condition(name, d.moderate)] if moderate_only else [Condition(name, float(s)) for s in d.grid]
    return conds


# ----------------------------------------------------------------------------- degraded features

def _clip_conditions(y: np.ndarray, clip_id: str, config: FeatureConfig, conditions: list[tuple[str, str, float | None]],
                     seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for key, name, strength in conditions:
        if name == "clean":
            z = y
        else:
            z = degrade.get(name).fn(y, config.sample_rate, strength, degrade.rng_for("robustness", clip_id, key, seed=seed))
        windows = clip_windows(z, config)
        silent = np.array([rms_dbfs(w) < SILENCE_DBFS for w in windows])
        out[key] = (np.stack([window_features(w, config) for w in windows]), silent)
    return out


def _features_worker(args):
    path, clip_id, config_dict, conditions, seed = args
    config = FeatureConfig.from_dict(config_dict)
    try:
        y = load_audio(path, sr=config.sample_rate)
        return clip_id, _clip_conditions(y, clip_id, config, conditions, seed), None
    except (AudioError, ConfigError) as exc:
        return clip_id, None, f"{clip_id}: {exc}"


def _cache_file(cache_dir: Path, config: FeatureConfig, seed: int, clip_id: str, path: str) -> Path:
    """``<cache>/<config+seed+version hash>/<clip id>-<audio path hash>.npz``."""
    tag = hashlib.sha1(f"{config.to_json()}|{degrade.DEGRADE_VERSION}|{seed}".encode()).hexdigest()[:12]
    where = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    return Path(cache_dir) / tag / f"{clip_id}-{where}.npz"


def degraded_features(clips: dict[str, Path], config: FeatureConfig, conditions: list[Condition], seed: int = 0,
                      workers: int | None = None, progress: bool = True, cache_dir: Path | None = None
                      ) -> tuple[dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], list[str]]:
    """clip id -> condition key -> (window features, silent mask); and the clips that failed."""
    from edge_genre.progress import track

    conds = [(c.key, c.name, c.strength) for c in conditions]
    result: dict[str, dict] = {}
    todo: dict[str, list] = {}
    for clip_id, path in clips.items():
        have = {}
        if cache_dir:
            f = _cache_file(cache_dir, config, seed, clip_id, str(path))
            if f.exists():
                with np.load(f) as data:
                    have = {k: (data[k + "__x"], data[k + "__silent"]) for k, _, _ in conds if k + "__x" in data}
        result[clip_id] = have
        missing = [c for c in conds if c[0] not in have]
        if missing:
            todo[clip_id] = missing
    jobs = [(str(clips[c]), c, config.to_dict(), missing, seed) for c, missing in todo.items()]
    failed = []
    workers = workers or min(2, os.cpu_count() or 1)
    # edge_genre.progress: in place on a terminal, a line every 10 s in a log; shown under --quiet too
    bar = dict(total=len(jobs), prefix="edge-genre train robustness", unit="clips", enabled=bool(jobs))
    desc = f"degraded features ({len(conds)} conditions)"
    if workers <= 1 or len(jobs) <= 1:
        results = track(map(_features_worker, jobs), desc, **bar)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        results = track(pool.map(_features_worker, jobs, chunksize=1), desc, **bar)
    try:
        for clip_id, feats, err in results:
            if err:
                failed.append(err)
                warnings.warn(f"robustness: skipping clip {err}", stacklevel=2)
                result.pop(clip_id, None)
                continue
            result[clip_id].update(feats)
            if cache_dir:
                f = _cache_file(cache_dir, config, seed, clip_id, str(clips[clip_id]))
                f.parent.mkdir(parents=True, exist_ok=True)
                arrays = {}
                for k, (x, s) in result[clip_id].items():
                    arrays[k + "__x"], arrays[k + "__silent"] = x, s
                tmp = f.with_suffix(".tmp.npz")
                np.savez(tmp, **arrays)
                os.replace(tmp, f)
    finally:
        if pool is not None:
            pool.shutdown()
    return result, failed


# ----------------------------------------------------------------------------- models

class Predictor:
    """Window probabilities from a Keras model or a .tflite through GenreClassifier."""

    def __init__(self, kind: str, path: Path, labels: tuple[str, ...], config: FeatureConfig, fn) -> None:
        self.kind, self.path, self.labels, self.config, self._fn = kind, Path(path), tuple(labels), config, fn

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._fn(x) if len(x) else np.zeros((0, len(self.labels)), np.float32)

    @classmethod
    def tflite(cls, path: Path) -> "Predictor":
        from edge_genre.classifier import GenreClassifier

        clf = GenreClassifier(path)
        return cls("tflite", path, clf.labels, clf.config, lambda x: clf.predict(x, calibrated=False))

    @classmethod
    def keras(cls, path: Path, labels, config: FeatureConfig) -> "Predictor":
        from .models import predict_batch

        model = load_keras_model(path)
        batch = predict_batch(config)

        def predict(x: np.ndarray) -> np.ndarray:  # eager calls: no tf.function tracing per model
            return np.concatenate([model(x[i : i + batch, ..., np.newaxis], training=False).numpy()
                                   for i in range(0, len(x), batch)])

        return cls("keras", path, labels, config, predict)


def evaluate_conditions(predictor: Predictor, feats: dict[str, dict], clip_labels: dict[str, int],
                        conditions: list[Condition]) -> dict[str, dict]:
    """Window and clip accuracy of one model for every condition (all clips predicted in one batch)."""
    clips = [c for c in clip_labels if c in feats]
    keys = [c.key for c in conditions]
    xs, meta = [], []
    for key in keys:
        for clip in clips:
            x, silent = feats[clip][key]
            xs.append(x)
            meta.append((key, clip, silent))
    probs = predictor.predict(np.concatenate(xs).astype(np.float32))
    # Scored by the runtime's rules (edge_genre.evaluation): a silent window is a miss that does not vote.
    rows: dict[str, dict[str, list]] = {k: {"probs": [], "y": [], "clip": [], "silent": []} for k in keys}
    pos = 0
    for key, clip, silent in meta:
        r = rows[key]
        r["probs"].append(probs[pos : pos + len(silent)])
        pos += len(silent)
        r["y"].append(np.full(len(silent), clip_labels[clip]))
        r["clip"].append(np.full(len(silent), clip, dtype=object))
        r["silent"].append(silent)
    out = {}
    for key, r in rows.items():
        s = score(*(np.concatenate(r[k]) if r[k] else np.zeros(0) for k in ("probs", "y", "clip", "silent")))
        out[key] = {"windows": s.windows, "windows_correct": s.windows_correct, "silent_windows": s.abstained_windows,
                    "clips": s.clips, "clips_correct": s.clips_correct,
                    "window_accuracy": s.windows_correct / max(s.windows, 1),
                    "clip_accuracy": s.clips_correct / max(s.clips, 1)}
    return out


# ----------------------------------------------------------------------------- targets

@dataclass
class FoldTarget:
    name: str
    run_dir: Path | None
    model_path: Path
    labels: tuple[str, ...]
    config: FeatureConfig
    clips: list[str]  # held-out clip ids


def _fold_dirs(run_dir: Path, folds: list[str] | None) -> list[Path]:
    if (run_dir / "run.json").exists():
        return [run_dir]
    subs = sorted((p.parent for p in run_dir.glob("fold*/run.json")), key=lambda p: int("".join(filter(str.isdigit, p.name)) or 0))
    if not subs:
        raise RobustnessError(f"{run_dir}: neither a run directory (run.json) nor a k-fold run (fold*/run.json)")
    if folds:
        wanted = {f if f.startswith("fold") else f"fold{f}" for f in folds}
        subs = [p for p in subs if p.name in wanted]
        if not subs:
            raise RobustnessError(f"{run_dir}: none of the folds {sorted(wanted)} exist")
    return subs


def _tflite_for(run_dir: Path, use: str, out_dir: Path) -> Path:
    for cand in (run_dir / f"model_{use}.tflite", run_dir / "export" / f"model_{use}.tflite"):
        if cand.exists():
            return cand
    from .export import export_run

    export_run(run_dir, out_dir / "export")
    return out_dir / "export" / f"model_{use}.tflite"


def run_targets(target: Path, use: str, out_dir: Path, folds: list[str] | None = None) -> list[FoldTarget]:
    target = Path(target)
    if target.suffix == ".tflite" or use == "tflite":
        if not target.is_file():
            raise RobustnessError(f"{target}: no such model")
        p = Predictor.tflite(target)
        return [FoldTarget("model", None, target, p.labels, p.config, [])]
    out = []
    for d in _fold_dirs(target, folds):
        run = read_run_json(d)
        config = FeatureConfig.from_dict(run["feature_config"])
        model = d / "model.keras" if use == "keras" else _tflite_for(d, use, Path(out_dir) / d.name)
        out.append(FoldTarget(d.name if d != target else "run", d, model, tuple(run["labels"]), config,
                              list(run["clips"]["test"])))
    return out


def _clip_sources(data_dir: Path | None, run_dir: Path | None) -> dict[str, tuple[Path, str]]:
    """clip id -> (audio path, genre), from a GTZAN folder or from the run's feature cache."""
    from .dataset import FeatureSet, discover_clips

    if data_dir is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clips, _ = discover_clips(Path(data_dir))
        return {c.clip_id: (c.path, c.genre) for c in clips}
    if run_dir is None:
        raise RobustnessError("--data DIR is needed to find the clips of a .tflite model")
    run = read_run_json(run_dir)
    fs = FeatureSet.load(Path(run["features"]))
    from .augment import clip_audio_paths

    paths = clip_audio_paths(fs)
    labels = fs.clip_labels
    return {c: (paths[c], fs.labels[labels[c]]) for c in paths}


def robustness(target: Path, out_dir: Path, data_dir: Path | None = None, use: str = "keras",
               folds: list[str] | None = None, names: list[str] | None = None, moderate_only: bool = False,
               clip_ids: list[str] | None = None, seed: int = 0, workers: int | None = None,
               cache_dir: Path | None = None, progress: bool = True) -> dict:
    """Evaluate ``target`` clean and degraded; writes robustness.json/.md/.png under ``out_dir``; returns the report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    conditions = conditions_for(names, moderate_only)
    targets = run_targets(target, use, out_dir, folds)
    per_fold = []
    sources_cache: dict = {}
    # degraded features of every fold's clips first (one process pool), then the models
    plan = []
    for t in targets:
        key = str(data_dir) if data_dir else str(t.run_dir)
        if key not in sources_cache:
            sources_cache[key] = _clip_sources(data_dir, t.run_dir)
        sources = sources_cache[key]
        wanted = clip_ids or t.clips or sorted(sources)
        unknown_genre = sorted({sources[c][1] for c in wanted if c in sources and sources[c][1] not in t.labels})
        if unknown_genre:
            warnings.warn(f"{t.name}: skipping clips of genres the model does not know: {', '.join(unknown_genre)}", stacklevel=2)
        missing = [c for c in wanted if c not in sources]
        if missing:
            raise RobustnessError(f"{t.name}: {len(missing)} held-out clips not found in the data (e.g. {missing[0]})")
        clips = {c: sources[c][0] for c in wanted if sources[c][1] in t.labels}
        if not clips:
            raise RobustnessError(f"{t.name}: no clips to evaluate")
        plan.append((t, clips, {c: t.labels.index(sources[c][1]) for c in clips}))
    by_config: dict[str, dict[str, Path]] = {}
    for t, clips, _ in plan:
        by_config.setdefault(t.config.to_json(), {}).update(clips)
    feats_by_config, failed = {}, []
    for cfg_json, clips in by_config.items():
        feats_by_config[cfg_json], f = degraded_features(clips, FeatureConfig.from_json(cfg_json), conditions, seed,
                                                        workers, progress, cache_dir)
        failed += f
    backend = None
    from edge_genre.progress import step

    for number, (t, clips, labels) in enumerate(plan, 1):
        step(f"evaluating {t.name} ({number}/{len(plan)}): {len(clips)} clips x {len(conditions)} conditions",
             prefix="edge-genre train robustness")
        if t.model_path.suffix == ".tflite":
            predictor = Predictor.tflite(t.model_path)
        else:
            predictor = Predictor.keras(t.model_path, t.labels, t.config)
        backend = predictor.kind
        res = evaluate_conditions(predictor, feats_by_config[t.config.to_json()], labels, conditions)
        per_fold.append({"fold": t.name, "model": str(t.model_path), "clips": len(labels), "results": res})
    report = summarize(per_fold, conditions)
    report.update({
        "target": str(target), "backend": backend, "use": use, "folds": [f["fold"] for f in per_fold],
        "n_folds": len(per_fold), "clips_per_fold": [f["clips"] for f in per_fold], "seed": seed,
        "feature_config": plan[0][0].config.to_dict(), "skipped_clips": failed,
        "caveat": caveat_for([t.run_dir for t, _, _ in plan]),
        "target_points": TARGET_POINTS, "per_fold": per_fold,
        "note": "window accuracy counts windows below the runtime's silence threshold "
                f"({SILENCE_DBFS:g} dBFS) as misses; clip = argmax of the mean of the non-silent windows",
    })
    write_outputs(report, out_dir)
    return report


# ----------------------------------------------------------------------------- report

def summarize(per_fold: list[dict], conditions: list[Condition]) -> dict:
    rows = []
    clean = {m: [f["results"]["clean"][m] for f in per_fold] for m in ("window_accuracy", "clip_accuracy")} \
        if "clean" in per_fold[0]["results"] else None
    for c in conditions:
        row = {"condition": c.key, "degradation": c.name, "strength": c.strength, "label": c.label(),
               "moderate": c.moderate}
        for m in ("window_accuracy", "clip_accuracy"):
            vals = np.array([f["results"][c.key][m] for f in per_fold])
            row[m + "_mean"], row[m + "_std"] = float(vals.mean()), float(vals.std())
            if clean is not None:
                delta = vals - np.array(clean[m])
                row[m.split("_")[0] + "_delta_mean"] = float(delta.mean())
                row[m.split("_")[0] + "_delta_std"] = float(delta.std())
        row["silent_windows"] = int(sum(f["results"][c.key]["silent_windows"] for f in per_fold))
        row["windows"] = int(sum(f["results"][c.key]["windows"] for f in per_fold))
        rows.append(row)
    moderate = [r for r in rows if r["moderate"]]
    worst = min((r["window_delta_mean"] for r in moderate), default=0.0) if clean is not None else None
    return {"conditions": rows, "moderate": {
        "rows": [r["condition"] for r in moderate],
        "worst_window_delta": worst,
        "worst_clip_delta": min((r["clip_delta_mean"] for r in moderate), default=0.0) if clean is not None else None,
        "within_target": bool(worst is not None and within_points(100 * worst, TARGET_POINTS))}}


def _pm(mean: float, std: float, n: int, signed: bool = False) -> str:
    v = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    return f"{v} ± {100 * std:.1f}" if n > 1 else v


def markdown(report: dict) -> str:
    n = report["n_folds"]
    fc = report["feature_config"]
    rows = report["conditions"]
    lines = [f"# Robustness of `{report['target']}`\n", f"**{report['caveat']}**\n",
             f"Backend: {report['backend']} ({report['use']}); "
             + (f"{n} folds, each fold's model on its own held-out clips ({', '.join(map(str, report['clips_per_fold']))} clips); "
                "mean ± std over folds. " if n > 1 else f"{report['clips_per_fold'][0]} held-out clips. ")
             + f"Features: {fc['kind']}, normalization `{fc['normalization']}`. Seed {report['seed']}. "
             + report["note"] + ".\n"]
    has_clean = "window_delta_mean" in rows[0]
    mod = [r for r in rows if r["moderate"]]
    if has_clean and mod:
        clean = rows[0]
        lines += [f"## At moderate strength (target: within {report['target_points']:g} points of clean)\n",
                  "| degradation | strength | window acc. (%) | Δ window | clip acc. (%) | Δ clip | window within target |",
                  "|---|---|---|---|---|---|---|",
                  f"| clean | - | {_pm(clean['window_accuracy_mean'], clean['window_accuracy_std'], n)} | | "
                  f"{_pm(clean['clip_accuracy_mean'], clean['clip_accuracy_std'], n)} | | |"]
        for r in mod:
            ok = within_points(100 * r["window_delta_mean"], report["target_points"])
            lines.append(f"| {r['degradation']} | {r['label']} | {_pm(r['window_accuracy_mean'], r['window_accuracy_std'], n)} | "
                         f"{_pm(r['window_delta_mean'], r['window_delta_std'], n, True)} | "
                         f"{_pm(r['clip_accuracy_mean'], r['clip_accuracy_std'], n)} | "
                         f"{_pm(r['clip_delta_mean'], r['clip_delta_std'], n, True)} | {'yes' if ok else 'no'} |")
        lines.append("")
    lines += ["## All strengths\n",
              "| degradation | strength | window acc. (%) | Δ window | clip acc. (%) | Δ clip | silent windows |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        dw = _pm(r["window_delta_mean"], r["window_delta_std"], n, True) if has_clean and r["degradation"] != "clean" else ""
        dc = _pm(r["clip_delta_mean"], r["clip_delta_std"], n, True) if has_clean and r["degradation"] != "clean" else ""
        star = " (moderate)" if r["moderate"] else ""
        label = "-" if r["degradation"] == "clean" else r["label"]
        lines.append(f"| {r['degradation']} | {label}{star} | {_pm(r['window_accuracy_mean'], r['window_accuracy_std'], n)} | "
                     f"{dw} | {_pm(r['clip_accuracy_mean'], r['clip_accuracy_std'], n)} | {dc} | "
                     f"{r['silent_windows']}/{r['windows']} |")
    lines += ["", "![robustness](robustness.png)", "", f"*{report['caveat']}*", ""]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    rows = report["conditions"]
    clean = next((r for r in rows if r["degradation"] == "clean"), None)
    names = list(dict.fromkeys(r["degradation"] for r in rows if r["degradation"] != "clean"))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, metric, title in ((axes[0], "window_accuracy", "window accuracy"), (axes[1], "clip_accuracy", "clip accuracy")):
        for name in names:
            rs = [r for r in rows if r["degradation"] == name]
            xs = list(range(0 if clean else 1, len(rs) + 1))
            means = ([clean[metric + "_mean"]] if clean else []) + [r[metric + "_mean"] for r in rs]
            stds = ([clean[metric + "_std"]] if clean else []) + [r[metric + "_std"] for r in rs]
            grid = ", ".join(r["label"].split()[0] for r in rs) + " " + degrade.get(name).unit
            ax.errorbar(xs, 100 * np.array(means), yerr=100 * np.array(stds) if report["n_folds"] > 1 else None,
                        marker="o", capsize=3, label=f"{name} ({grid.strip()})")
            for x, r in zip(xs[-len(rs):], rs):
                if r["moderate"]:
                    ax.plot(x, 100 * r[metric + "_mean"], marker="*", color="k", markersize=11, zorder=5)
        if clean:
            ax.axhline(100 * clean[metric + "_mean"] - report["target_points"], color="grey", ls=":", lw=1)
        ax.set_title(title)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("strength step (0 = clean; then each degradation's grid, mild to severe; * = moderate)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)" + (" (mean ± std over folds)" if report["n_folds"] > 1 else ""))
    axes[1].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Robustness: {Path(report['target']).name} ({report['backend']}, "
                 f"normalization {report['feature_config']['normalization']}); dotted: clean - {report['target_points']:g} pts",
                 fontsize=11)
    fig.text(0.5, 0.01, report["caveat"], ha="center", va="bottom", fontsize=7.5, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(report: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "robustness.json").write_text(json.dumps(report, indent=2))
    (out_dir / "robustness.md").write_text(markdown(report))
    plot(report, out_dir / "robustness.png")


def compare_markdown(reports: dict[str, dict], moderate_only: bool = True) -> str:
    """Several reports side by side (e.g. plain vs augmented recipes): one row per report, one column per
    condition, a window-accuracy and a clip-accuracy table; cells are mean ± std (Δ against clean)."""
    names = list(reports)
    first = reports[names[0]]
    conds = [r for r in first["conditions"] if r["degradation"] == "clean" or r["moderate"] or not moderate_only]
    head = "| recipe | " + " | ".join("clean" if c["degradation"] == "clean" else f"{c['degradation']} {c['label']}"
                                      for c in conds) + " | worst Δ |"
    lines = [f"Mean ± std over folds (%); (Δ) = change against the same model's clean accuracy. {first['caveat']}\n"]
    for metric, title in (("window", "Window accuracy"), ("clip", "Clip accuracy")):
        lines += [f"**{title}**\n", head, "|---|" + "---|" * (len(conds) + 1)]
        for n in names:
            rep, cells, deltas = reports[n], [], []
            for c in conds:
                r = next((x for x in rep["conditions"] if x["condition"] == c["condition"]), None)
                if r is None:
                    cells.append("")
                    continue
                cell = _pm(r[f"{metric}_accuracy_mean"], r[f"{metric}_accuracy_std"], rep["n_folds"])
                if r["degradation"] != "clean" and f"{metric}_delta_mean" in r:
                    cell += f" ({100 * r[f'{metric}_delta_mean']:+.1f})"
                    deltas.append(r[f"{metric}_delta_mean"])
                cells.append(cell)
            worst = f"{100 * min(deltas):+.1f}" if deltas else ""
            lines.append(f"| {n} | " + " | ".join(cells) + f" | {worst} |")
        lines.append("")
    return "\n".join(lines)


def target_markdown(reports: dict[str, dict], baseline: str, clean_points: float = 2.0,
                    degraded_points: float = 5.0) -> str:
    """The issue's target, recipe by recipe: clean accuracy at most ``clean_points`` below the
    ``baseline`` recipe's, and every moderate degradation at most ``degraded_points`` below the
    recipe's own clean accuracy (window and clip level, means over folds)."""
    if baseline not in reports:
        raise KeyError(f"baseline {baseline!r} is not one of the compared reports ({', '.join(reports)})")

    def clean(rep, metric):
        return next(r for r in rep["conditions"] if r["degradation"] == "clean")[f"{metric}_accuracy_mean"]

    lines = [f"Target: clean accuracy no more than {clean_points:g} points below `{baseline}`, every moderate "
             f"degradation within {degraded_points:g} points of the recipe's own clean accuracy.\n",
             "| recipe | clean Δ vs baseline (window / clip) | worst moderate Δ (window / clip) | meets target |",
             "|---|---|---|---|"]
    for name, rep in reports.items():
        verdict, cells = True, []
        for metric in ("window", "clip"):
            d_clean = 100 * (clean(rep, metric) - clean(reports[baseline], metric))
            deltas = [r[f"{metric}_delta_mean"] for r in rep["conditions"] if r["moderate"] and f"{metric}_delta_mean" in r]
            worst = 100 * min(deltas) if deltas else 0.0
            verdict &= within_points(d_clean, clean_points) and within_points(worst, degraded_points)
            cells.append((d_clean, worst))
        lines.append(f"| {name} | {cells[0][0]:+.1f} / {cells[1][0]:+.1f} | {cells[0][1]:+.1f} / {cells[1][1]:+.1f} | "
                     f"{'yes' if verdict else 'no'} |")
    return "\n".join(lines) + "\n"


def load_reports(items: list[str]) -> dict[str, dict]:
    """``NAME=PATH`` or ``PATH`` items (a robustness.json or its folder) -> reports by name."""
    reports = {}
    for item in items:
        name, sep, path = item.partition("=")
        path = Path(path if sep else name)
        if path.is_dir():
            path = path / "robustness.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no robustness.json (run 'edge-genre train robustness' first)")
        report = json.loads(path.read_text())
        if "conditions" not in report:
            raise ValueError(f"{path}: not a robustness report")
        reports[name if sep else path.parent.name] = report
    return reports
