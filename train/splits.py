"""Train / validation / test splits over windows, with and without clip leakage.

- ``paper``: Setiorini et al.: random over windows, 80/20 then 75/25 (60/20/20).
  Windows of one clip land on both sides: optimistic figures.
- ``mirsepassi``: Mirsepassi: random over windows, 60/15/25 (also leaky).
- ``track``: stratified by genre, grouped by clip, 60/20/20: no clip on two sides.
- ``filtered``: the artist-conscious fault-filtered lists of Kereliuk, Sturm & Larsen.
- ``kfold``: k folds stratified by genre and grouped by clip; fold i is the test
  set, fold i+1 the validation set, the rest trains.
- ``holdout``: the ``n`` highest-numbered clips of each genre are the test set
  (the shipped model never sees them; CI validates on them), one more clip per
  genre validates, the rest trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import DatasetError, FeatureSet

SPLITS = ("paper", "mirsepassi", "track", "filtered", "kfold", "holdout")
LEAKY_SPLITS = ("paper", "mirsepassi")


@dataclass
class Fold:
    name: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size), "valid": int(self.valid.size), "test": int(self.test.size)}


def _random_windows(fs: FeatureSet, test_size: float, valid_of_rest: float, seed: int, name: str,
                    strata: np.ndarray | None = None) -> Fold:
    from sklearn.model_selection import train_test_split

    strata = fs.y if strata is None else strata
    idx = np.arange(len(fs.y))
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
    train, valid = train_test_split(rest, test_size=valid_of_rest, random_state=seed, stratify=strata[rest])
    return Fold(name, np.sort(train), np.sort(valid), np.sort(test))


def _grouped_folds(fs: FeatureSet, k: int, seed: int, strata: np.ndarray | None = None) -> list[np.ndarray]:
    """k disjoint sets of window indices, grouped by clip, stratified by genre (or by ``strata``)."""
    from sklearn.model_selection import StratifiedGroupKFold

    strata = fs.y if strata is None else strata
    fewest = min(len(set(fs.clip[fs.y == label].tolist())) for label in np.unique(fs.y))
    if fewest < k:
        raise DatasetError(f"cannot make {k} clip-grouped folds: a genre has only {fewest} clips")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(strata)), strata, groups=fs.clip)]


def kfold(fs: FeatureSet, k: int = 5, seed: int = 0, strata: np.ndarray | None = None) -> list[Fold]:
    folds = _grouped_folds(fs, k, seed, strata)
    out = []
    for i in range(k):
        test, valid = folds[i], folds[(i + 1) % k]
        train = np.concatenate([folds[j] for j in range(k) if j not in (i, (i + 1) % k)])
        out.append(Fold(f"fold{i}", np.sort(train), np.sort(valid), np.sort(test)))
    return out


def read_split_list(path: Path) -> set[str]:
    """Clip ids (``blues.00029``) from a list of paths like ``blues/blues.00029.wav``."""
    if not Path(path).exists():
        raise DatasetError(f"{path}: split list not found")
    return {Path(line.strip()).stem for line in Path(path).read_text().splitlines() if line.strip()}


def filtered(fs: FeatureSet, lists_dir: Path) -> Fold:
    """The fault-filtered split; clips in none of the lists are left out."""
    lists_dir = Path(lists_dir)
    members = {side: read_split_list(lists_dir / f"{side}_filtered.txt") for side in ("train", "valid", "test")}
    idx = {side: np.flatnonzero(np.isin(fs.clip, sorted(ids))) for side, ids in members.items()}
    empty = [side for side, i in idx.items() if i.size == 0]
    if empty:
        raise DatasetError(f"the fault-filtered split leaves no windows for: {', '.join(empty)} (of this dataset's clips)")
    return Fold("filtered", idx["train"], idx["valid"], idx["test"])


def holdout_clips(fs: FeatureSet, per_genre: int) -> list[str]:
    """The ``per_genre`` highest-numbered clips of each genre (e.g. blues.00008, blues.00009)."""
    chosen = []
    for label in range(len(fs.labels)):
        clips = sorted(set(fs.clip[fs.y == label].tolist()))
        if len(clips) <= per_genre + 1:
            raise DatasetError(f"genre {fs.labels[label]} has {len(clips)} clips; cannot hold out {per_genre} and keep some to train")
        chosen.extend(clips[-per_genre:])
    return chosen


def holdout(fs: FeatureSet, per_genre: int = 2) -> Fold:
    test_clips = holdout_clips(fs, per_genre)
    valid_clips = []
    for label in range(len(fs.labels)):
        rest = sorted(set(fs.clip[fs.y == label].tolist()) - set(test_clips))
        valid_clips.append(rest[-1])
    test = np.flatnonzero(np.isin(fs.clip, test_clips))
    valid = np.flatnonzero(np.isin(fs.clip, valid_clips))
    train = np.setdiff1d(np.arange(len(fs.y)), np.concatenate([test, valid]))
    return Fold("holdout", train, valid, test)


def make_folds(fs: FeatureSet, split: str, seed: int = 0, k: int = 5, lists_dir: Path | None = None,
               strata: np.ndarray | None = None) -> list[Fold]:
    """The folds of a named split (one fold except for ``kfold``).

    ``strata`` (one label per window) replaces the genre as the stratification
    variable, e.g. genre x K-means cluster for Mirsepassi's "with K-means" variant.
    """
    if split == "paper":
        return [_random_windows(fs, 0.2, 0.25, seed, "paper", strata)]
    if split == "mirsepassi":
        return [_random_windows(fs, 0.25, 0.2, seed, "mirsepassi", strata)]
    if split == "track":
        folds = _grouped_folds(fs, 5, seed, strata)
        return [Fold("track", np.sort(np.concatenate(folds[2:])), np.sort(folds[1]), np.sort(folds[0]))]
    if split == "filtered":
        if lists_dir is None:
            raise DatasetError("split 'filtered' needs --split-lists DIR (e.g. ../shared/data/gtzan-splits)")
        return [filtered(fs, lists_dir)]
    if split == "kfold":
        return kfold(fs, k, seed, strata)
    if split == "holdout":
        return [holdout(fs)]
    raise DatasetError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
