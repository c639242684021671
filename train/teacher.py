"""The teacher: a pretrained music model whose outputs the small CRNN learns from (training only).

The teacher is ``MSD_musicnn`` (J. Pons and X. Serra, "musicnn: pre-trained convolutional neural
networks for music audio tagging", ISMIR-LBD 2019; ISC licence), trained on the Million Song
Dataset; its checkpoint ships inside the ``musicnn`` wheel, which pins an old NumPy and is therefore
installed with ``pip install --no-deps musicnn==0.1.0``. Its graph is built with ``tf.compat.v1``
(tf-keras' legacy layers) in a graph of its own, so nothing else in the process changes mode.

Its input is computed by edge_genre's own front end (:class:`edge_genre.dsp.FrontEnd`): 16 kHz,
n_fft 512, hop 256, 96 Slaney mel bands, ``log10(10000 * mel + 1)`` over 187 frames (3 s), as
``musicnn.extractor`` does with librosa, except that the mel power stays in float32 (musicnn casts
it to float16, which overflows to ``inf`` on loud input).

For every window of a feature cache the teacher gives its 200-d penultimate embedding and its 50
MSD tag probabilities (:class:`TeacherCache`). The cache can also hold *extra* windows that have no
genre label, only the teacher's word: mixes of two windows of different songs and artists
(:func:`mixed_windows`: new inputs made from the training music), and windows of a folder of the
user's own unlabeled music (:func:`unlabeled_windows`). The *teacher baseline* of a split is a logistic
regression on the embeddings, fitted on each fold's training windows (:func:`teacher_baseline`);
:func:`soft_targets` gives each training window the genre probabilities of a regression that did
not see that window's artist (cross-fitting), which ``train fit --distill`` learns from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_genre.audio import load_audio, resample
from edge_genre.config import FeatureConfig
from edge_genre.dsp import FrontEnd

from .dataset import DatasetError, FeatureSet, clip_windows
from .splits import Fold

MODEL = "MSD_musicnn"
INPUT_CONFIG = FeatureConfig.musicnn()  # edge_genre's musicnn front end; its 3-s windows have one frame more
SAMPLE_RATE = INPUT_CONFIG.sample_rate  # 16 kHz, n_fft 512, hop 256, 96 mel bands
N_FRAMES = 187  # musicnn's 3-s patch: librosa.time_to_frames(3, sr=16000, hop_length=256, n_fft=512) + 1
EMBEDDING = "penultimate"
INSTALL_HINT = "the teacher needs musicnn: pip install --no-deps musicnn==0.1.0 (training only)"


class TeacherError(DatasetError):
    """The teacher cannot run, or a teacher cache does not match its feature cache."""


def teacher_input(window: np.ndarray, sample_rate: int) -> np.ndarray:
    """musicnn's input for one 3-s window at ``sample_rate``: ``(187, 96)`` float32
    ``log10(10000 * mel + 1)`` of the window resampled to 16 kHz (a shorter window is zero-padded)."""
    y = np.asarray(window, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        y = resample(y, sample_rate, SAMPLE_RATE)
    need = (N_FRAMES - 1) * INPUT_CONFIG.hop_length + 1
    if y.size < need:
        y = np.pad(y, (0, need - y.size))
    front = FrontEnd.for_config(INPUT_CONFIG)
    return front.finish(front.frames_db(front.padded_frames(y)))[:N_FRAMES]


class Musicnn:
    """MSD_musicnn restored from the checkpoint in the musicnn wheel, in a ``tf.compat.v1`` graph of its own."""

    def __init__(self, model: str = MODEL) -> None:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        try:
            import musicnn
            from musicnn import configuration, models
        except ImportError:
            raise TeacherError(INSTALL_HINT) from None
        import tensorflow as tf

        self.tags = list(configuration.MSD_LABELS if "MSD" in model else configuration.MTT_LABELS)
        checkpoint = Path(musicnn.__file__).parent / model
        if not (checkpoint / "checkpoint").is_file():
            raise TeacherError(f"{checkpoint}: no musicnn checkpoint there; reinstall: {INSTALL_HINT}")
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, INPUT_CONFIG.n_mels])
            with tf.name_scope("model"):
                is_training = tf.constant(False)
                logits, *_, penultimate = models.define_model(self.x, is_training, model, len(self.tags))
            self.outputs = [penultimate, tf.nn.sigmoid(logits)]
            self.session = tf.compat.v1.Session(graph=self.graph)
            tf.compat.v1.train.Saver().restore(self.session, str(checkpoint) + "/")
        self.model = model

    def __call__(self, inputs: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings ``(n, 200)`` and tag probabilities ``(n, 50)`` of inputs ``(n, 187, 96)``."""
        embeddings, tags = [], []
        for start in range(0, len(inputs), batch):
            e, t = self.session.run(self.outputs, feed_dict={self.x: inputs[start : start + batch]})
            embeddings.append(e)
            tags.append(t)
        return np.concatenate(embeddings).astype(np.float32), np.concatenate(tags).astype(np.float32)


def clip_teacher_inputs(path: Path, config: FeatureConfig, short: str) -> np.ndarray:
    """musicnn inputs of the same windows the feature cache holds for the clip at ``path``."""
    y = load_audio(path, sr=config.sample_rate)
    return np.stack([teacher_input(w, config.sample_rate) for w in clip_windows(y, config, short=short)])


@dataclass
class ExtraWindows:
    """Windows with teacher outputs but no genre label: mixes of two songs, or unlabeled music."""

    x: np.ndarray  # (m, frames, coeffs) student features, as the feature cache computes them
    embedding: np.ndarray  # (m, 200)
    tags: np.ndarray  # (m, 50)
    sources: np.ndarray  # (m, 2) clip ids a mix was made of; unlabeled: (file id, "")
    kind: np.ndarray  # (m,) "mix" or "unlabeled"

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> "ExtraWindows":
        return cls(np.zeros((0, *shape), np.float32), np.zeros((0, 200), np.float32), np.zeros((0, 50), np.float32),
                   np.zeros((0, 2), dtype=str), np.zeros(0, dtype="<U9"))

    def usable_for(self, train_clips: set[str]) -> np.ndarray:
        """Rows a fold may train on: unlabeled music, and mixes of two of its own training songs
        (a mix with a test song would leak that song into training)."""
        mix_ok = np.array([a in train_clips and b in train_clips for a, b in self.sources], dtype=bool)
        return np.flatnonzero((self.kind == "unlabeled") | ((self.kind == "mix") & mix_ok)) if len(self.kind) else \
            np.zeros(0, int)

    def __add__(self, other: "ExtraWindows") -> "ExtraWindows":
        return ExtraWindows(*(np.concatenate([a, b]) for a, b in zip(
            (self.x, self.embedding, self.tags, self.sources, self.kind),
            (other.x, other.embedding, other.tags, other.sources, other.kind))))


@dataclass
class TeacherCache:
    """Teacher outputs for every window of one feature cache, in the cache's window order, and
    optional extra windows (:class:`ExtraWindows`)."""

    embedding: np.ndarray  # (n, 200) float32
    tags: np.ndarray  # (n, 50) float32
    clip: np.ndarray  # (n,) clip ids, equal to the feature cache's
    tag_names: list[str]
    model: str
    features: str  # the feature cache these rows belong to
    extra: ExtraWindows | None = None

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"tag_names": self.tag_names, "model": self.model, "features": self.features}
        arrays = {"embedding": self.embedding, "tags": self.tags, "clip": self.clip, "meta": np.array(json.dumps(meta))}
        if self.extra is not None:
            arrays.update({f"extra_{k}": getattr(self.extra, k) for k in ("x", "embedding", "tags", "sources", "kind")})
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path, fs: FeatureSet | None = None) -> "TeacherCache":
        path = Path(path)
        if path.is_dir():
            path = path / "teacher.npz"
        if not path.is_file():
            raise TeacherError(f"{path}: no teacher cache; create it with 'edge-genre train teacher'")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                extra = (ExtraWindows(*(data[f"extra_{k}"] for k in ("x", "embedding", "tags", "sources", "kind")))
                         if "extra_x" in data.files else None)
                cache = cls(data["embedding"], data["tags"], data["clip"], meta["tag_names"], meta["model"], meta["features"],
                            extra)
        except (KeyError, ValueError, OSError) as exc:
            raise TeacherError(f"{path}: not an edge-genre teacher cache ({exc})") from None
        if fs is not None and (len(cache.clip) != len(fs.clip) or not np.array_equal(cache.clip, fs.clip)):
            raise TeacherError(f"{path}: teacher outputs were computed for another feature cache ({cache.features}); "
                               "re-run 'edge-genre train teacher' on this one")
        return cache


def compute_teacher(fs: FeatureSet, progress: bool = True, data_dir: Path | None = None) -> tuple[TeacherCache, list[str]]:
    """Run the teacher on every window of ``fs`` (re-reading each clip's audio). Returns the cache and
    the clips it could not read (their rows stay NaN and are never used)."""
    from tqdm import tqdm

    from .augment import clip_audio_paths

    teacher = Musicnn()
    paths = clip_audio_paths(fs, data_dir)
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    failed = []
    for song in tqdm(list(dict.fromkeys(fs.clip.tolist())), desc=f"teacher {MODEL}", unit="clip", disable=not progress):
        expected = int((fs.clip == song).sum())
        try:
            inputs = clip_teacher_inputs(paths[song], fs.config, fs.short_policy)
        except (OSError, DatasetError, ValueError) as exc:
            failed.append(f"{song}: {exc}")
            continue
        if len(inputs) != expected:
            failed.append(f"{song}: {len(inputs)} windows now, {expected} in the feature cache (audio changed?)")
            continue
        outputs[song] = teacher(inputs)
    if not outputs:
        raise TeacherError("the teacher could not read any clip: " + "; ".join(failed[:3]))
    dims = next(iter(outputs.values()))
    embedding = np.full((len(fs.clip), dims[0].shape[1]), np.nan, dtype=np.float32)  # rows of unread clips: NaN
    tags = np.full((len(fs.clip), dims[1].shape[1]), np.nan, dtype=np.float32)
    for song, (e, t) in outputs.items():
        rows = np.flatnonzero(fs.clip == song)
        embedding[rows], tags[rows] = e, t
    return TeacherCache(embedding, tags, fs.clip.copy(), teacher.tags, teacher.model, fs.source_cache), failed


def _label_windows(teacher: "Musicnn", windows: list[np.ndarray], config: FeatureConfig) -> tuple[np.ndarray, ...]:
    """Student features and teacher outputs of audio windows (at ``config.sample_rate``)."""
    from edge_genre.dsp import window_features

    x = np.stack([window_features(w, config) for w in windows])
    embedding, tags = teacher(np.stack([teacher_input(w, config.sample_rate) for w in windows]))
    return x, embedding, tags


def mixed_windows(fs: FeatureSet, count: int, seed: int = 0, progress: bool = True,
                  teacher: "Musicnn | None" = None) -> ExtraWindows:
    """``count`` mixes of two windows of different songs (and artists, when known), each source at a
    random level between -6 and 0 dB before the sum, the mix scaled to the louder source's peak.

    The teacher labels the mix; the student learns what the teacher says of it. Which songs a mix
    is made of is kept, so that a fold only trains on mixes of its own training songs.
    """
    from tqdm import tqdm

    from .augment import clip_audio_paths

    teacher = teacher or Musicnn()
    rng = np.random.default_rng(seed)
    paths = clip_audio_paths(fs)
    songs = np.array(list(dict.fromkeys(fs.clip.tolist())))
    artist_of = dict(zip(fs.clip.tolist(), (fs.artist if fs.artist is not None else fs.clip).tolist()))
    audio: dict[str, list[np.ndarray]] = {}

    def windows_of(song: str) -> list[np.ndarray]:
        if song not in audio:
            y = load_audio(paths[song], sr=fs.config.sample_rate)
            audio[song] = clip_windows(y, fs.config, short=fs.short_policy)
        return audio[song]

    mixes, sources = [], []
    bar = tqdm(total=count, desc="teacher mixes", unit="mix", disable=not progress)
    while len(mixes) < count:
        a, b = rng.choice(songs, 2, replace=False)
        if artist_of[a] == artist_of[b]:
            continue
        wa, wb = windows_of(a), windows_of(b)
        xa, xb = wa[rng.integers(len(wa))], wb[rng.integers(len(wb))]
        ga, gb = 10 ** (-rng.uniform(0, 6, 2) / 20)
        mix = ga * xa + gb * xb
        peak = max(np.abs(xa).max(), np.abs(xb).max())
        mix *= peak / max(np.abs(mix).max(), 1e-9)
        mixes.append(mix.astype(np.float32))
        sources.append((a, b))
        bar.update(1)
        if len(audio) > 64:  # bounded memory: forget decoded songs now and then
            audio.clear()
    bar.close()
    x, embedding, tags = _label_windows(teacher, mixes, fs.config)
    return ExtraWindows(x, embedding, tags, np.asarray(sources, dtype=str), np.full(count, "mix", dtype="<U9"))


def unlabeled_windows(folder: Path, config: FeatureConfig, short: str, progress: bool = True,
                      teacher: "Musicnn | None" = None) -> tuple[ExtraWindows, list[str]]:
    """The windows of every audio file under ``folder`` (the user's own music, no genre needed),
    with the teacher's outputs. Returns them and the files that could not be read."""
    from tqdm import tqdm

    from edge_genre.audio import find_audio_files
    from edge_genre.errors import EdgeGenreError

    teacher = teacher or Musicnn()
    files = find_audio_files([folder])
    if not files:
        raise TeacherError(f"{folder}: no audio files")
    parts, failed = [], []
    for path in tqdm(files, desc="teacher unlabeled", unit="file", disable=not progress):
        try:
            windows = clip_windows(load_audio(path, sr=config.sample_rate), config, short=short)
        except EdgeGenreError as exc:
            failed.append(f"{path}: {exc}")
            continue
        x, embedding, tags = _label_windows(teacher, windows, config)
        ident = f"unlabeled:{path.relative_to(folder) if path != folder else path.name}"
        parts.append(ExtraWindows(x, embedding, tags, np.asarray([(ident, "")] * len(x), dtype=str),
                                  np.full(len(x), "unlabeled", dtype="<U9")))
    out = ExtraWindows.empty(config.feature_shape)
    for part in parts:
        out = out + part
    return out, failed


def _regression(x: np.ndarray, y: np.ndarray, clips: np.ndarray, n_classes: int, c: float):
    """Standardised logistic regression on embeddings, every song weighted the same; returns a
    function giving ``(n, n_classes)`` probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .fit import song_weights

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    model.fit(x, y, logisticregression__sample_weight=song_weights(clips))
    classes = model.classes_

    def predict(z: np.ndarray) -> np.ndarray:
        out = np.zeros((len(z), n_classes), dtype=np.float32)
        out[:, classes] = model.predict_proba(z)
        return out

    return predict


# Inverse L2 strength of the teacher's genre regression on standardised 200-d embeddings. Artist-grouped
# 5-fold CV on the 370 songs (song accuracy, songs weighted equally): C 0.01 67.9, 0.1 68.1, 1.0 64.5 %.
REGRESSION_C = 0.1


def usable(cache: TeacherCache, idx: np.ndarray) -> np.ndarray:
    """The windows of ``idx`` the teacher has outputs for."""
    return idx[np.isfinite(cache.embedding[idx]).all(axis=1)]


def teacher_baseline(fs: FeatureSet, cache: TeacherCache, folds: list[Fold], c: float = REGRESSION_C) -> list[dict]:
    """Per fold: a logistic regression on the teacher's embeddings of the training windows, evaluated
    on the test windows like the student (window and song accuracy)."""
    from . import reports

    results = []
    for fold in folds:
        train = usable(cache, fold.train)
        predict = _regression(cache.embedding[train], fs.y[train], fs.clip[train], len(fs.labels), c)
        test = fold.test
        probs = predict(np.nan_to_num(cache.embedding[test]))
        m = reports.evaluate(probs, fs.y[test], fs.clip[test], fs.labels)
        m.update({"split": fold.name, "sizes": fold.sizes()})
        results.append(m)
    return results


def fitted_regression(fs: FeatureSet, cache: TeacherCache, train: np.ndarray, c: float = REGRESSION_C):
    """The teacher's genre regression fitted on all usable windows of ``train``: a function from
    embeddings ``(m, 200)`` to genre probabilities (for windows it was not fitted on, such as mixes)."""
    rows = usable(cache, train)
    return _regression(cache.embedding[rows], fs.y[rows], fs.clip[rows], len(fs.labels), c)


def soft_targets(fs: FeatureSet, cache: TeacherCache, train: np.ndarray, inner_folds: int = 5, seed: int = 0,
                 c: float = REGRESSION_C) -> np.ndarray:
    """Teacher genre probabilities for the training windows ``train`` (rows in that order).

    Cross-fitted: each window's probabilities come from a regression fitted on the other training
    windows whose artists (or songs, without an artist index) are not its own, so the targets are
    what the teacher says of music it has not been fitted on, not a copy of the labels.
    """
    from sklearn.model_selection import GroupKFold

    groups = fs.artist[train] if fs.artist is not None else fs.clip[train]
    k = min(inner_folds, len(set(groups.tolist())))
    out = np.full((len(train), len(fs.labels)), np.nan, dtype=np.float32)
    ok = np.isfinite(cache.embedding[train]).all(axis=1)
    for fit_part, predict_part in GroupKFold(n_splits=k).split(train, groups=groups):
        fit_rows = fit_part[ok[fit_part]]
        rows = train[fit_rows]
        predict = _regression(cache.embedding[rows], fs.y[rows], fs.clip[rows], len(fs.labels), c)
        rows = predict_part[ok[predict_part]]
        if len(rows):
            out[rows] = predict(cache.embedding[train[rows]])
    return out
