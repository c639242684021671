"""Model files: metadata round trip, alignment, and refusal of foreign or broken models."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from edge_genre.config import FeatureConfig
from edge_genre.errors import ModelError
from edge_genre.model_io import FORMAT_NAME, read_model_info, read_tflite_metadata, resolve_model_path

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny_tflite() -> bytes:
    """A small float TFLite model with the input shape of the default features (no metadata)."""
    import train  # noqa: F401
    import tf_keras as keras

    from train.export import convert

    keras.utils.set_random_seed(0)
    inp = keras.Input((130, 13, 1))
    x = keras.layers.Conv2D(4, 3)(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    return convert(keras.Model(inp, out), None)


def _buffer_data_offsets(data: bytes) -> list[int]:
    """Absolute offsets of every non-empty Buffer.data vector, read with TF's schema."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    offsets = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            offsets.append(buf._tab.Vector(buf._tab.Offset(4)))
    return offsets


def test_metadata_round_trip_and_alignment(tiny_tflite, tmp_path):
    from train.export import add_metadata, edge_genre_metadata

    config = FeatureConfig(normalization="window")
    labels = ("a", "b", "c")
    data = add_metadata(tiny_tflite, edge_genre_metadata(labels, config, architecture="tiny"))
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    info = read_model_info(path)
    assert info.labels == labels
    assert info.config == config
    assert info.extra["architecture"] == "tiny"
    # The schema asks for 16-byte aligned buffers (TFLite Micro relies on it).
    offsets = _buffer_data_offsets(data)
    assert offsets and all(o % 16 == 0 for o in offsets), offsets
    # Re-adding replaces rather than duplicates the entry.
    from tensorflow.lite.python import schema_py_generated as schema

    again = add_metadata(data, edge_genre_metadata(("x", "y", "z"), config))
    model = schema.Model.GetRootAs(again, 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count("edge_genre") == 1
    assert json.loads(read_tflite_metadata(again)["edge_genre"])["labels"] == ["x", "y", "z"]


def test_model_with_metadata_still_runs_identically(tiny_tflite, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from train.export import add_metadata, edge_genre_metadata

    data = add_metadata(tiny_tflite, edge_genre_metadata(("a", "b", "c"), FeatureConfig()))
    x = np.random.default_rng(0).standard_normal((1, 130, 13, 1)).astype(np.float32)
    outs = []
    for blob in (tiny_tflite, data):
        it = Interpreter(model_content=blob)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_foreign_tflite_is_refused(tiny_tflite, tmp_path):
    path = tmp_path / "foreign.tflite"
    path.write_bytes(tiny_tflite)
    with pytest.raises(ModelError, match="without edge-genre metadata"):
        read_model_info(path)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"\x00" * 64])
def test_non_tflite_is_refused(tmp_path, content):
    path = tmp_path / "junk.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a TFLite model"):
        read_model_info(path)


def test_corrupt_flatbuffer_is_refused(tmp_path):
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(struct.pack("<I", 10_000) + b"TFL3" + b"\x00" * 8)
    with pytest.raises(ModelError):
        read_model_info(path)


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"format": "someone-else"}, "unknown format"),
        ({"format": FORMAT_NAME, "format_version": 99, "labels": ["a"]}, "version 99"),
        ({"format": FORMAT_NAME, "format_version": 1, "labels": []}, "no label list"),
        ({"format": FORMAT_NAME, "format_version": 1, "labels": ["a", "b", "c"],
          "feature_config": {**FeatureConfig().to_dict(), "dither": 1}}, "unsupported fields: dither"),
        ({"format": FORMAT_NAME, "format_version": 1, "labels": ["a", "b", "c"],
          "feature_config": {**FeatureConfig().to_dict(), "schema": 7}}, "schema 7"),
    ],
)
def test_bad_metadata_is_refused(tiny_tflite, tmp_path, meta, message):
    from train.export import add_metadata

    path = tmp_path / "bad.tflite"
    path.write_bytes(add_metadata(tiny_tflite, meta))
    with pytest.raises(ModelError, match=message):
        read_model_info(path)


def test_feature_shape_mismatch_is_refused(tiny_tflite, tmp_path):
    from edge_genre.classifier import GenreClassifier
    from train.export import add_metadata, edge_genre_metadata

    path = tmp_path / "mismatch.tflite"
    # A model built for 130x13 MFCCs but labelled as a log-mel (130x128) model.
    path.write_bytes(add_metadata(tiny_tflite, edge_genre_metadata(("a", "b", "c"), FeatureConfig(kind="logmel"))))
    with pytest.raises(ModelError, match="does not match its feature configuration"):
        GenreClassifier(path)


def test_missing_model_path():
    with pytest.raises(ModelError, match="no such model file"):
        resolve_model_path("/nonexistent/model.tflite")


def test_metadata_is_json_readable(tiny_tflite):
    from train.export import add_metadata, edge_genre_metadata

    data = add_metadata(tiny_tflite, edge_genre_metadata(("a", "b", "c"), FeatureConfig()))
    meta = json.loads(read_tflite_metadata(data)["edge_genre"])
    assert meta["feature_config"]["n_mfcc"] == 13
