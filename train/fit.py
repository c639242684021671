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
from .splits import LEAKY_SPLITS, PROTOCOL_TEXT, Fold, fold_contents, make_folds, protocol


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
    weighting: str = "song"  # or "window": every training song weighs the same, whatever its window count
    distill: str | None = None  # teacher cache (train teacher --out) to learn from
    distill_alpha: float = 0.5  # share of the teacher's genre probabilities in the genre target
    distill_embedding: float = 1.0  # weight of the regression onto the teacher's (standardised) embedding
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
                logs = _genre_keys(logs or {})
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
                logs = _genre_keys(logs or {})
                key = (logs.get("val_accuracy", 0.0), -logs.get("val_loss", 0.0))
                if self.best is None or key > self.best:
                    self.best, self.best_epoch, self.weights = key, epoch, self.model.get_weights()

            def on_train_end(self, logs=None):
                if self.weights is not None:
                    self.model.set_weights(self.weights)

        return Best()


def _genre_keys(logs: dict) -> dict:
    """A distillation model's logs under the plain names: ``genre_accuracy`` -> ``accuracy``."""
    out = dict(logs)
    for prefix in ("", "val_"):
        if prefix + "genre_accuracy" in logs:
            out[prefix + "accuracy"] = logs[prefix + "genre_accuracy"]
    return out


def song_weights(clips: np.ndarray) -> np.ndarray:
    """Sample weights that make every song weigh the same (mean 1): a 30-s clip's ten windows and
    its copies count as much as a 3-s excerpt's one window and its copies."""
    _, inverse, counts = np.unique(clips, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return (w * len(w) / w.sum()).astype(np.float32)


@dataclass
class Targets:
    """What one fold's model is fitted to: the genre target (one-hot, or mixed with the teacher's
    probabilities), the teacher-embedding target and the sample weights, for training and validation."""

    y: np.ndarray
    weights: np.ndarray | None
    valid_y: np.ndarray
    embedding: np.ndarray | None = None
    valid_embedding: np.ndarray | None = None
    extra_x: np.ndarray | None = None  # teacher-labelled windows without a genre (mixes, unlabeled music)


def fold_targets(fs: FeatureSet, fold: Fold, cfg: FitConfig, y_train: np.ndarray, sources: np.ndarray,
                 teacher=None) -> Targets:
    """Targets of one fold. ``sources``: the clean window each training row comes from.

    With a teacher, the teacher cache's extra windows that the fold may use (unlabeled music, mixes
    of two of its training songs) join the training rows after them, each counted as a song of one
    window, with the teacher's genre probabilities as their whole genre target.
    """
    weights = song_weights(fs.clip[sources]) if cfg.weighting == "song" else None
    if not cfg.distill:
        return Targets(y_train, weights, fs.y[fold.valid])
    from .teacher import TeacherCache, fitted_regression, soft_targets

    teacher = teacher or TeacherCache.load(Path(cfg.distill), fs)
    n_classes = len(fs.labels)
    eye = np.eye(n_classes, dtype=np.float32)
    soft = np.full((len(fs.y), n_classes), np.nan, dtype=np.float32)
    soft[fold.train] = soft_targets(fs, teacher, fold.train, seed=cfg.seed)
    teacher_probs = soft[sources]
    missing = ~np.isfinite(teacher_probs).all(axis=1)
    teacher_probs[missing] = eye[y_train[missing]]
    y = (1 - cfg.distill_alpha) * eye[y_train] + cfg.distill_alpha * teacher_probs
    emb = teacher.embedding
    mean, std = np.nanmean(emb[fold.train], axis=0), np.nanstd(emb[fold.train], axis=0) + 1e-6
    standard = np.nan_to_num((emb - mean) / std)  # windows the teacher could not read: 0 (the mean)
    targets = Targets(y, weights, eye[fs.y[fold.valid]], standard[sources], standard[fold.valid])
    extra = teacher.extra
    rows = extra.usable_for(set(fs.clip[fold.train].tolist())) if extra is not None else np.zeros(0, int)
    if len(rows):
        probs = fitted_regression(fs, teacher, fold.train)(extra.embedding[rows])
        targets.y = np.concatenate([targets.y, probs])
        targets.embedding = np.concatenate([targets.embedding, (extra.embedding[rows] - mean) / std])
        clips = np.concatenate([fs.clip[sources], np.array([f"extra:{i}" for i in rows])])
        targets.weights = song_weights(clips) if cfg.weighting == "song" else None
        targets.extra_x = extra.x[rows]
    return targets


def _set_determinism(seed: int) -> None:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_fold(fs: FeatureSet, fold: Fold, cfg: FitConfig, out_dir: Path, progress: bool = True,
               x_train: np.ndarray | None = None, y_train: np.ndarray | None = None,
               sources: np.ndarray | None = None, teacher=None) -> dict:
    """Fit one model on ``fold`` and write its run directory; returns the metrics.

    ``x_train``/``y_train`` replace the training windows (e.g. augmented copies); ``sources`` then
    gives the clean window each of them was made from (its song, and its teacher outputs).
    ``teacher``: the run's loaded teacher cache (default: loaded from ``cfg.distill``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    _set_determinism(cfg.seed)
    x = fs.x[..., np.newaxis]
    xt = x[fold.train] if x_train is None else x_train[..., np.newaxis]
    yt = fs.y[fold.train] if y_train is None else y_train
    if sources is None:
        if x_train is not None and len(x_train) != len(fold.train):
            raise ValueError("sources are needed when the training windows are not the fold's own")
        sources = fold.train
    targets = fold_targets(fs, fold, cfg, yt, sources, teacher)
    if targets.extra_x is not None:
        xt = np.concatenate([xt, targets.extra_x[..., np.newaxis]])
    if cfg.model == "musicnn":
        model, history, train_seconds = _fit_musicnn_head(fs, xt, yt, targets, cfg, progress)
        ms_per_step, seconds_per_epoch, kept_epoch = None, None, None
    else:
        model, history, train_seconds, ms_per_step, seconds_per_epoch, kept_epoch = _fit_keras(
            fs, fold, cfg, x, xt, yt, targets, progress)
    return _finish_fold(fs, fold, cfg, out_dir, model, history, x, xt, targets, train_seconds, ms_per_step,
                        seconds_per_epoch, kept_epoch)


def _fit_musicnn_head(fs: FeatureSet, xt: np.ndarray, yt: np.ndarray, targets: Targets, cfg: FitConfig,
                      progress: bool):
    """The large model: the frozen musicnn backbone and a logistic-regression genre head fitted on the
    embeddings of the training windows (and their augmented copies), songs weighted as ``cfg`` says."""
    from . import large

    t0 = time.perf_counter()
    memo = large.shared_memo(fs.config.n_frames, progress)
    kernel, bias = large.fit_head(memo(xt), yt, len(fs.labels), targets.weights, seed=cfg.seed)
    # The saved backbone has its channels equalized for int8 on the fold's own training windows
    # (the same function in float; train/large.py).
    sample = xt[np.random.default_rng(cfg.seed).permutation(len(xt))[: large.EQUALIZE_WINDOWS]]
    backbone = large.build_backbone(fs.config.n_frames, weights=large.equalized_weights(
        large.checkpoint_weights(), large.equalization_scales(memo.backbone, sample)))
    return large.genre_model(backbone, kernel, bias), {}, time.perf_counter() - t0


def check_recipe(fs: FeatureSet, cfg: FitConfig) -> None:
    """Refuse a model that cannot read the feature cache, before any work."""
    if (cfg.model == "musicnn") != (fs.config.kind == "musicnn"):
        if cfg.model == "musicnn":
            raise DatasetError("--model musicnn reads musicnn's front end: prepare the cache with "
                               "'train prepare --kind musicnn'")
        raise DatasetError(f"a '--kind musicnn' cache is the large model's input: train it with --model musicnn, "
                           f"or prepare other features for --model {cfg.model}")
    if cfg.model == "musicnn" and cfg.distill:
        raise DatasetError("--model musicnn is the teacher's own backbone: --distill does not apply")


def _fit_keras(fs: FeatureSet, fold: Fold, cfg: FitConfig, x, xt, yt, targets: Targets, progress: bool):
    """Fit one of the Keras architectures (``crnn``, ``cnn``, ``lstm``) by gradient descent."""
    import tf_keras as keras

    from .models import build_model, with_embedding_head

    kwargs = {"lstm_units": cfg.lstm_units} if cfg.model == "crnn" else {}
    model = build_model(cfg.model, fs.config.feature_shape, len(fs.labels), dropout=cfg.dropout, **kwargs)
    genre_model = model
    if cfg.distill:
        model = with_embedding_head(model, targets.embedding.shape[1])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.lr),
                      loss={"genre": "categorical_crossentropy", "teacher_embedding": "mse"},
                      loss_weights={"genre": 1.0, "teacher_embedding": cfg.distill_embedding},
                      metrics={"genre": ["accuracy"]})
        fit_y = {"genre": targets.y, "teacher_embedding": targets.embedding}
        valid = (x[fold.valid], {"genre": targets.valid_y, "teacher_embedding": targets.valid_embedding})
    else:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.lr),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        fit_y, valid = targets.y, (x[fold.valid], targets.valid_y)
    bar = _EpochBar(cfg.epochs, f"{cfg.model} {fold.name}", progress)
    callbacks = [bar]
    if cfg.keep == "best":
        if not len(fold.valid):
            raise ValueError("--keep best needs a validation set, and this split has none")
        best = _BestWeights()
        callbacks.append(best)
    t0 = time.perf_counter()
    hist = model.fit(xt, fit_y, sample_weight=targets.weights, validation_data=valid, epochs=cfg.epochs,
                     batch_size=cfg.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    train_seconds = time.perf_counter() - t0
    steps_per_epoch = int(np.ceil(len(yt) / cfg.batch_size))
    steady = bar.epoch_times[1:] or bar.epoch_times
    ms_per_step = 1000 * float(np.median(steady)) / steps_per_epoch
    history = {k: [float(v) for v in vals] for k, vals in _genre_keys(hist.history).items()}
    kept_epoch = (best.best_epoch + 1) if cfg.keep == "best" else cfg.epochs
    # The genre output alone is what is evaluated, saved and exported.
    return genre_model, history, train_seconds, round(ms_per_step, 2), round(float(np.median(steady)), 3), kept_epoch


def _finish_fold(fs: FeatureSet, fold: Fold, cfg: FitConfig, out_dir: Path, model, history: dict, x, xt,
                 targets: Targets, train_seconds: float, ms_per_step, seconds_per_epoch, kept_epoch) -> dict:
    """Evaluate a fitted fold's model on its test side and write the fold's run directory."""
    from .models import predict_batch, trainable_parameters

    probs = model.predict(x[fold.test], batch_size=predict_batch(fs.config), verbose=0)
    metrics = reports.evaluate(probs, fs.y[fold.test], fs.clip[fold.test], fs.labels)
    metrics.update({
        "split": fold.name, "leaky_split": cfg.split in LEAKY_SPLITS, "protocol": protocol(cfg.split),
        "sizes": fold.sizes(), "training_rows": int(len(xt)),
        "teacher_extra_rows": 0 if targets.extra_x is None else int(len(targets.extra_x)),
        "trainable_parameters": trainable_parameters(model), "ms_per_step": ms_per_step,
        "seconds_per_epoch": seconds_per_epoch, "train_seconds": round(train_seconds, 1),
        "final_val_accuracy": history.get("val_accuracy", [None])[-1],
        "kept_epoch": kept_epoch,
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
    if history:  # the musicnn head is fitted in one go: no epochs to plot
        reports.plot_history(history, out_dir / "curves.png", title)
    (out_dir / "summary.md").write_text(run_summary(metrics, cfg, fs.labels))
    return metrics


def run_summary(m: dict, cfg: FitConfig, labels: tuple[str, ...]) -> str:
    leak = ("**Leaky split**: windows of one clip sit in train and test, so this overstates accuracy on unseen clips.\n\n"
            if m["leaky_split"] else f"Protocol: {PROTOCOL_TEXT[protocol(cfg.split)]}.\n\n")
    lines = [f"# {cfg.model} on split `{m['split']}`\n", leak,
             "| metric | value |", "|---|---|",
             f"| song accuracy (argmax of the mean of a song's windows) | {reports.pct(m['track_accuracy'])} % ({m['tracks']} songs) |",
             f"| window accuracy | {reports.pct(m['accuracy'])} % ({m['windows_correct']}/{m['windows']}) |",
             f"| loss | {m['loss']:.4f} |",
             f"| precision / recall / F1 (weighted) | {reports.pct(m['precision'])} / {reports.pct(m['recall'])} / {reports.pct(m['f1'])} |",
             f"| trainable parameters | {m['trainable_parameters']:,} |"]
    if cfg.model == "musicnn":
        lines += [f"| training | genre head (logistic regression) on the frozen musicnn embedding of "
                  f"{m['training_rows']} windows: {m['train_seconds']} s |"]
    else:
        lines += [f"| ms per training step (batch {cfg.batch_size}) | {m['ms_per_step']} |",
                  f"| training time | {m['train_seconds']} s ({cfg.epochs} epochs) |"]
    lines += ["", "| genre | precision | recall | F1 | AUC |", "|---|---|---|---|---|"]
    for name in labels:
        pc = m["per_class"].get(name, {})
        lines.append(f"| {name} | {pc.get('precision', 0):.2f} | {pc.get('recall', 0):.2f} | {pc.get('f1-score', 0):.2f} | "
                     f"{m['roc_auc'].get(name, float('nan')):.3f} |")
    lines += ["", "![confusion](confusion.png) ![roc](roc.png)", ""]
    if cfg.model != "musicnn":
        lines += ["![curves](curves.png)", ""]
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
    check_recipe(fs, cfg)
    if strata is None and cfg.stratify == "kmeans":
        from .kmeans import kmeans_strata

        strata = kmeans_strata(fs, seed=cfg.seed, min_count=max(5, cfg.folds))
    all_folds = make_folds(fs, cfg.split, seed=cfg.seed, k=cfg.folds, lists_dir=cfg.split_lists, strata=strata)
    folds = all_folds
    multi = len(folds) > 1
    if only_folds is not None:
        if not multi:
            raise DatasetError(f"--only-folds needs --split kfold or artist (split {cfg.split!r} has one fold)")
        wanted = set(only_folds)
        bad = sorted(wanted - set(range(len(folds))))
        if bad:
            raise DatasetError(f"--only-folds {','.join(map(str, bad))}: the folds are 0-{len(folds) - 1}")
        folds = [f for i, f in enumerate(folds) if i in wanted]
    teacher = None
    if cfg.distill:
        from .teacher import TeacherCache

        teacher = TeacherCache.load(Path(cfg.distill), fs)  # once per run, not once per fold
    from edge_genre.progress import step

    results = []
    for number, fold in enumerate(folds, 1):
        sub = out_dir / fold.name if multi else out_dir
        done = finished_fold(fs, cfg, sub) if resume else None
        if done is not None:
            print(f"{sub}: already trained with this recipe and features, kept (--resume)", file=sys.stderr)
            results.append(done)
            continue
        # A line per fold whatever --quiet says (it drops the per-epoch bars only): a long run shows life.
        name = f"fold {number}/{len(folds)} ({fold.name})" if multi else f"split {cfg.split}"
        t0 = time.monotonic()
        xt, yt = train_override(fold) if train_override else (None, None)
        sources = getattr(train_override, "last_sources", None) if train_override else None
        rows = len(fold.train) if xt is None else len(xt)
        step(f"{name}: training {cfg.model} on {rows} windows, {cfg.epochs} epochs ...", prefix="edge-genre train fit")
        result = train_fold(fs, fold, cfg, sub, progress, xt, yt, sources, teacher)
        results.append(result)
        step(f"{name}: song accuracy {100 * result['track_accuracy']:.1f} %, window accuracy "
             f"{100 * result['accuracy']:.1f} % ({time.monotonic() - t0:.0f} s)", prefix="edge-genre train fit")
    if not multi:
        return results[0]
    agg = aggregate(results, cfg, fs.labels)
    agg.update({"folds_run": [f.name for f in folds], "folds_total": cfg.folds,
                "fold_contents": fold_contents(fs, all_folds) if fs.artist is not None else None,
                "data": dataset_facts(fs)})
    (out_dir / "metrics.json").write_text(json.dumps(agg, indent=2))
    (out_dir / "summary.md").write_text(kfold_summary(agg, cfg))
    return agg


def dataset_facts(fs: FeatureSet) -> dict:
    """What a run was trained and tested on: roots, songs, windows, short-clip policy, artist index."""
    songs, _, groups = fs.song_table()
    return {"sources": fs.source_names, "songs": int(len(songs)), "windows": int(len(fs.y)),
            "short_policy": fs.short_policy, "short_clips": fs.short_clips, "artist_index": fs.artist_index,
            "artists": len(set(groups.tolist())) if fs.artist is not None else None}


def pooled_song_recall(results: list[dict], labels: tuple[str, ...]) -> dict:
    """Per-genre song recall and the song confusion matrix, pooled over the folds' test songs."""
    pairs = [tuple(v) for r in results for v in r.get("track_predictions", {}).values()]
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    for true, pred in pairs:
        confusion[true, pred] += 1
    totals = confusion.sum(axis=1)
    recall = {name: (float(confusion[i, i] / totals[i]) if totals[i] else None) for i, name in enumerate(labels)}
    return {"song_recall": recall, "song_confusion": confusion.tolist(), "songs_tested": int(len(pairs)),
            "pooled_track_accuracy": float(np.trace(confusion) / max(1, len(pairs)))}


def aggregate(results: list[dict], cfg: FitConfig, labels: tuple[str, ...] = ()) -> dict:
    keys = ("accuracy", "track_accuracy", "loss", "precision", "recall", "f1")
    agg = {f"{k}_mean": float(np.mean([r[k] for r in results])) for k in keys}
    agg.update({f"{k}_std": float(np.std([r[k] for r in results])) for k in keys})
    agg.update({"folds": len(results), "per_fold": [{k: r[k] for k in (*keys, "sizes", "tracks") if k in r} for r in results],
                "leaky_split": cfg.split in LEAKY_SPLITS, "protocol": protocol(cfg.split), "split": cfg.split,
                "config": asdict(cfg)})
    if "trainable_parameters" in results[0]:  # a trained model (the teacher baseline has none of these)
        agg.update({"trainable_parameters": results[0]["trainable_parameters"],
                    "ms_per_step": (float(np.median([r["ms_per_step"] for r in results]))
                                    if results[0]["ms_per_step"] is not None else None),  # None: the musicnn head
                    "train_seconds": float(sum(r["train_seconds"] for r in results)),
                    "versions": results[0]["versions"]})
    if labels and all("track_predictions" in r for r in results):
        agg.update(pooled_song_recall(results, labels))
    return agg


def kfold_summary(agg: dict, cfg: FitConfig) -> str:
    total = agg.get("folds_total", agg["folds"])
    grouping = "artist" if protocol(cfg.split) == "artist-grouped" else "clip"
    scope = (f"{total}-fold cross-validation, grouped by {grouping}" if agg["folds"] == total else
             f"{agg['folds']} of the {total} folds of a cross-validation grouped by {grouping} "
             f"({', '.join(agg['folds_run'])}; a screening run, not the full estimate)")
    data = agg.get("data") or {}
    lines = [f"# {cfg.model}: {scope}\n",
             f"Protocol: {PROTOCOL_TEXT[protocol(cfg.split)]}. Mean ± standard deviation over folds; "
             "song accuracy (argmax of the mean window probabilities of a song) is the headline.\n"]
    if data:
        lines.append(f"Data: {data['sources']}, {data['songs']} songs, {data['windows']} windows"
                     + (f", {data['short_clips']} songs shorter than a window ({data['short_policy']})" if data["short_clips"] else "")
                     + (f", {data['artists']} artist groups" if data.get("artists") else "") + ".\n")
    lines += ["| metric | mean ± std (%) |", "|---|---|"]
    for k, name in (("track_accuracy", "song accuracy"), ("accuracy", "window accuracy"), ("precision", "precision"),
                    ("recall", "recall"), ("f1", "f1")):
        lines.append(f"| {name} | {100 * agg[k + '_mean']:.2f} ± {100 * agg[k + '_std']:.2f} |")
    lines += ["", "| fold | song acc. | window acc. | test songs | test windows |", "|---|---|---|---|---|"]
    names = agg.get("folds_run") or [f"fold{i}" for i in range(agg["folds"])]
    for name, f in zip(names, agg["per_fold"]):
        lines.append(f"| {name.removeprefix('fold')} | {reports.pct(f['track_accuracy'])} | {reports.pct(f['accuracy'])} | "
                     f"{f.get('tracks', '-')} | {f['sizes']['test']} |")
    if agg.get("song_recall"):
        lines += ["", f"Per-genre song recall, pooled over the {agg['songs_tested']} test songs of all folds "
                      f"(pooled song accuracy {reports.pct(agg['pooled_track_accuracy'])} %):", "",
                  "| genre | song recall % |", "|---|---|"]
        lines += [f"| {g} | {'-' if r is None else reports.pct(r)} |" for g, r in agg["song_recall"].items()]
    contents = agg.get("fold_contents")
    if contents:
        genres = list(contents["artists_per_genre"])
        lines += ["", "What each fold tests: songs / artists per genre.", "",
                  "| fold | " + " | ".join(genres) + " |", "|---|" + "---|" * len(genres)]
        for row in contents["folds"]:
            lines.append(f"| {row['fold'].removeprefix('fold')} | "
                         + " | ".join(f"{row['test'][g]['songs']} / {row['test'][g]['artists']}" for g in genres) + " |")
        lines.append("| artists in all | " + " | ".join(str(contents["artists_per_genre"][g]) for g in genres) + " |")
        if contents["few_artists"]:
            lines.append(f"\n{', '.join(contents['few_artists'])}: fewer artists than folds, so some folds test "
                         "no song of that genre and the genre's figures rest on few artists.")
    return "\n".join(lines) + "\n"
