"""Evaluation metrics, plots and markdown summaries of a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def evaluate(probs: np.ndarray, y_true: np.ndarray, clips: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Window- and track-level metrics (weighted precision/recall/F1 as in the paper).

    Window and track (clip) accuracy come from :func:`edge_genre.evaluation.score`: a track is the
    argmax of the mean window probabilities of its clip, as ``classify`` decides it.
    """
    from sklearn.metrics import classification_report, confusion_matrix, log_loss
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    n = len(labels)
    pred = probs.argmax(axis=1)
    p, r, f, _ = precision_recall_fscore_support(y_true, pred, average="weighted", zero_division=0)
    report = classification_report(y_true, pred, labels=range(n), target_names=list(labels), output_dict=True, zero_division=0)
    try:
        auc = {labels[i]: float(roc_auc_score(y_true == i, probs[:, i])) for i in range(n) if 0 < (y_true == i).sum() < len(y_true)}
    except ValueError:
        auc = {}
    from edge_genre.evaluation import score

    scores = score(probs, y_true, clips)  # the runtime's rules (edge_genre.evaluation)
    return {
        "accuracy": scores.window_accuracy,
        "loss": float(log_loss(y_true, np.clip(probs, 1e-7, 1), labels=list(range(n)))),
        "precision": float(p), "recall": float(r), "f1": float(f),
        "windows": scores.windows, "windows_correct": scores.windows_correct,
        "track_accuracy": scores.clip_accuracy, "tracks": scores.clips,
        # song (clip) -> [true, predicted] label index: pooled over folds for per-genre song recall
        "track_predictions": {c: [t, p_] for c, (t, p_) in sorted(scores.clip_predictions.items())},
        "per_class": {k: v for k, v in report.items() if k in labels},
        "roc_auc": auc,
        "confusion": confusion_matrix(y_true, pred, labels=range(n)).tolist(),
    }


def plot_confusion(confusion: list[list[int]], labels: tuple[str, ...], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc(probs: np.ndarray, y_true: np.ndarray, labels: tuple[str, ...], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, roc_curve

    fig, ax = plt.subplots(figsize=(6, 5.5))
    for i, name in enumerate(labels):
        positives = y_true == i
        if 0 < positives.sum() < len(y_true):
            fpr, tpr, _ = roc_curve(positives, probs[:, i])
            ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})", lw=1.2)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("accuracy", a1), ("loss", a2)):
        if key in history:
            ax.plot(history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def mean_std(values: list[float]) -> str:
    """``mean ± std`` in percent (population std over folds)."""
    arr = np.asarray(values, dtype=float) * 100
    return f"{arr.mean():.2f} ± {arr.std():.2f}"
