"""edge_genre.evaluation: the one set of scoring rules (the runtime's)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_genre.classifier import GenreClassifier
from edge_genre.evaluation import clip_agreement, score, top1_agreement


def test_rules_silent_windows_are_misses_that_do_not_vote():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    y = np.array([0, 0, 0, 1, 1])
    clips = np.array(["a", "a", "a", "b", "b"])
    s = score(probs, y, clips)
    assert (s.windows, s.windows_correct, s.clips, s.clips_correct) == (5, 3, 2, 2)
    # window 0 silent: a miss, and clip a is then decided by windows 1-2 (mean 0.4 / 0.6 -> class 1)
    s = score(probs, y, clips, abstained=np.array([True, False, False, False, False]))
    assert s.windows_correct == 2 and s.abstained_windows == 1
    assert s.clip_predictions == {"a": (0, 1), "b": (1, 1)} and s.clip_accuracy == 0.5
    # a clip with no answered window is a miss
    s = score(probs, y, clips, abstained=np.array([False, False, False, True, True]))
    assert s.clip_predictions["b"] == (1, -1) and s.clips_correct == 1
    assert top1_agreement(probs, probs[:, ::-1]) == pytest.approx(0.2)  # only the exact tie agrees
    assert np.isnan(top1_agreement(probs, probs, abstained=np.ones(5, bool)))  # nothing answered
    assert clip_agreement(score(probs, y, clips), score(probs, y, clips)) == 1.0
    with pytest.raises(ValueError):
        score(probs[:3], y, clips)


def test_score_equals_what_classify_reports(rng):
    """A clip scored from its windows' raw outputs gets the genre classify prints (calibration on)."""
    clf = GenreClassifier("int8", music_threshold=0.0)
    sr = clf.config.sample_rate
    t = np.arange(10 * sr) / sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(t.size))
    res = clf.classify(y.astype(np.float32), sr, hop_seconds=1.0)
    probs = np.stack([w.raw_probabilities for w in res.windows])
    s = score(probs, np.zeros(len(probs), int), np.zeros(len(probs), int))
    assert clf.labels[s.clip_predictions["0"][1]] == res.genre
