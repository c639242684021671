"""Training runs: fit a model on a split, evaluate it, write the run directory.

A run directory holds ``metrics.json``, ``summary.md``, ``model.keras``,
``history.json``, ``run.json`` (what is needed to export and re-evaluate:
feature cache, labels, FeatureConfig, the clips of each side) and the plots
``confusion.png``, ``roc.png``, ``curves.png``. A k-fold run holds one such
directory per fold plus the aggregate ``metrics.json`` and ``summary.md``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


from . import reports
from .dataset import DatasetError, FeatureSet
from .splits import LEAKY_SPLITS, Fold, make_folds


@dataclass
class FitConfig:
    model: str = "crnn"
    dropout: bool = True
    lr: float = 1e-3
    epochs: int = 100
    batch_size: int = 32
    split: str = "paper"
    seed: int = 0
    folds: int = 5
    split_lists: str | None = None
    lstm_units: int = 64
    stratify: str = "genre"  # or "kmeans": genre x K-means cluster strata
    keep: str = "last"  # or "best": the weights of the epoch with the best validation accuracy
    extra: dict = field(default_factory=dict)


def library_versions() -> dict[str, str]:
    import sklearn
    import tensorflow as tf
    import tf_keras

    return {"python": platform.python_version(), "numpy": np.__version__, "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__, "scikit-learn": sklearn.__version__}


class _EpochBar:
    """A tqdm bar over epochs showing the latest metrics (a Keras callback)."""

    def __new__(cls, epochs: int, desc: str, enabled: bool):
        import tf_keras as keras
        from tqdm import tqdm

        class Bar(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not enabled, leave=False)
                self.epoch_times: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.epoch_times.append(time.perf_counter() - self._t0)
                logs = logs or {}
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")})
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return Bar()


class _BestWeights:
    """Keeps the weights of the epoch with the highest validation accuracy (ties: lower
    validation loss) and puts them back when training ends (a Keras callback)."""

    def __new__(cls):
        import tf_keras as keras

        class Best(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.best, self.best_epoch, self.weights = None, None, None

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                key = (logs.get("val_accuracy", 0.0), -logs.get("val_loss", 0.0))
                if self.best is None or key > self.best:
                    self.best, self.best_epoch, self.weights = key, epoch, self.model.get_weights()

            def on_train_end(self, logs=None):
                if self.weights is not None:
                    self.model.set_weights(self.weights)

        return Best()


def _set_determinism(seed: int) -> None:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_fold(fs: FeatureSet, fold: Fold, cfg: FitConfig, out_dir: Path, progress: bool = True,
               x_train: np.ndarray | None = None, y_train: np.ndarray | None = None) -> dict:
    """Fit one model on ``fold`` and write its run directory; returns the metrics.

    ``x_train``/``y_train`` replace the training windows (e.g. augmented copies).
    """
    import tf_keras as keras

    from .models import build_model, trainable_parameters

    out_dir.mkdir(parents=True, exist_ok=True)
    _set_determinism(cfg.seed)
    x = fs.x[..., np.newaxis]
    xt = x[fold.train] if x_train is None else x_train[..., np.newaxis]
    yt = fs.y[fold.train] if y_train is None else y_train
    kwargs = {"lstm_units": cfg.lstm_units} if cfg.model == "crnn" else {}
    model = build_model(cfg.model, fs.config.feature_shape, len(fs.labels), dropout=cfg.dropout, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    bar = _EpochBar(cfg.epochs, f"{cfg.model} {fold.name}", progress)
    callbacks = [bar]
    if cfg.keep == "best":
        if not len(fold.valid):
            raise ValueError("--keep best needs a validation set, and this split has none")
        best = _BestWeights()
        callbacks.append(best)
    t0 = time.perf_counter()
    hist = model.fit(xt, yt, validation_data=(x[fold.valid], fs.y[fold.valid]), epochs=cfg.epochs,
                     batch_size=cfg.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    train_seconds = time.perf_counter() - t0
    steps_per_epoch = int(np.ceil(len(yt) / cfg.batch_size))
    steady = bar.epoch_times[1:] or bar.epoch_times
    ms_per_step = 1000 * float(np.median(steady)) / steps_per_epoch

    probs = model.predict(x[fold.test], batch_size=256, verbose=0)
    metrics = reports.evaluate(probs, fs.y[fold.test], fs.clip[fold.test], fs.labels)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    metrics.update({
        "split": fold.name, "leaky_split": cfg.split in LEAKY_SPLITS, "sizes": fold.sizes(),
        "trainable_parameters": trainable_parameters(model), "ms_per_step": round(ms_per_step, 2),
        "seconds_per_epoch": round(float(np.median(steady)), 3), "train_seconds": round(train_seconds, 1),
        "final_val_accuracy": history.get("val_accuracy", [None])[-1],
        "kept_epoch": (best.best_epoch + 1) if cfg.keep == "best" else cfg.epochs,
        "config": asdict(cfg), "feature_config": fs.config.to_dict(), "versions": library_versions(),
    })
    model.save(out_dir / "model.keras")
    (out_dir / "history.json").write_text(json.dumps(history))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    run = {"features": fs.source_cache, "labels": list(fs.labels), "feature_config": fs.config.to_dict(),
           "model": cfg.model, "fit_config": asdict(cfg),
           "clips": {side: sorted(set(fs.clip[getattr(fold, side)].tolist())) for side in ("train", "valid", "test")},
           "windows": {side: getattr(fold, side).tolist() for side in ("train", "valid", "test")}}
    (out_dir / "run.json").write_text(json.dumps(run))
    title = f"{cfg.model} ({fold.name}, lr {cfg.lr:g}{'' if cfg.dropout else ', no dropout'})"
    reports.plot_confusion(metrics["confusion"], fs.labels, out_dir / "confusion.png", title)
    reports.plot_roc(probs, fs.y[fold.test], fs.labels, out_dir / "roc.png", title)
    reports.plot_history(history, out_dir / "curves.png", title)
    (out_dir / "summary.md").write_text(run_summary(metrics, cfg, fs.labels))
    return metrics


def run_summary(m: dict, cfg: FitConfig, labels: tuple[str, ...]) -> str:
    leak = ("**Leaky split**: windows of one clip sit in train and test, so this overstates accuracy on unseen clips.\n\n"
            if m["leaky_split"] else "Clip-grouped split: no clip has windows on two sides.\n\n")
    lines = [f"# {cfg.model} on split `{m['split']}`\n", leak,
             "| metric | value |", "|---|---|",
             f"| window accuracy | {reports.pct(m['accuracy'])} % ({m['windows_correct']}/{m['windows']}) |",
             f"| track accuracy | {reports.pct(m['track_accuracy'])} % ({m['tracks']} clips) |",
             f"| loss | {m['loss']:.4f} |",
             f"| precision / recall / F1 (weighted) | {reports.pct(m['precision'])} / {reports.pct(m['recall'])} / {reports.pct(m['f1'])} |",
             f"| trainable parameters | {m['trainable_parameters']:,} |",
             f"| ms per training step (batch {cfg.batch_size}) | {m['ms_per_step']} |",
             f"| training time | {m['train_seconds']} s ({cfg.epochs} epochs) |", "",
             "| genre | precision | recall | F1 | AUC |", "|---|---|---|---|---|"]
    for name in labels:
        pc = m["per_class"].get(name, {})
        lines.append(f"| {name} | {pc.get('precision', 0):.2f} | {pc.get('recall', 0):.2f} | {pc.get('f1-score', 0):.2f} | "
                     f"{m['roc_auc'].get(name, float('nan')):.3f} |")
    lines += ["", "![confusion](confusion.png) ![roc](roc.png)", "", "![curves](curves.png)", ""]
    return "\n".join(lines)


def finished_fold(fs: FeatureSet, cfg: FitConfig, fold_dir: Path) -> dict | None:
    """The metrics of a fold already trained in ``fold_dir`` with this exact recipe and feature
    cache (``--resume``), else ``None``."""
    try:
        run = json.loads((fold_dir / "run.json").read_text())
        metrics = json.loads((fold_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    same = (run.get("fit_config") == json.loads(json.dumps(asdict(cfg))) and run.get("features") == fs.source_cache
            and run.get("feature_config") == fs.config.to_dict() and (fold_dir / "model.keras").is_file())
    return metrics if same else None


def fit(fs: FeatureSet, cfg: FitConfig, out_dir: Path, progress: bool = True, strata: np.ndarray | None = None,
        train_override=None, only_folds: list[int] | None = None, resume: bool = False) -> dict:
    """Train on every fold of ``cfg.split``; a multi-fold run also writes aggregate metrics.

    ``train_override(fold) -> (x, y)`` may supply the training windows (augmentation).
    ``only_folds`` (indices, k-fold only) trains a subset of the folds: the same partition as the
    full run, aggregated over the folds trained. ``resume`` keeps folds already trained in
    ``out_dir`` with the same recipe and features instead of training them again.
    """
    out_dir = Path(out_dir)
    if strata is None and cfg.stratify == "kmeans":
        from .kmeans import kmeans_strata

        strata = kmeans_strata(fs, seed=cfg.seed, min_count=max(5, cfg.folds))
    folds = make_folds(fs, cfg.split, seed=cfg.seed, k=cfg.folds, lists_dir=cfg.split_lists, strata=strata)
    multi = len(folds) > 1
    if only_folds is not None:
        if not multi:
            raise DatasetError(f"--only-folds needs --split kfold (split {cfg.split!r} has one fold)")
        wanted = set(only_folds)
        bad = sorted(wanted - set(range(len(folds))))
        if bad:
            raise DatasetError(f"--only-folds {','.join(map(str, bad))}: the folds are 0-{len(folds) - 1}")
        folds = [f for i, f in enumerate(folds) if i in wanted]
    results = []
    for fold in folds:
        sub = out_dir / fold.name if multi else out_dir
        done = finished_fold(fs, cfg, sub) if resume else None
        if done is not None:
            print(f"{sub}: already trained with this recipe and features, kept (--resume)", file=sys.stderr)
            results.append(done)
            continue
        xt, yt = train_override(fold) if train_override else (None, None)
        results.append(train_fold(fs, fold, cfg, sub, progress, xt, yt))
    if not multi:
        return results[0]
    agg = aggregate(results, cfg)
    agg.update({"folds_run": [f.name for f in folds], "folds_total": cfg.folds})
    (out_dir / "metrics.json").write_text(json.dumps(agg, indent=2))
    (out_dir / "summary.md").write_text(kfold_summary(agg, cfg))
    return agg


def aggregate(results: list[dict], cfg: FitConfig) -> dict:
    keys = ("accuracy", "track_accuracy", "loss", "precision", "recall", "f1")
    agg = {f"{k}_mean": float(np.mean([r[k] for r in results])) for k in keys}
    agg.update({f"{k}_std": float(np.std([r[k] for r in results])) for k in keys})
    agg.update({"folds": len(results), "per_fold": [{k: r[k] for k in (*keys, "sizes")} for r in results],
                "trainable_parameters": results[0]["trainable_parameters"],
                "ms_per_step": float(np.median([r["ms_per_step"] for r in results])),
                "train_seconds": float(sum(r["train_seconds"] for r in results)),
                "leaky_split": results[0]["leaky_split"], "split": cfg.split, "config": asdict(cfg),
                "versions": results[0]["versions"]})
    return agg


def kfold_summary(agg: dict, cfg: FitConfig) -> str:
    total = agg.get("folds_total", agg["folds"])
    scope = (f"{total}-fold cross-validation, grouped by clip" if agg["folds"] == total else
             f"{agg['folds']} of the {total} folds of a cross-validation grouped by clip "
             f"({', '.join(agg['folds_run'])}; a screening run, not the full estimate)")
    lines = [f"# {cfg.model}: {scope}\n",
             "Mean ± standard deviation over folds; each fold's test clips are unseen in training.\n",
             "| metric | mean ± std (%) |", "|---|---|"]
    for k in ("accuracy", "track_accuracy", "precision", "recall", "f1"):
        lines.append(f"| {k.replace('_', ' ')} | {100 * agg[k + '_mean']:.2f} ± {100 * agg[k + '_std']:.2f} |")
    lines += ["", "| fold | window acc. | track acc. | test windows |", "|---|---|---|---|"]
    names = agg.get("folds_run") or [f"fold{i}" for i in range(agg["folds"])]
    for name, f in zip(names, agg["per_fold"]):
        lines.append(f"| {name.removeprefix('fold')} | {reports.pct(f['accuracy'])} | {reports.pct(f['track_accuracy'])} | {f['sizes']['test']} |")
    return "\n".join(lines) + "\n"
