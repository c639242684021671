"""Training-set augmentation with capture degradations (the hook of :func:`train.fit.fit`).

For every training clip of a fold, the clip's audio is re-loaded (with the
runtime's :func:`edge_genre.audio.load_audio`), ``copies`` degraded versions
are made by random combinations of degradations from :mod:`train.degrade`,
and their windows are computed with edge_genre's own
:func:`edge_genre.dsp.window_features` under the feature set's FeatureConfig.
The augmented windows are appended to the fold's clean training windows;
validation and test windows are never read or changed.

A recipe is a list of *slots*; each slot is one degradation or a set of
alternatives (``noise-white|noise-pink``; a name given twice is picked twice as
often). For each copy every slot is used with probability ``p``, or with its
own probability when the slot ends in ``@P`` (``reverb@0.75``), at least one
slot per copy; one alternative is picked and its strength drawn from the
degradation's training range; the chosen
steps run in chain order (room, noise, microphone, gain, rate, file). The
random stream of a copy depends only on (seed, clip id, copy index), so
results do not depend on the fold, the order of work or the number of
processes, and copies of a clip are computed once and reused across folds.

Named recipes: ``robust`` (band-limit, noise of one colour, gain, reverb, mic
EQ) and ``paper`` (time-stretch, pitch-shift, Gaussian noise: the papers'
augmentations).
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_genre.audio import load_audio
from edge_genre.config import FeatureConfig
from edge_genre.errors import AudioError, ConfigError

from . import degrade
from .dataset import DEFAULT_SHORT_POLICY, DatasetError, FeatureSet, clip_features, fit_to_window
from .splits import Fold

RECIPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "robust": (("bandlimit",), ("noise-white", "noise-pink", "noise-babble"), ("gain",), ("reverb",), ("mic-eq",)),
    "paper": (("time-stretch",), ("pitch-shift",), ("noise",)),
}
DEFAULT_P = 0.5


@dataclass(frozen=True)
class AugmentRecipe:
    """What ``--augment SPEC --augment-copies K`` means."""

    spec: str
    slots: tuple[tuple[str, ...], ...]
    copies: int = 2
    p: float = DEFAULT_P
    seed: int = 0
    slot_p: tuple[float | None, ...] = ()  # per-slot probability (None or absent: ``p``)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["slots"] = ["|".join(s) for s in self.slots]
        d["slot_p"] = [self.probability(i) for i in range(len(self.slots))]
        return d

    def probability(self, slot: int) -> float:
        """How often slot ``slot`` is used in a copy."""
        own = self.slot_p[slot] if slot < len(self.slot_p) else None
        return self.p if own is None else own

    def sample_chain(self, rng: np.random.Generator) -> list[tuple[str, float]]:
        """The (name, strength) steps of one augmented copy."""
        used = [i for i in range(len(self.slots)) if rng.random() < self.probability(i)]
        if not used:
            used = [int(rng.integers(len(self.slots)))]
        steps = []
        for i in used:
            options = self.slots[i]
            name = options[int(rng.integers(len(options)))]
            steps.append((name, round(degrade.get(name).sample(rng), 4)))
        return steps


def parse_augment(spec: str, copies: int = 2, seed: int = 0, p: float = DEFAULT_P) -> AugmentRecipe:
    """``robust``, ``paper`` or a comma list of slots.

    A slot is a degradation name or alternatives ``a|b`` (one of a, b per copy),
    optionally ending in ``@P``, the probability that a copy uses the slot
    (default ``p``): ``"bandlimit,noise-white|noise-pink,reverb@0.75"``.
    """
    spec = spec.strip()
    if copies < 1:
        raise ValueError(f"augment copies must be at least 1, got {copies}")
    if spec in RECIPES:
        return AugmentRecipe(spec, RECIPES[spec], copies, p, seed)
    slots, slot_p = [], []
    for item in (i.strip() for i in spec.split(",")):
        if not item:
            continue
        names, _, prob = item.partition("@")
        if prob:
            try:
                value = float(prob)
            except ValueError:
                value = -1.0
            if not 0.0 < value <= 1.0:
                raise ValueError(f"slot {item!r} in --augment: the probability after '@' must be in (0, 1]")
            slot_p.append(value)
        else:
            slot_p.append(None)
        slot = tuple(n.strip() for n in names.split("|"))
        for name in slot:
            if name not in degrade.DEGRADATIONS:
                raise ValueError(f"unknown degradation {name!r} in --augment; choose from "
                                 f"{', '.join(list(RECIPES) + list(degrade.DEGRADATIONS))}")
        slots.append(slot)
    if not slots:
        raise ValueError("empty --augment spec")
    return AugmentRecipe(spec, tuple(slots), copies, p, seed, tuple(slot_p))


def augment_clip(y: np.ndarray, config: FeatureConfig, recipe: AugmentRecipe, clip_id: str,
                 short: str = DEFAULT_SHORT_POLICY) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
    """Windows ``(n, frames, coeffs)`` of the ``recipe.copies`` degraded copies of one clip, and their chains.

    A clip shorter than one window is first made one window long by the ``short`` policy, as its
    clean windows were, so that every copy has the clean clip's windows.
    """
    y = fit_to_window(y, config, short)
    feats, chains = [], []
    for copy in range(recipe.copies):
        rng = degrade.rng_for("augment", clip_id, copy, seed=recipe.seed)
        steps = recipe.sample_chain(rng)
        z = degrade.apply_chain(y, config.sample_rate, steps, rng)
        feats.append(clip_features(z, config, short))
        chains.append(steps)
    return np.concatenate(feats), chains


def _augment_worker(args) -> tuple[str, np.ndarray | None, list, str | None]:
    path, clip_id, config_dict, recipe_dict, short = args
    config = FeatureConfig.from_dict(config_dict)
    recipe = AugmentRecipe(recipe_dict["spec"], tuple(tuple(s.split("|")) for s in recipe_dict["slots"]),
                           recipe_dict["copies"], recipe_dict["p"], recipe_dict["seed"],
                           tuple(recipe_dict.get("slot_p", ())))
    try:
        y = load_audio(path, sr=config.sample_rate)
        feats, chains = augment_clip(y, config, recipe, clip_id, short)
        return clip_id, feats, chains, None
    except (AudioError, ConfigError) as exc:
        return clip_id, None, [], f"{clip_id}: {exc}"


def clip_audio_paths(fs: FeatureSet, data_dir: Path | None = None) -> dict[str, Path]:
    """Audio file of every clip of a feature set (``data_dir`` replaces the set's recorded source:
    each clip is looked up there as ``<genre>/<file name>``)."""
    if not fs.clip_paths:
        raise DatasetError("the feature cache records no clip paths; re-run 'edge-genre train prepare' to augment")
    if data_dir:
        from .dataset import genre_root

        root = genre_root(Path(data_dir))
        return {clip: root / Path(rel).parent.name / Path(rel).name for clip, rel in fs.clip_paths.items()}
    paths = {}
    for clip, rel in fs.clip_paths.items():
        path = Path(rel) if Path(rel).is_absolute() else Path(fs.source) / rel
        if not path.parent.is_dir():
            raise DatasetError(f"{path.parent}: the clips' folder (recorded in the feature cache) is missing; if the "
                               "data moved, give its new GTZAN folder with --data DIR (train fit, teacher, "
                               "robustness), or re-run 'edge-genre train prepare' there")
        paths[clip] = path
    return paths


class Augmenter:
    """``train_override`` for :func:`train.fit.fit`: clean training windows plus degraded copies.

    Attributes after a call: ``last_clips`` (clip id of every returned window, clean ones first),
    ``last_sources`` (the index in the feature set of the clean window each returned window was made
    from: a copy's windows map onto its clip's clean windows in order) and ``chains`` (clip id -> the
    degradation steps of each copy).
    """

    def __init__(self, fs: FeatureSet, recipe: AugmentRecipe, workers: int | None = None, progress: bool = True,
                 data_dir: Path | None = None) -> None:
        self.fs, self.recipe, self.progress = fs, recipe, progress
        self.workers = workers or min(2, os.cpu_count() or 1)
        self.paths = clip_audio_paths(fs, data_dir)
        self.cache: dict[str, np.ndarray] = {}
        self.chains: dict[str, list] = {}
        self.failed: dict[str, str] = {}
        self.last_clips: np.ndarray | None = None
        self.last_sources: np.ndarray | None = None

    def compute(self, clip_ids: list[str]) -> None:
        """Make the degraded windows of ``clip_ids`` not computed yet (in a process pool)."""
        from edge_genre.progress import Progress

        todo = [c for c in dict.fromkeys(clip_ids) if c not in self.cache and c not in self.failed]
        if not todo:
            return
        missing = [c for c in todo if c not in self.paths]
        if missing:
            raise DatasetError(f"no audio path recorded for clips {missing[:3]}")
        jobs = [(str(self.paths[c]), c, self.fs.config.to_dict(), self.recipe.to_dict(), self.fs.short_policy)
                for c in todo]
        # edge_genre.progress: in place on a terminal, a line every 10 s in a log (train's --quiet keeps it)
        bar = Progress(len(jobs), f"augmentation x{self.recipe.copies}", prefix="edge-genre train",
                       enabled=self.progress, unit="clips")
        with bar:
            if self.workers <= 1:
                for res in map(_augment_worker, jobs):
                    self._store(*res)
                    bar.update(1)
                return
            # spawn: the parent may already run TensorFlow threads, which do not survive fork() safely
            with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for res in pool.map(_augment_worker, jobs, chunksize=1):
                    self._store(*res)
                    bar.update(1)

    def _store(self, clip_id, feats, chains, err) -> None:
        if err:
            self.failed[clip_id] = err
            warnings.warn(f"augmentation skipped clip {err}", stacklevel=3)
        else:
            self.cache[clip_id] = feats
            self.chains[clip_id] = chains

    def __call__(self, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
        fs = self.fs
        train_clips = list(dict.fromkeys(fs.clip[fold.train].tolist()))
        self.compute(train_clips)
        labels = fs.clip_labels
        extra = [c for c in train_clips if c in self.cache]
        xs = [fs.x[fold.train]] + [self.cache[c] for c in extra]
        ys = [fs.y[fold.train]] + [np.full(len(self.cache[c]), labels[c], dtype=fs.y.dtype) for c in extra]
        clips = [fs.clip[fold.train]] + [np.full(len(self.cache[c]), c, dtype=fs.clip.dtype) for c in extra]
        self.last_clips = np.concatenate(clips)
        self.last_sources = np.concatenate([fold.train] + [np.resize(np.flatnonzero(fs.clip == c), len(self.cache[c]))
                                                           for c in extra])
        return np.concatenate(xs).astype(np.float32, copy=False), np.concatenate(ys)
