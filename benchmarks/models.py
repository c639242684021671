"""The models under test: which float reference and Keras model go with the model, and loading Keras."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_genre.errors import ModelError
from edge_genre.model_io import FLOAT_REFERENCES

from .common import AUTO, tail


def resolve_float_model(model: str | os.PathLike, float_model: str | os.PathLike | None) -> str | None:
    """The float reference model: given, or the shipped int8 model's float twin, or the ``*_float`` sibling."""
    if float_model not in (None, AUTO):
        return str(float_model)
    if str(model) in FLOAT_REFERENCES:
        return FLOAT_REFERENCES[str(model)]
    path = Path(str(model))
    if "int8" in path.name:
        sibling = path.with_name(path.name[::-1].replace("8tni", "taolf", 1)[::-1])
        if sibling.is_file():
            return str(sibling)
    return None


def resolve_keras_model(path: str | os.PathLike) -> Path:
    """A ``model.keras`` file, or a training run directory holding one, as an absolute path.

    Absolute because the TF + librosa pipeline loads it in a child process started elsewhere.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if not path.is_file():
        raise ModelError(f"{path}: no Keras model (give a model.keras file or a training run directory)")
    return path.resolve()


def load_keras(path: Path, threads: int) -> tuple[Any, Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]:
    """Load a Keras model with tf-keras (Keras 2, as training uses); returns (model, predict_on_batch, graph call)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised in this process
        pass
    try:
        import tf_keras as keras
    except ImportError:
        keras = tf.keras
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types
        raise ModelError(f"{path}: cannot load the Keras model ({type(exc).__name__}: {tail(str(exc), 200)})") from None
    graph = tf.function(lambda x: model(x, training=False))
    return model, model.predict_on_batch, graph



