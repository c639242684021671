"""GTZAN discovery and feature preparation.

Reads the Kaggle layout (``genres_original/<genre>/<genre>.NNNNN.wav``) and
the original layout (``genres/<genre>/<genre>.NNNNN.au``), cuts every clip
into consecutive non-overlapping windows and computes the features with
edge_genre's own front end (the same code the device runs). The result is a
compressed NumPy cache that records the FeatureConfig it was made with.
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
from edge_genre.dsp import window_features
from edge_genre.errors import AudioError, ConfigError, EdgeGenreError

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
CLIP_EXTENSIONS = (".wav", ".au")
WINDOWS_PER_CLIP = 10  # as in both papers: ten 3-s windows of a 30-s clip


class DatasetError(EdgeGenreError):
    """A data directory or feature cache that cannot be used."""


@dataclass(frozen=True)
class Clip:
    path: Path
    genre: str
    clip_id: str  # e.g. "blues.00012": identifies the clip across windows


def genre_root(data_dir: Path) -> Path:
    """The folder holding one sub-folder per genre, for either GTZAN layout."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such data directory")
    for candidate in (data_dir / "genres_original", data_dir / "genres", data_dir / "Data" / "genres_original", data_dir):
        if candidate.is_dir() and any((candidate / g).is_dir() for g in GTZAN_GENRES):
            return candidate
    raise DatasetError(
        f"{data_dir}: no GTZAN genre folders found (expected genres_original/<genre>/ or genres/<genre>/ "
        f"with genres {', '.join(GTZAN_GENRES)})"
    )


def discover_clips(data_dir: Path, genres: tuple[str, ...] | None = None) -> tuple[list[Clip], tuple[str, ...]]:
    """List the clips of a GTZAN-style directory; returns (clips, genre labels in index order).

    Unknown sub-folders are reported with a warning and ignored; a directory
    without any audio is an error.
    """
    root = genre_root(data_dir)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = genres or GTZAN_GENRES
    unknown = [p.name for p in folders if p.name not in known]
    if unknown:
        warnings.warn(f"{root}: ignoring folders that are not genres: {', '.join(unknown)}", stacklevel=2)
    clips = []
    for genre in known:
        folder = root / genre
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in CLIP_EXTENSIONS and path.is_file():
                clip_id = path.stem if path.stem.startswith(genre) else f"{genre}.{path.stem}"
                clips.append(Clip(path, genre, clip_id))
    if not clips:
        raise DatasetError(f"{root}: no .wav or .au clips in the genre folders")
    present = tuple(g for g in known if any(c.genre == g for c in clips))
    return clips, present


def _clip_windows(args: tuple[str, str, dict]) -> tuple[str, np.ndarray | None, str | None]:
    """Worker: features of a clip's windows, or an error message."""
    path, clip_id, config_dict = args
    config = FeatureConfig.from_dict(config_dict)
    try:
        y = load_audio(path, sr=config.sample_rate)
        return clip_id, clip_features(y, config), None
    except (AudioError, ConfigError) as exc:
        message = str(exc)
        return clip_id, None, message if message.startswith(path) else f"{path}: {message}"


def clip_windows(y: np.ndarray, config: FeatureConfig, max_windows: int | None = WINDOWS_PER_CLIP) -> list[np.ndarray]:
    """Consecutive non-overlapping windows of a clip (a 30-s GTZAN clip gives 10)."""
    n = config.window_samples
    count = y.size // n if max_windows is None else min(max_windows, y.size // n)
    if count == 0:
        raise AudioError(f"clip is {y.size / config.sample_rate:.2f} s long, shorter than one {config.window_seconds:g}-s window")
    return [y[i * n : (i + 1) * n] for i in range(count)]


def clip_features(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Feature matrices of a clip's windows, ``(n_windows, frames, coefficients)`` float32."""
    return np.stack([window_features(w, config) for w in clip_windows(y, config)])


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


    @property
    def clip_labels(self) -> dict[str, int]:
        return {c: int(l) for c, l in zip(self.clip, self.y)}

    def save(self, path: Path) -> Path:
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"labels": list(self.labels), "feature_config": self.config.to_dict(), "source": self.source,
                "clip_paths": self.clip_paths or {}}
        np.savez_compressed(path, x=self.x, y=self.y, clip=self.clip, meta=np.array(json.dumps(meta)))
        self.source_cache = str(path.resolve())
        return path

    @classmethod
    def load(cls, path: Path, expect_config: FeatureConfig | None = None) -> "FeatureSet":
        path = Path(path)
        if path.is_dir():
            path = path / "features.npz"
        if not path.exists():
            raise DatasetError(f"{path}: no feature cache; create it with 'edge-genre train prepare'")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                fs = cls(x=data["x"], y=data["y"], clip=data["clip"], labels=tuple(meta["labels"]),
                         config=FeatureConfig.from_dict(meta["feature_config"]), source=meta.get("source", ""),
                         clip_paths=meta.get("clip_paths") or None)
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
        return fs

    def to_paper_json(self, path: Path) -> None:
        """The papers' JSON layout: ``{"mapping": [...], "labels": [...], "mfcc": [...]}``."""
        with open(path, "w") as f:
            json.dump({"mapping": list(self.labels), "labels": self.y.tolist(), "mfcc": self.x.tolist()}, f)


def prepare_features(data_dir: Path, config: FeatureConfig | None = None, workers: int | None = None,
                     progress: bool = True) -> tuple[FeatureSet, list[str]]:
    """Compute the windows of every readable clip in parallel; returns (features, skipped messages)."""
    from tqdm import tqdm

    config = config or FeatureConfig()
    clips, labels = discover_clips(data_dir)
    label_index = {g: i for i, g in enumerate(labels)}
    jobs = [(str(c.path), c.clip_id, config.to_dict()) for c in clips]
    workers = workers or os.cpu_count() or 1
    results: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for clip_id, feats, err in tqdm(pool.map(_clip_windows, jobs, chunksize=2), total=len(jobs),
                                        desc="features", unit="clip", disable=not progress):
            if err:
                skipped.append(err)
                warnings.warn(f"skipping unreadable clip: {err}", stacklevel=2)
            else:
                results[clip_id] = feats
    if not results:
        raise DatasetError(f"{data_dir}: none of the {len(clips)} clips could be read")
    xs, ys, ids = [], [], []
    for c in clips:
        if c.clip_id in results:
            xs.append(results[c.clip_id])
            ys.extend([label_index[c.genre]] * len(results[c.clip_id]))
            ids.extend([c.clip_id] * len(results[c.clip_id]))
    root = genre_root(data_dir)
    paths = {c.clip_id: str(c.path.relative_to(root)) for c in clips if c.clip_id in results}
    fs = FeatureSet(np.concatenate(xs).astype(np.float32), np.asarray(ys, dtype=np.int64), np.asarray(ids),
                    labels, config, source=str(Path(root).resolve()), clip_paths=paths)
    return fs, skipped
