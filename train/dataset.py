"""Dataset discovery (GTZAN or the user's own labels) and feature preparation.

Reads the Kaggle layout (``genres_original/<genre>/<genre>.NNNNN.wav``), the
original layout (``genres/<genre>/<genre>.NNNNN.au``) or any folder of
``<label>/<audio files>`` (the user's own labels: any names, two or more),
from one or several data roots, cuts every clip into consecutive non-overlapping windows and
computes the features with edge_genre's own front end (the same code the
device runs). Clips shorter than one window are padded, looped or skipped by
a policy (:data:`SHORT_POLICIES`). With an artist index (``GTZANindex.txt``:
``file ::: artist ::: title``) every window also knows its artist. The result
is a compressed NumPy cache that records the FeatureConfig, the short-clip
policy and the artist index it was made with.
"""

from __future__ import annotations

import json
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_genre.audio import load_audio
from edge_genre.config import FeatureConfig
from edge_genre.paths import read_bytes_limited, require_regular_file
from edge_genre.dsp import window_features
from edge_genre.errors import AudioError, ConfigError, EdgeGenreError
from edge_genre.model_io import RESERVED_LABELS  # outcomes of the runtime, never a label

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
CLIP_EXTENSIONS = (".wav", ".au", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
WINDOWS_PER_CLIP = 10  # as in both papers: ten 3-s windows of a 30-s clip
# What to do with a clip shorter than one window: zero-pad its end (what ``edge-genre classify`` does
# with a clip of 1 s up to one window, so training sees what the device sees), repeat it to the window's
# length, or leave it out.
SHORT_POLICIES = ("pad", "loop", "skip")
DEFAULT_SHORT_POLICY = "pad"
UNKNOWN_ARTIST = "?"  # prefix of the group of a clip whose artist the index does not name: its own group


MAX_LIST_BYTES = 64 * 2**20  # text inputs (artist index, clip and split lists)


class DatasetError(EdgeGenreError):
    """A data directory or feature cache that cannot be used."""


@dataclass(frozen=True)
class Clip:
    path: Path
    genre: str
    clip_id: str  # e.g. "blues.00012": identifies the clip across windows


def _has_audio(folder: Path) -> bool:
    return any(p.suffix.lower() in CLIP_EXTENSIONS and p.is_file() for p in folder.iterdir())


def genre_root(data_dir: Path, own_labels: bool = True) -> Path:
    """The folder holding one sub-folder per label: either GTZAN layout, or (with ``own_labels``)
    ``data_dir`` itself when it has sub-folders of audio files (the user's own labels)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such data directory")
    for candidate in (data_dir / "genres_original", data_dir / "genres", data_dir / "Data" / "genres_original"):
        if candidate.is_dir() and any((candidate / g).is_dir() for g in GTZAN_GENRES):
            return candidate
    if own_labels and any(p.is_dir() and not p.name.startswith(".") and _has_audio(p) for p in data_dir.iterdir()):
        return data_dir
    raise DatasetError(
        f"{data_dir}: no label folders found (expected <label>/<audio files>, e.g. GTZAN's genres_original/<genre>/; "
        f"audio: {', '.join(CLIP_EXTENSIONS)})"
    )


def discover_clips(data_dir: Path | list[Path], genres: tuple[str, ...] | None = None
                   ) -> tuple[list[Clip], tuple[str, ...]]:
    """List the clips of one or several data roots; returns (clips, labels in index order).

    Every sub-folder holding audio is a label (GTZAN's ten keep their usual order; other names
    follow in alphabetical order); ``genres`` restricts them. Folders without audio, files that are
    not audio, and a clip id met again in a later root (the same song in two folders; the first is
    kept) are reported with a warning each; reserved names, fewer than two labels, or no audio at
    all are errors.
    """
    roots = [genre_root(d) for d in (data_dir if isinstance(data_dir, (list, tuple)) else [data_dir])]
    names: list[str] = []
    for root in roots:
        for p in sorted(root.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            if not _has_audio(p):
                warnings.warn(f"{p}: no audio files ({', '.join(CLIP_EXTENSIONS)}); folder ignored", stacklevel=2)
            elif p.name not in names and (genres is None or p.name in genres):
                names.append(p.name)
    reserved = sorted(set(names) & set(RESERVED_LABELS))
    if reserved:
        raise DatasetError(f"label folders {reserved} use names reserved for the runtime's outcomes "
                           f"({', '.join(RESERVED_LABELS)}); rename them")
    known = tuple(g for g in GTZAN_GENRES if g in names) + tuple(sorted(n for n in names if n not in GTZAN_GENRES))
    clips: list[Clip] = []
    seen: dict[str, Path] = {}
    for root in roots:
        for genre in known:
            folder = root / genre
            if not folder.is_dir():
                continue
            others = [p.name for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")
                      and p.suffix.lower() not in CLIP_EXTENSIONS]
            if others:
                warnings.warn(f"{folder}: {len(others)} files that are not audio ignored "
                              f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''})", stacklevel=2)
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in CLIP_EXTENSIONS and path.is_file():
                    clip_id = path.stem if path.stem.startswith(genre) else f"{genre}.{path.stem}"
                    if clip_id in seen:
                        warnings.warn(f"{path}: clip {clip_id} is already read from {seen[clip_id]}; keeping that one",
                                      stacklevel=2)
                        continue
                    seen[clip_id] = path
                    clips.append(Clip(path, genre, clip_id))
    if not clips:
        raise DatasetError(f"{', '.join(map(str, roots))}: no audio clips in the label folders")
    present = tuple(g for g in known if any(c.genre == g for c in clips))
    if len(present) < 2:
        raise DatasetError(f"{', '.join(map(str, roots))}: one label ({', '.join(present)}); a classifier needs "
                           "at least two label folders")
    return clips, present


def read_artist_index(path: Path) -> dict[str, str]:
    """Clip id -> artist from an index of ``file ::: artist ::: title`` lines (Sturm's ``GTZANindex.txt``).

    Lines starting with ``#`` and lines without ``:::`` are ignored; an empty artist is left out
    (such clips count as an artist of their own when splitting).
    """
    path = Path(path)
    try:
        raw = read_bytes_limited(path, MAX_LIST_BYTES, DatasetError, "artist index")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the artist index ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    index = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#") or ":::" not in line:
            continue
        parts = [part.strip() for part in line.split(":::")]
        name = Path(parts[0]).name
        clip_id = name.rsplit(".", 1)[0] if name.lower().endswith(CLIP_EXTENSIONS) else name
        if clip_id and len(parts) > 1 and parts[1]:
            index[clip_id] = parts[1]
    if not index:
        raise DatasetError(f"{path}: no 'file ::: artist ::: title' lines")
    return index


def artist_groups(clip_ids: np.ndarray, index: dict[str, str]) -> np.ndarray:
    """The artist of each clip id; a clip the index does not name is a group of its own (``?<clip id>``)."""
    return np.asarray([index.get(str(c)) or f"{UNKNOWN_ARTIST}{c}" for c in clip_ids])


def _clip_windows(args: tuple[str, str, dict, str]) -> tuple[str, np.ndarray | None, str | None, bool]:
    """Worker: features of a clip's windows (or an error message), and whether the clip was short."""
    path, clip_id, config_dict, short = args
    config = FeatureConfig.from_dict(config_dict)
    try:
        y = load_audio(path, sr=config.sample_rate)
        return clip_id, clip_features(y, config, short), None, y.size < config.window_samples
    except (AudioError, ConfigError) as exc:
        message = str(exc)
        return clip_id, None, message if message.startswith(path) else f"{path}: {message}", False


class ShortClipError(AudioError):
    """A clip shorter than one window under the ``skip`` policy, or shorter than the runtime's minimum."""


def fit_to_window(y: np.ndarray, config: FeatureConfig, short: str = DEFAULT_SHORT_POLICY) -> np.ndarray:
    """A clip shorter than one window made one window long by ``short`` (pad / loop), or an error (skip).

    Clips of at least one window are returned unchanged. As in ``edge-genre classify``, a clip
    under :data:`edge_genre.classifier.MIN_CLIP_SECONDS` is refused whatever the policy.
    """
    from edge_genre.classifier import MIN_CLIP_SECONDS

    n = config.window_samples
    if y.size >= n:
        return y
    seconds = y.size / config.sample_rate
    if short not in SHORT_POLICIES:
        raise ValueError(f"unknown short-clip policy {short!r}; choose from {', '.join(SHORT_POLICIES)}")
    if short == "skip" or seconds < MIN_CLIP_SECONDS:
        why = "the short-clip policy is 'skip'" if short == "skip" else f"at least {MIN_CLIP_SECONDS:g} s is needed"
        raise ShortClipError(f"clip is {seconds:.2f} s long, shorter than one {config.window_seconds:g}-s window ({why})")
    if short == "loop":
        return np.resize(y, n)  # repeats the clip from its start
    return np.pad(y, (0, n - y.size))


def clip_windows(y: np.ndarray, config: FeatureConfig, max_windows: int | None = WINDOWS_PER_CLIP,
                 short: str = DEFAULT_SHORT_POLICY) -> list[np.ndarray]:
    """Consecutive non-overlapping windows of a clip (a 30-s GTZAN clip gives 10); a clip shorter
    than one window gives one, made by the ``short`` policy (:func:`fit_to_window`)."""
    y = fit_to_window(y, config, short)
    n = config.window_samples
    count = y.size // n if max_windows is None else min(max_windows, y.size // n)
    return [y[i * n : (i + 1) * n] for i in range(count)]


def clip_features(y: np.ndarray, config: FeatureConfig, short: str = DEFAULT_SHORT_POLICY) -> np.ndarray:
    """Feature matrices of a clip's windows, ``(n_windows, frames, coefficients)`` float32."""
    return np.stack([window_features(w, config) for w in clip_windows(y, config, short=short)])


@dataclass
class FeatureSet:
    """Windows of a dataset: features, labels and which clip each window came from."""

    x: np.ndarray  # (n, frames, coeffs) float32
    y: np.ndarray  # (n,) int label index
    clip: np.ndarray  # (n,) clip id strings
    labels: tuple[str, ...]
    config: FeatureConfig
    source: str = ""
    clip_paths: dict[str, str] | None = None
    source_cache: str = ""  # path of the .npz this set was loaded from
    artist: np.ndarray | None = None  # (n,) artist of each window's clip (``?<clip>`` when unknown); None: no index
    short_policy: str = DEFAULT_SHORT_POLICY
    short_clips: int = 0  # clips shorter than one window that the policy padded or looped
    artist_index: str = ""  # path of the artist index the artists came from

    @property
    def clip_labels(self) -> dict[str, int]:
        return {c: int(l) for c, l in zip(self.clip, self.y)}

    def save(self, path: Path) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"labels": list(self.labels), "feature_config": self.config.to_dict(), "source": self.source,
                "clip_paths": self.clip_paths or {}, "short_policy": self.short_policy,
                "short_clips": self.short_clips, "artist_index": self.artist_index}
        arrays = {"x": self.x, "y": self.y, "clip": self.clip, "meta": np.array(json.dumps(meta))}
        if self.artist is not None:
            arrays["artist"] = self.artist
        np.savez_compressed(path, **arrays)
        self.source_cache = str(path.resolve())
        return path

    @classmethod
    def load(cls, path: Path, expect_config: FeatureConfig | None = None) -> "FeatureSet":
        path = Path(path)
        if path.is_dir():
            path = path / "features.npz"
        if not path.exists():
            raise DatasetError(f"{path}: no feature cache; create it with 'edge-genre train prepare'")
        require_regular_file(path, DatasetError, "feature cache")  # a FIFO or device would block np.load
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                fs = cls(x=data["x"], y=data["y"], clip=data["clip"], labels=tuple(meta["labels"]),
                         config=FeatureConfig.from_dict(meta["feature_config"]), source=meta.get("source", ""),
                         clip_paths=meta.get("clip_paths") or None,
                         artist=data["artist"] if "artist" in data.files else None,
                         short_policy=meta.get("short_policy", DEFAULT_SHORT_POLICY),
                         short_clips=int(meta.get("short_clips", 0)), artist_index=meta.get("artist_index", ""))
        except (KeyError, ValueError, OSError) as exc:
            raise DatasetError(f"{path}: not an edge-genre feature cache ({exc})") from None
        if expect_config is not None and fs.config != expect_config:
            raise DatasetError(
                f"{path}: feature cache was made with a different FeatureConfig ({fs.config.to_json()}); "
                f"expected {expect_config.to_json()}. Re-run 'edge-genre train prepare'."
            )
        fs.source_cache = str(path.resolve())
        if fs.x.shape[1:] != fs.config.feature_shape:
            raise DatasetError(f"{path}: features have shape {fs.x.shape[1:]}, config says {fs.config.feature_shape}")
        # A damaged or hand-edited cache must fail here, not as a NaN loss after hours of training.
        if not np.issubdtype(fs.x.dtype, np.floating) or not np.isfinite(fs.x).all():
            bad = int((~np.isfinite(fs.x)).any(axis=(1, 2)).sum()) if np.issubdtype(fs.x.dtype, np.floating) else 0
            raise DatasetError(f"{path}: {bad} windows hold NaN or infinite features; re-run 'edge-genre train prepare'")
        if len(fs.y) != len(fs.x) or len(fs.clip) != len(fs.x) or len(fs.x) == 0:
            raise DatasetError(f"{path}: {len(fs.x)} windows but {len(fs.y)} labels and {len(fs.clip)} clip ids")
        if fs.y.size and (fs.y.min() < 0 or fs.y.max() >= len(fs.labels)):
            raise DatasetError(f"{path}: labels outside 0-{len(fs.labels) - 1}")
        return fs

    @property
    def source_names(self) -> str:
        """The data roots by name (``gtzan-mini+gtzan-excerpts``), for a model's metadata."""
        names = []
        for root in (Path(part) for part in self.source.split(os.pathsep) if part):
            names.append(root.parent.name if root.name in ("genres_original", "genres") else root.name)
        return "+".join(names)

    def song_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One row per song (clip), in first-window order: (clip ids, label index, artist group).

        Without an artist index every song is its own group.
        """
        songs, first = np.unique(self.clip, return_index=True)
        order = np.argsort(first)
        songs, first = songs[order], first[order]
        groups = self.artist[first] if self.artist is not None else songs
        return songs, self.y[first], groups

    def to_paper_json(self, path: Path) -> None:
        """The papers' JSON layout: ``{"mapping": [...], "labels": [...], "mfcc": [...]}``."""
        with open(path, "w") as f:
            json.dump({"mapping": list(self.labels), "labels": self.y.tolist(), "mfcc": self.x.tolist()}, f)


def prepare_features(data_dir: Path | list[Path], config: FeatureConfig | None = None, workers: int | None = None,
                     progress: bool = True, short: str = DEFAULT_SHORT_POLICY, artist_index: Path | None = None
                     ) -> tuple[FeatureSet, list[str]]:
    """Compute the windows of every readable clip of one or several roots in parallel.

    Returns (features, messages about everything left out: folders, files, unreadable clips). ``short`` is the policy for clips shorter than one
    window; ``artist_index`` (``file ::: artist ::: title`` lines) gives every window its artist.
    """
    from edge_genre.progress import track

    config = config or FeatureConfig()
    if short not in SHORT_POLICIES:
        raise DatasetError(f"unknown short-clip policy {short!r}; choose from {', '.join(SHORT_POLICIES)}")
    index = read_artist_index(artist_index) if artist_index else None
    roots = list(data_dir) if isinstance(data_dir, (list, tuple)) else [data_dir]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips, labels = discover_clips(roots)
    notes = [str(w.message) for w in caught]  # ignored folders and files, duplicate songs: reported with the rest
    label_index = {g: i for i, g in enumerate(labels)}
    jobs = [(str(c.path), c.clip_id, config.to_dict(), short) for c in clips]
    workers = workers or os.cpu_count() or 1
    results: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    short_clips = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for clip_id, feats, err, was_short in track(pool.map(_clip_windows, jobs, chunksize=2), "features",
                                                    total=len(jobs), prefix="edge-genre train prepare",
                                                    enabled=progress, unit="clips"):
            if err:
                skipped.append(err)
                warnings.warn(f"skipping clip: {err}", stacklevel=2)
            else:
                results[clip_id] = feats
                short_clips += was_short
    if not results:
        raise DatasetError(f"{', '.join(map(str, roots))}: none of the {len(clips)} clips could be read")
    xs, ys, ids = [], [], []
    for c in clips:
        if c.clip_id in results:
            xs.append(results[c.clip_id])
            ys.extend([label_index[c.genre]] * len(results[c.clip_id]))
            ids.extend([c.clip_id] * len(results[c.clip_id]))
    # One root: paths relative to it (a moved data folder is found again with --data); several: absolute.
    sources = [str(genre_root(r).resolve()) for r in roots]
    if len(roots) == 1:
        paths = {c.clip_id: str(c.path.relative_to(genre_root(roots[0]))) for c in clips if c.clip_id in results}
    else:
        paths = {c.clip_id: str(c.path.resolve()) for c in clips if c.clip_id in results}
    clip = np.asarray(ids)
    fs = FeatureSet(np.concatenate(xs).astype(np.float32), np.asarray(ys, dtype=np.int64), clip,
                    labels, config, source=os.pathsep.join(sources), clip_paths=paths,
                    artist=artist_groups(clip, index) if index is not None else None, short_policy=short,
                    short_clips=short_clips, artist_index=str(Path(artist_index).resolve()) if artist_index else "")
    return fs, notes + skipped
