"""The large model: MSD_musicnn rebuilt in tf-keras as a frozen backbone, with a genre head.

``MSD_musicnn`` (J. Pons and X. Serra, "musicnn: pre-trained convolutional neural networks for
music audio tagging", ISMIR-LBD 2019; ISC licence) is rebuilt layer by layer with standard tf-keras
layers, and its weights are read from the checkpoint inside the ``musicnn`` wheel (no musicnn code
runs). Every layer is one that TFLite converts to a builtin op and quantizes to int8:

- front end: input batch norm; two *timbral* convolutions (7 frames x 38 / 67 mel bands, 204
  filters each) and three *temporal* ones (128 / 64 / 32 frames x 1 band, 51 filters each), each
  ReLU -> batch norm -> max over frequency;
- mid end: three 1-D convolutions (7 frames, 64 filters; the last two residual) over the 561
  front-end channels, densely connected (753 channels);
- back end: max and mean over time (1506), batch norm, Dense 200 ReLU, batch norm: the 200-d
  *penultimate* embedding. MSD's 50 tag logits (``dense_1``) are kept only for the check against
  musicnn itself.

Three changes bring int8 closer to float, all exact in float (docs/large-model.md): every
per-channel batch norm is a 1x1 depthwise convolution (per-channel int8 scales instead of one MUL
vector whose scales span 0-120); the back end pools, normalises and projects each mid-end tensor
on its own and sums the eight partial Dense products (one concatenation gave all 753 channels the
quantization step of the largest, 1.3, where bn0's outputs stay under 7.6); and the front-end and
mid-end channels are equalized (:func:`equalized_weights`).

The network is convolutional over time with global pooling, so it reads any number of frames:
the edge-genre runtime feeds it 188 frames (3 s at 16 kHz, hop 256, centred), musicnn 187.

The genre head is a multinomial logistic regression on the standardised embedding (fitted with
scikit-learn on the training windows, and their augmented copies if asked, songs weighted equally),
folded into one Dense softmax layer, so that the whole model is one Keras model that ``train
export`` converts like the CRNN.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .teacher import INSTALL_HINT, MODEL, TeacherError

EMBEDDING_DIM = 200
HEAD_C = 0.1  # inverse L2 strength of the genre head (the teacher baseline's, train/teacher.py)


def checkpoint_path(model: str = MODEL) -> str:
    """Prefix of the musicnn checkpoint shipped in its wheel (files ``.index``/``.data-*`` in its folder)."""
    try:
        import musicnn
    except ImportError:
        raise TeacherError(INSTALL_HINT) from None
    folder = Path(musicnn.__file__).parent / model
    if not (folder / ".index").is_file():
        raise TeacherError(f"{folder}: no musicnn checkpoint there; reinstall: {INSTALL_HINT}")
    return str(folder) + "/"


@lru_cache(maxsize=2)
def checkpoint_weights(model: str = MODEL) -> dict[str, np.ndarray]:
    """Every non-optimizer variable of the checkpoint, by name (``conv2d/kernel``, ...); read once
    per process and shared: do not modify it (:func:`equalized_weights` returns a copy)."""
    from tensorflow.python.training import py_checkpoint_reader

    reader = py_checkpoint_reader.NewCheckpointReader(checkpoint_path(model))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "Adam" not in name and not name.endswith("_power")}


FRONTEND_BN = (1, 2, 3, 4, 5)  # batch norms of the five front-end branches, in channel order
MIDEND_BN = (6, 7, 8)  # batch norms of the mid end's three layers (bn0, and the two residual ones)
EQUALIZE_CAP = 30.0
EQUALIZE_WINDOWS = 256  # training windows whose activation ranges set the scales


def equalization_scales(backbone, x: np.ndarray, cap: float = EQUALIZE_CAP, batch: int = 32) -> dict[str, np.ndarray]:
    """Per-channel scales (>= 1) from the float activations of an (unequalized) ``backbone`` on
    windows ``x`` (training windows, ``(n, frames, bands, 1)``): ``"front"`` for the 561 front-end
    channels, ``"mid"`` for the mid end's 64. Each channel is scaled up until it reaches its tensor's
    largest channel (for the mid end, in whichever of its three tensors comes first), at most
    ``cap`` times."""
    import tf_keras as keras

    names = ["frontend", "midend_bn0", "midend_res1", "midend_res2"]
    probe = keras.Model(backbone.input, [backbone.get_layer(n).output for n in names])
    ranges: list[np.ndarray | int] = [0] * len(names)
    for start in range(0, len(x), batch):
        for t, out in enumerate(probe(x[start : start + batch], training=False)):
            out = out.numpy()
            ranges[t] = np.maximum(ranges[t], np.abs(out.reshape(-1, out.shape[-1])).max(axis=0))
    room = [r.max() / np.maximum(r, 1e-6) for r in ranges]
    return {"front": np.clip(room[0], 1.0, cap), "mid": np.clip(np.min(room[1:], axis=0), 1.0, cap)}


def equalized_weights(w: dict[str, np.ndarray], scales: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Checkpoint weights with every front-end channel and every mid-end channel multiplied by its
    scale where it is made (the batch norm after its ReLU; for the mid end in bn0, res1 and res2)
    and divided back where it is read (the mid-end convolutions' input rows, the pooled batch
    norm): the same function in float (max over time and frequency commute with a positive scale).
    In int8, where a tensor has one quantization step for all its channels, a channel of small range
    keeps its precision, and the pooled batch norm multiplies some of these channels by up to 120."""
    w = {name: value.copy() for name, value in w.items()}
    front, mid = scales["front"].astype(np.float32), scales["mid"].astype(np.float32)
    offset = 0
    for index in FRONTEND_BN:
        key = f"batch_normalization_{index}"
        k = front[offset : offset + w[f"{key}/gamma"].size]
        w[f"{key}/gamma"] *= k
        w[f"{key}/beta"] *= k
        offset += k.size
    w["conv2d_5/kernel"] /= front[np.newaxis, :, np.newaxis, np.newaxis]
    for index in MIDEND_BN:
        w[f"batch_normalization_{index}/gamma"] *= mid
        w[f"batch_normalization_{index}/beta"] *= mid
    for index in (6, 7):  # conv2d_6, conv2d_7 read bn0 / res1: input rows (axis 1) scaled back
        w[f"conv2d_{index}/kernel"] /= mid[np.newaxis, :, np.newaxis, np.newaxis]
    channel_scale = np.concatenate([front, mid, mid, mid])  # the 753 pooled channels
    k = np.repeat(channel_scale, 2)  # interleaved (max, mean) per channel
    pooled = "batch_normalization_9"
    w[f"{pooled}/moving_mean"] *= k
    w[f"{pooled}/moving_variance"] = k**2 * (w[f"{pooled}/moving_variance"] + 1e-3) - 1e-3
    return w


def build_backbone(n_frames: int, n_mels: int = 96, weights: dict[str, np.ndarray] | None = None,
                   tags: bool = False):
    """MSD_musicnn as a tf-keras model from ``(n_frames, n_mels, 1)`` features to its 200-d embedding
    (and its 50 MSD tag probabilities when ``tags``), weights from the musicnn checkpoint."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    L = keras.layers
    w = checkpoint_weights() if weights is None else weights
    if n_mels != 96:
        raise ValueError(f"MSD_musicnn reads 96 mel bands, not {n_mels}")
    loads: list[tuple[object, list[np.ndarray]]] = []

    def bn(x, index: int, name: str):
        """musicnn's batch norm (inference) as a per-channel affine map. Over more than one channel it
        is a 1x1 depthwise convolution: int8 TFLite quantizes its scales per channel (and its shift
        as an int32 bias), where a BatchNormalization layer becomes a MUL by one per-tensor int8
        vector, and these scales span 0 to 120."""
        key = "batch_normalization" + (f"_{index}" if index else "")
        gamma, beta, mean, var = (w[f"{key}/{v}"] for v in ("gamma", "beta", "moving_mean", "moving_variance"))
        if gamma.size == 1:
            layer = L.BatchNormalization(epsilon=1e-3, name=name)
            out = layer(x)
            loads.append((layer, [gamma, beta, mean, var]))
            return out
        scale, shift = bn_affine(index)
        return affine(x, scale, shift, name)

    def bn_affine(index: int) -> tuple[np.ndarray, np.ndarray]:
        key = "batch_normalization" + (f"_{index}" if index else "")
        scale = w[f"{key}/gamma"] / np.sqrt(w[f"{key}/moving_variance"] + 1e-3)
        return scale, w[f"{key}/beta"] - w[f"{key}/moving_mean"] * scale

    def affine(x, scale: np.ndarray, shift: np.ndarray, name: str):
        shape = tuple(x.shape[1:])
        y = x if len(shape) == 3 else L.Reshape((-1, 1, shape[-1]))(x)
        layer = L.DepthwiseConv2D(1, name=name)
        y = layer(y)
        loads.append((layer, [scale.reshape(1, 1, -1, 1).astype(np.float32), shift.astype(np.float32)]))
        return y if len(shape) == 3 else L.Reshape(shape)(y)

    def conv(layer, x, index: int, kernel_shape=None):
        key = "conv2d" + (f"_{index}" if index else "")
        out = layer(x)
        kernel = w[f"{key}/kernel"]
        loads.append((layer, [kernel.reshape(kernel_shape) if kernel_shape else kernel, w[f"{key}/bias"]]))
        return out

    inp = keras.Input(shape=(n_frames, n_mels, 1), name="features")  # the runtime's (frames, bands, 1) input
    x = bn(inp, 0, "input_bn")
    padded = L.ZeroPadding2D(((3, 3), (0, 0)))(x)
    branches = []
    # Timbral (7 x 38, 7 x 67) and temporal (128, 64, 32 frames x 1) filters; max over frequency.
    specs = [(padded, 204, (7, 38), "valid", 1), (padded, 204, (7, 67), "valid", 2),
             (x, 51, (128, 1), "same", 3), (x, 51, (64, 1), "same", 4), (x, 51, (32, 1), "same", 5)]
    for i, (src, filters, kernel, padding, bn_index) in enumerate(specs):
        y = conv(L.Conv2D(filters, kernel, padding=padding, activation="relu", name=f"frontend_conv{i}"), src, i)
        y = bn(y, bn_index, f"frontend_bn{i}")
        y = L.MaxPooling2D((1, y.shape[2]), name=f"frontend_pool{i}")(y)
        branches.append(L.Reshape((n_frames, filters))(y))
    front = L.Concatenate(axis=-1, name="frontend")(branches)  # (frames, 561)
    # Mid end: 1-D convolutions over time (musicnn's Conv2D over the whole channel axis).
    mids = [front]
    h = front
    for j in range(3):
        y = L.ZeroPadding1D(3)(h)
        y = conv(L.Conv1D(64, 7, activation="relu", name=f"midend_conv{j}"), y, 5 + j, (7, h.shape[-1], 64))
        y = bn(y, 6 + j, f"midend_bn{j}")
        h = y if j == 0 else L.Add(name=f"midend_res{j}")([y, h])
        mids.append(h)
    # Back end. musicnn concatenates the four mid-end tensors (753 channels), takes their max and mean
    # over time, interleaved (max_0, mean_0, max_1, ...), then batch norm and Dense 200 ReLU. Here each
    # tensor's max and mean go their own way: their slice of the batch norm, their rows of the Dense
    # kernel, and the eight partial products are summed. Equal in float; in int8 every part keeps
    # its own quantization scale, where one concatenation gave the mean of bn0 (at most 7.6) the
    # scale of res2's maximum (168): 11 steps (docs/large-model.md).
    pool_scale, pool_shift = bn_affine(9)
    kernel, parts, offset = w["dense/kernel"], [], 0
    for j, tensor in enumerate(mids):
        channels = tensor.shape[-1]
        for s, (stat, pool) in enumerate((("max", L.GlobalMaxPooling1D), ("mean", L.GlobalAveragePooling1D))):
            rows = 2 * (offset + np.arange(channels)) + s
            v = affine(pool(name=f"pool_{stat}{j}")(tensor), pool_scale[rows], pool_shift[rows], f"pooled_bn_{stat}{j}")
            dense = L.Dense(EMBEDDING_DIM, use_bias=not parts, name=f"penultimate_{stat}{j}")
            parts.append(dense(v))
            loads.append((dense, [kernel[rows]] + ([w["dense/bias"]] if len(parts) == 1 else [])))
        offset += channels
    e = L.ReLU(name="penultimate")(L.Add(name="penultimate_sum")(parts))
    embedding = bn(e, 10, "embedding")
    outputs = [embedding]
    if tags:
        tag_layer = L.Dense(w["dense_1/bias"].shape[0], activation="sigmoid", name="msd_tags")
        outputs.append(tag_layer(embedding))
        loads.append((tag_layer, [w["dense_1/kernel"], w["dense_1/bias"]]))
    model = keras.Model(inp, outputs if tags else embedding, name="musicnn_backbone")
    for layer, values in loads:
        layer.set_weights(values)
    return model


class EmbeddingMemo:
    """Backbone embeddings of feature windows, computed once per distinct window (a window's bytes
    are its key), so that k folds over the same clean and augmented windows run the backbone once."""

    def __init__(self, backbone, batch: int = 64, progress: bool = True) -> None:
        self.backbone, self.batch, self.progress = backbone, batch, progress
        self.memo: dict[bytes, np.ndarray] = {}

    @staticmethod
    def _key(window: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(window, dtype=np.float32).tobytes(), digest_size=16).digest()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from edge_genre.progress import track

        keys = [self._key(w) for w in x]
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self.memo and k not in first:
                first[k] = i
        rows = list(first.values())
        # a step of minutes: shown under train's --quiet too (it drops per-epoch bars, not signs of life)
        for start in track(range(0, len(rows), self.batch), f"musicnn embeddings of {len(rows)} windows",
                           prefix="edge-genre train", unit="batches", enabled=bool(rows)):
            batch_rows = rows[start : start + self.batch]
            out = self.backbone(x[batch_rows], training=False).numpy()
            for r, e in zip(batch_rows, out):
                self.memo[keys[r]] = e
        return np.stack([self.memo[k] for k in keys]).astype(np.float32)


_MEMOS: dict[int, EmbeddingMemo] = {}


def shared_memo(n_frames: int, progress: bool = True) -> EmbeddingMemo:
    """One backbone and its embedding memo per input length, shared by the folds of a process."""
    if n_frames not in _MEMOS:
        _MEMOS[n_frames] = EmbeddingMemo(build_backbone(n_frames), progress=progress)
    _MEMOS[n_frames].progress = progress
    return _MEMOS[n_frames]


def fit_head(embeddings: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray | None = None,
             c: float = HEAD_C, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on standardised embeddings, folded into the kernel
    ``(dim, n_classes)`` and bias of one Dense softmax layer over the raw embedding."""
    from sklearn.linear_model import LogisticRegression

    mean = embeddings.mean(axis=0)
    std = np.maximum(embeddings.std(axis=0), 1e-6)
    z = (embeddings - mean) / std
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(z, y, sample_weight=weights)
    coef = np.zeros((n_classes, embeddings.shape[1]))
    intercept = np.full(n_classes, -1e4)  # a genre with no training window is never predicted
    coef[clf.classes_] = clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_, clf.coef_])
    intercept[clf.classes_] = clf.intercept_ if len(clf.classes_) > 2 else [-clf.intercept_[0], clf.intercept_[0]]
    kernel = (coef / std).T
    bias = intercept - (coef * (mean / std)).sum(axis=1)
    return kernel.astype(np.float32), bias.astype(np.float32)


def genre_model(backbone, kernel: np.ndarray, bias: np.ndarray):
    """Backbone + Dense softmax genre layer (``genre``): the model that is saved and exported."""
    import tf_keras as keras

    head = keras.layers.Dense(kernel.shape[1], activation="softmax", name="genre")
    model = keras.Model(backbone.input, head(backbone.output), name="musicnn_genre")
    head.set_weights([kernel, bias])
    backbone.trainable = False  # pretrained: only the head is fitted (trainable_parameters counts the head)
    return model
