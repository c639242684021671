"""The accuracy stage: where the GTZAN data is, and int8 / float / Keras accuracy and agreement on the
model's held-out clips (scored by :mod:`edge_genre.evaluation`, as every other report is)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edge_genre.errors import AudioError, EdgeGenreError

from .common import REPO_ROOT, progress_bar, rnd


def find_gtzan_roots(data_dir: Path) -> list[Path]:
    """The GTZAN genre roots in ``data_dir`` (either layout): the folder itself, or every folder one
    level down that is one (gtzan-mini/ and gtzan-excerpts/ of the shared data folder)."""
    from train.dataset import DatasetError, genre_root

    try:
        return [genre_root(data_dir, own_labels=False)]
    except DatasetError as first_error:
        roots = []
        if data_dir.is_dir():
            for sub in sorted(p for p in data_dir.iterdir() if p.is_dir()):
                try:
                    roots.append(genre_root(sub, own_labels=False))
                except DatasetError:
                    continue
        if not roots:
            raise first_error
        return roots


def default_data_dir() -> Path | None:
    """``$EDGE_GENRE_DATA``, else ``../shared/data`` (from the working directory, then from the checkout).

    A ``$EDGE_GENRE_DATA`` that is not a directory is an error: the user asked for that data.
    """
    candidates = []
    if os.environ.get("EDGE_GENRE_DATA", "").strip():
        chosen = Path(os.environ["EDGE_GENRE_DATA"]).expanduser()
        if not chosen.is_dir():
            raise AudioError(f"EDGE_GENRE_DATA={os.environ['EDGE_GENRE_DATA']}: no such directory")
        return chosen
    candidates += [Path.cwd().parent / "shared" / "data", REPO_ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def empty_accuracy() -> dict[str, Any]:
    """The ``accuracy`` section of a run that did not measure it (every documented key present)."""
    acc = {"ran": False, "data_dir": None, "held_out": None, "n_clips": 0, "n_windows": 0}
    for kind in ("int8", "float", "keras"):
        acc[kind] = {"window": None, "clip": None}
    acc.update({"agreement_int8_float": None, "agreement_int8_keras": None, "agreement_float_keras": None,
                "int8_drop_pp": None, "note": None})
    return acc


def bench_accuracy(data_dir: Path, clf, clf_float, keras_model, max_clips: int | None, notes: list[str],
                   progress: bool = False) -> dict[str, Any]:
    """Window and clip accuracy and top-1 agreement of int8 / float / Keras on the model's held-out clips."""
    from edge_genre.audio import load_audio
    from train.dataset import clip_features, discover_clips

    acc = empty_accuracy()
    roots = find_gtzan_roots(Path(data_dir))
    root = ", ".join(map(str, roots))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a clip id in two roots: the first is used
        clips, _ = discover_clips(roots)
    held = clf.info.extra.get("held_out_clips") or (clf_float.info.extra.get("held_out_clips") if clf_float else None)
    if held:
        wanted = set(held)
        missing = wanted - {c.clip_id for c in clips}
        clips = [c for c in clips if c.clip_id in wanted]
        acc["held_out"] = True
        acc["note"] = f"held-out clips from the model metadata ({len(held)} listed, {len(missing)} not in {root})"
    else:
        acc["held_out"] = False
        acc["note"] = "the model lists no held_out_clips: accuracy is on (possibly) training data and therefore not meaningful"
        notes.append(acc["note"])
    label_index = {g: i for i, g in enumerate(clf.labels)}
    unknown = sorted({c.genre for c in clips if c.genre not in label_index})
    clips = [c for c in clips if c.genre in label_index]
    if unknown:
        notes.append(f"accuracy: clips of genres the model does not know skipped ({', '.join(unknown)})")
    if max_clips is not None:
        # Spread the subset over genres: round-robin by genre.
        by_genre: dict[str, list] = {}
        for c in clips:
            by_genre.setdefault(c.genre, []).append(c)
        order = [c for group in zip(*by_genre.values()) for c in group] if by_genre else []
        rest = [c for c in clips if c not in order]
        clips = (order + rest)[:max_clips]
    if not clips:
        acc["note"] = f"no usable clips in {root}"
        notes.append(f"accuracy skipped: {acc['note']}")
        return acc

    xs, ys, owner = [], [], []
    bar = progress_bar(len(clips), "accuracy: features", progress)
    for k, c in enumerate(clips):
        try:
            feats = clip_features(load_audio(c.path, sr=clf.config.sample_rate), clf.config)
        except EdgeGenreError as exc:
            notes.append(f"accuracy: skipped {c.clip_id} ({exc})")
            continue
        finally:
            bar.update(1)
        xs.append(feats)
        ys += [label_index[c.genre]] * len(feats)
        owner += [k] * len(feats)
    bar.close()
    if not xs:
        acc["note"] = "no clip could be read"
        return acc
    x, y, owner_arr = np.concatenate(xs), np.asarray(ys), np.asarray(owner)
    from edge_genre.evaluation import score, top1_agreement

    # Raw outputs, scored by the runtime's rules (edge_genre.evaluation), as every other report is.
    probs = {"int8": clf.predict(x, calibrated=False)}
    if clf_float is not None:
        probs["float"] = clf_float.predict(x, calibrated=False)
    if keras_model is not None:
        probs["keras"] = np.asarray(keras_model.predict(x[..., np.newaxis], verbose=0, batch_size=256))
    for kind, p in probs.items():
        scores = score(p, y, owner_arr)
        acc[kind] = {"window": rnd(scores.window_accuracy), "clip": rnd(scores.clip_accuracy)}
    for a, b in (("int8", "float"), ("int8", "keras"), ("float", "keras")):
        if a in probs and b in probs:
            acc[f"agreement_{a}_{b}"] = rnd(top1_agreement(probs[a], probs[b]))
    if acc["float"]["window"] is not None:
        acc["int8_drop_pp"] = rnd(100.0 * (acc["float"]["window"] - acc["int8"]["window"]), 3)
    acc.update({"ran": True, "data_dir": str(root), "n_clips": int(np.unique(owner_arr).size), "n_windows": int(y.size)})
    return acc
