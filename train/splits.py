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
- ``artist``: k folds grouped by artist (no artist on two sides; needs a cache
  prepared with ``--artists``), stratified by genre over songs as far as the
  artists allow; fold i is the test set, about an eighth of the other artists
  validates, the rest trains. This is the protocol for music by artists the
  model has never heard.
- ``artist-holdout``: one split for a model to ship: per genre, songs of
  artists with few songs (at most three songs held out per genre) are the test
  set, two more per genre validate, the rest trains; no artist on two sides.

Every split has a protocol name (:func:`protocol`): ``window-leaky``,
``clip-grouped`` or ``artist-grouped``; every printed accuracy carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import DatasetError, FeatureSet

SPLITS = ("paper", "mirsepassi", "track", "filtered", "kfold", "holdout", "artist", "artist-holdout")
LEAKY_SPLITS = ("paper", "mirsepassi")
ARTIST_VALID_SHARE = 8  # the validation artists of an artist fold: 1/8 of the artists not under test
PROTOCOLS = {"paper": "window-leaky", "mirsepassi": "window-leaky", "track": "clip-grouped", "kfold": "clip-grouped",
             "holdout": "clip-grouped", "filtered": "artist-grouped", "artist": "artist-grouped",
             "artist-holdout": "artist-grouped"}
PROTOCOL_TEXT = {
    "window-leaky": "window-leaky (random split over windows: windows of one song on both sides)",
    "clip-grouped": "clip-grouped (no song on two sides, but artists may be)",
    "artist-grouped": "artist-grouped (no artist on two sides: music by artists never heard in training)",
}


def protocol(split: str) -> str:
    """The evaluation protocol of a split: ``window-leaky``, ``clip-grouped`` or ``artist-grouped``."""
    return PROTOCOLS.get(split, "clip-grouped")


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


def _song_folds(genre: np.ndarray, groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """k disjoint sets of song indices, grouped by ``groups``, stratified by ``genre`` as far as the groups allow."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups.tolist()))
    if n_groups < k:
        raise DatasetError(f"cannot make {k} artist-grouped folds from {n_groups} artists")
    if np.bincount(genre).max() < k:
        raise DatasetError(f"cannot make {k} artist-grouped folds: no genre has {k} songs")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits": reported in the summary
        return [test for _, test in splitter.split(np.zeros(len(genre)), genre, groups=groups)]


def artist_kfold(fs: FeatureSet, k: int = 5, seed: int = 0) -> list[Fold]:
    """k folds with no artist on two sides (see the module docstring), as window indices."""
    if fs.artist is None:
        raise DatasetError("split 'artist' needs artists: prepare the cache with --artists INDEX "
                           "(e.g. ../shared/data/gtzan-metadata/GTZANindex.txt)")
    songs, genre, groups = fs.song_table()
    song_folds = _song_folds(genre, groups, k, seed)
    window_of = {str(s): np.flatnonzero(fs.clip == s) for s in songs}

    def windows(song_idx: np.ndarray) -> np.ndarray:
        return np.sort(np.concatenate([window_of[str(songs[i])] for i in song_idx])) if len(song_idx) else np.zeros(0, int)

    out = []
    for i, test in enumerate(song_folds):
        rest = np.setdiff1d(np.arange(len(songs)), test)
        share = min(ARTIST_VALID_SHARE, len(set(groups[rest].tolist())), int(np.bincount(genre[rest]).max()))
        valid = rest[_song_folds(genre[rest], groups[rest], share, seed + 1 + i)[0]] if share >= 2 else rest[:0]
        train = np.setdiff1d(rest, valid)
        out.append(Fold(f"fold{i}", windows(train), windows(valid), windows(test)))
    return out


def _small_artists(songs_genre: np.ndarray, groups: np.ndarray, pool: np.ndarray, per_genre: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Song indices of ``pool`` by artists chosen at random among those with at most ``per_genre``
    songs, until each genre has ``per_genre`` songs (or no such artist is left); an artist chosen
    brings all of its songs in ``pool``."""
    chosen: set[str] = set()
    for g in np.unique(songs_genre[pool]):
        in_genre = pool[songs_genre[pool] == g]
        names, counts = np.unique(groups[in_genre], return_counts=True)
        small = [name for name, count in zip(names, counts) if count <= per_genre and name not in chosen]
        rng.shuffle(small)
        taken = int(np.isin(groups[in_genre], sorted(chosen)).sum())
        for name in small:
            if taken >= per_genre:
                break
            count = int(counts[names == name][0])
            if taken + count > per_genre:
                continue
            chosen.add(name)
            taken += count
    return pool[np.isin(groups[pool], sorted(chosen))]


def artist_holdout(fs: FeatureSet, per_genre: int = 3, seed: int = 0) -> Fold:
    """The split of a model to ship (see the module docstring)."""
    if fs.artist is None:
        raise DatasetError("split 'artist-holdout' needs artists: prepare the cache with --artists INDEX")
    songs, genre, groups = fs.song_table()
    rng = np.random.default_rng(seed)
    everything = np.arange(len(songs))
    test = _small_artists(genre, groups, everything, per_genre, rng)
    rest = np.setdiff1d(everything, np.flatnonzero(np.isin(groups, groups[test])))
    valid = _small_artists(genre, groups, rest, 2, rng)
    train = np.setdiff1d(rest, valid)

    def windows(idx: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(fs.clip, songs[idx]))

    return Fold("artist-holdout", windows(train), windows(valid), windows(test))


def fold_contents(fs: FeatureSet, folds: list[Fold]) -> dict:
    """What each fold's test side holds per genre (songs, artists), and the genres with fewer artists
    than folds (some folds then test that genre on few songs or none)."""
    songs, genre, groups = fs.song_table()
    rows = []
    for fold in folds:
        test_songs = set(fs.clip[fold.test].tolist())
        per_genre = {}
        for g, name in enumerate(fs.labels):
            mask = np.array([str(s) in test_songs for s in songs]) & (genre == g)
            per_genre[name] = {"songs": int(mask.sum()), "artists": len(set(groups[mask].tolist()))}
        rows.append({"fold": fold.name, "test": per_genre})
    artists = {name: len(set(groups[genre == g].tolist())) for g, name in enumerate(fs.labels)}
    return {"folds": rows, "artists_per_genre": artists,
            "few_artists": sorted(name for name, n in artists.items() if n < len(folds))}


def read_split_list(path: Path) -> set[str]:
    """Clip ids (``blues.00029``) from a list of paths like ``blues/blues.00029.wav``."""
    from edge_genre.paths import read_bytes_limited

    from .dataset import MAX_LIST_BYTES

    if not Path(path).exists():
        raise DatasetError(f"{path}: split list not found")
    text = read_bytes_limited(path, MAX_LIST_BYTES, DatasetError, "split list").decode("utf-8", "replace")
    return {Path(line.strip()).stem for line in text.splitlines() if line.strip()}


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
    if split == "artist":
        return artist_kfold(fs, k, seed)
    if split == "artist-holdout":
        return [artist_holdout(fs, seed=seed)]
    raise DatasetError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
