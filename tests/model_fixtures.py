"""A model for tests that need a real classifier: the shipped int8 model, or a tiny stand-in.

The shipped ``edge_genre/models/genre_crnn_int8.tflite`` is trained elsewhere and
may be missing from a checkout. Then :func:`model_for_tests` builds a tiny CRNN
(``train.models.build_model('crnn', (130, 13), 10, lstm_units=8)``, untrained
weights), converts it to full-integer int8 with ``train.export.convert`` and
adds the ``edge_genre`` metadata with ``train.export.add_metadata``. Building it
needs TensorFlow (a dev dependency) and takes some seconds, so the file is
cached in pytest's cache folder and reused by later runs. Set
``EDGE_GENRE_TEST_MODEL=/path/model.tflite`` to test another model.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

TINY_MODEL_VERSION = 1  # bump to rebuild cached tiny models
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


def shipped_model_available(name: str = "int8") -> bool:
    from edge_genre.model_io import BUILTIN_MODELS

    return Path(str(resources.files("edge_genre.models").joinpath(BUILTIN_MODELS[name]))).is_file()


def build_tiny_model(path: Path, seed: int = 0) -> Path:
    """Write a tiny int8 edge-genre model (random weights, real architecture and metadata) to ``path``."""
    import train  # noqa: F401  (selects Keras 2 before TensorFlow loads)
    from edge_genre.config import FeatureConfig
    from edge_genre.dsp import window_features
    from train.export import add_metadata, convert, edge_genre_metadata
    from train.models import build_model

    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    config = FeatureConfig()
    model = build_model("crnn", config.feature_shape, len(GENRES), dropout=False, lstm_units=8)
    # Calibrate on features of noise at a few levels, so the quantization ranges are realistic.
    rng = np.random.default_rng(seed)
    representative = np.stack([
        window_features((level * rng.standard_normal(config.window_samples)).astype(np.float32), config)
        for level in (0.003, 0.01, 0.03, 0.1, 0.3, 0.5)
    ])
    raw = convert(model, representative)
    meta = edge_genre_metadata(GENRES, config, architecture="tiny-test-crnn", quantization="int8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(add_metadata(raw, meta))
    tmp.replace(path)
    return path


def model_for_tests(request: pytest.FixtureRequest) -> str:
    """``$EDGE_GENRE_TEST_MODEL`` if set, ``"int8"`` when the shipped model exists, else a cached tiny model."""
    override = os.environ.get("EDGE_GENRE_TEST_MODEL", "").strip()
    if override:
        return override
    if shipped_model_available("int8"):
        return "int8"
    cache_dir = Path(request.config.cache.mkdir("edge_genre_models"))
    path = cache_dir / f"tiny_crnn_int8_v{TINY_MODEL_VERSION}.tflite"
    if not path.is_file():
        pytest.importorskip("tensorflow", reason="the shipped model is missing and TensorFlow is needed to build a stand-in")
        build_tiny_model(path)
    return str(path)

