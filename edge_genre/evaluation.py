"""One definition of accuracy: the same held-out figure whichever command prints it.

``classify`` decides a clip as :meth:`GenreClassifier.summarize` does: the argmax of the mean of
its windows' (uncalibrated) probabilities, over the windows that have a genre. Every evaluation
of this project (``train fit``/``export`` reports, ``train robustness``, ``bench``, the shipped-model
tests) scores with :func:`score`, so that they follow the same rules:

- a window without a genre (silent, or not music: ``abstained``) counts as a miss at window
  level and does not vote for its clip;
- a clip whose windows all abstained is a miss;
- agreement between two models (:func:`top1_agreement`) is over the windows both answered.

Probabilities should be the model's raw outputs (``GenreClassifier.predict(x, calibrated=False)``):
calibration never changes a window's argmax, but a mean of tempered windows can differ from the
tempered mean of raw ones, which is what the runtime reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Scores:
    """Window- and clip-level results of one model on one set of windows."""

    windows: int
    windows_correct: int
    abstained_windows: int
    clips: int
    clips_correct: int
    clip_predictions: dict[str, tuple[int, int]] = field(default_factory=dict)  # clip -> (true, predicted; -1: none)

    @property
    def window_accuracy(self) -> float:
        return self.windows_correct / self.windows if self.windows else float("nan")

    @property
    def clip_accuracy(self) -> float:
        return self.clips_correct / self.clips if self.clips else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"windows": self.windows, "windows_correct": self.windows_correct,
                "abstained_windows": self.abstained_windows, "window_accuracy": self.window_accuracy,
                "clips": self.clips, "clips_correct": self.clips_correct, "clip_accuracy": self.clip_accuracy}


def score(probs: np.ndarray, y_true: np.ndarray, clips: np.ndarray, abstained: np.ndarray | None = None) -> Scores:
    """Score window probabilities ``(n, classes)`` against labels ``(n,)``, grouped by ``clips`` ``(n,)``.

    ``abstained`` ``(n,)`` marks windows that got no genre (silence, not music): misses that do
    not vote for their clip.
    """
    probs, y_true, clips = np.asarray(probs), np.asarray(y_true), np.asarray(clips)
    n = len(y_true)
    if probs.shape[0] != n or clips.shape[0] != n:
        raise ValueError(f"probs, labels and clips must have the same length, got {probs.shape[0]}, {n}, {clips.shape[0]}")
    abstained = np.zeros(n, bool) if abstained is None else np.asarray(abstained, bool)
    answered = ~abstained
    correct = answered & (probs.argmax(axis=1) == y_true) if n else np.zeros(0, bool)
    predictions: dict[str, tuple[int, int]] = {}
    for clip in dict.fromkeys(clips.tolist()):
        mask = clips == clip
        voiced = mask & answered
        truth = int(y_true[mask][0])
        predictions[str(clip)] = (truth, int(probs[voiced].mean(axis=0).argmax()) if voiced.any() else -1)
    return Scores(windows=n, windows_correct=int(correct.sum()), abstained_windows=int(abstained.sum()),
                  clips=len(predictions), clips_correct=sum(t == p for t, p in predictions.values()),
                  clip_predictions=predictions)


def top1_agreement(a: np.ndarray, b: np.ndarray, abstained: np.ndarray | None = None) -> float:
    """Share of windows on which two models' probabilities have the same argmax (answered windows only)."""
    a, b = np.asarray(a), np.asarray(b)
    keep = np.ones(len(a), bool) if abstained is None else ~np.asarray(abstained, bool)
    return float((a[keep].argmax(axis=1) == b[keep].argmax(axis=1)).mean()) if keep.any() else float("nan")


def clip_agreement(a: Scores, b: Scores) -> float:
    """Share of clips on which two models' clip decisions agree."""
    common = [c for c in a.clip_predictions if c in b.clip_predictions]
    if not common:
        return float("nan")
    return float(np.mean([a.clip_predictions[c][1] == b.clip_predictions[c][1] for c in common]))
