"""Classify a file window by window as it is decoded: memory bounded by one window and one block.

:func:`classify_file` gives exactly :meth:`GenreClassifier.classify` of
:func:`edge_genre.audio.load_audio`'s signal (the same windows, the same silence gate and mean),
but never holds the whole signal: an hour of 48 kHz stereo costs what three seconds cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from .audio import iter_audio
from .classifier import MIN_CLIP_SECONDS, ClipResult, GenreClassifier
from .errors import AudioError
from .streaming import hop_frames_for


def classify_blocks(clf: GenreClassifier, blocks: Iterable[np.ndarray], hop_seconds: float | None = None) -> ClipResult:
    """Classify mono blocks at the model's rate; the windows of :func:`edge_genre.classifier.window_starts`.

    Windows start every hop (default: one window, non-overlapping) and are classified as soon as
    their last sample arrives; a clip shorter than one window (but at least
    :data:`MIN_CLIP_SECONDS`) is zero-padded to one window.
    """
    config = clf.config
    sr, n_window = config.sample_rate, config.window_samples
    hop = n_window if hop_seconds is None else hop_frames_for(hop_seconds, config) * config.hop_length
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = next_start = total = 0  # absolute sample indices
    windows = []
    for block in blocks:
        total += block.size
        buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
        while next_start + n_window <= buffer_start + buffer.size:
            offset = next_start - buffer_start
            windows.append(clf.classify_window(buffer[offset : offset + n_window], next_start / sr))
            next_start += hop
        drop = min(next_start - buffer_start, buffer.size)  # samples no future window needs
        if drop > 0:
            buffer, buffer_start = buffer[drop:].copy(), buffer_start + drop
    if total < MIN_CLIP_SECONDS * sr:
        raise AudioError(f"clip is {total / sr:.2f} s long; at least {MIN_CLIP_SECONDS:g} s is needed")
    if not windows:  # shorter than one window: the whole clip is still in the buffer
        windows.append(clf.classify_window(np.pad(buffer, (0, n_window - buffer.size)), 0.0))
    return clf.summarize(windows)


def classify_file(clf: GenreClassifier, path: str | os.PathLike, hop_seconds: float | None = None) -> ClipResult:
    """Decode, downmix, resample and classify ``path`` block by block (see :func:`classify_blocks`)."""
    return classify_blocks(clf, iter_audio(path, clf.config.sample_rate), hop_seconds)
