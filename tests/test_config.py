"""FeatureConfig: defaults, derived sizes, JSON round trip and validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edge_genre.config import SCHEMA_VERSION, FeatureConfig
from edge_genre.errors import ConfigError, EdgeGenreError


def test_defaults_match_librosa_mfcc_call():
    c = FeatureConfig()
    assert (c.sample_rate, c.n_fft, c.hop_length, c.n_mels, c.n_mfcc) == (22050, 2048, 512, 128, 13)
    assert (c.fmin, c.fmax, c.mel_fmax, c.top_db) == (0.0, None, 11025.0, 80.0)
    assert (c.window_seconds, c.kind, c.normalization) == (3.0, "mfcc", "none")
    assert c.window_samples == 66150
    assert c.n_frames == 130
    assert c.n_features == 13
    assert c.feature_shape == (130, 13)


def test_derived_sizes_follow_parameters():
    c = FeatureConfig(kind="logmel", n_mels=64, window_seconds=1.0, sample_rate=16000, hop_length=256)
    assert c.window_samples == 16000
    assert c.n_frames == 1 + 16000 // 256 == 63
    assert c.feature_shape == (63, 64)
    assert FeatureConfig(fmax=8000.0).mel_fmax == 8000.0
    assert FeatureConfig(window_seconds=2.5).window_samples == 55125


def test_frozen_and_hashable():
    c = FeatureConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n_fft = 1024  # type: ignore[misc]
    assert hash(c) == hash(FeatureConfig())
    assert c == FeatureConfig() and c != FeatureConfig(n_mfcc=20)
    assert len({c, FeatureConfig(), FeatureConfig(kind="logmel")}) == 2


CONFIGS = [
    FeatureConfig(),
    FeatureConfig(kind="logmel", normalization="window"),
    FeatureConfig(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=40, n_mfcc=20,
                  fmin=20.0, fmax=7600.0, top_db=None, window_seconds=2.5),
    FeatureConfig(top_db=60.0, window_seconds=1.0),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.kind}-{c.sample_rate}-{c.top_db}")
def test_json_round_trip(config):
    text = config.to_json()
    data = json.loads(text)
    assert data["schema"] == SCHEMA_VERSION == 1
    assert set(data) == {"schema"} | {f.name for f in dataclasses.fields(FeatureConfig)}
    back = FeatureConfig.from_json(text)
    assert back == config
    assert back.to_json() == text
    assert FeatureConfig.from_dict(config.to_dict()) == config
    # The dict form is plain JSON (no NumPy scalars, tuples...).
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()


def test_from_dict_without_schema_and_partial_fields():
    assert FeatureConfig.from_dict({}) == FeatureConfig()
    assert FeatureConfig.from_dict({"n_mfcc": 20}) == FeatureConfig(n_mfcc=20)
    assert FeatureConfig.from_json('{"schema": 1, "kind": "logmel"}') == FeatureConfig(kind="logmel")


def test_from_dict_does_not_modify_its_argument():
    data = FeatureConfig().to_dict()
    copy = dict(data)
    FeatureConfig.from_dict(data)
    assert data == copy


INVALID = [
    ({"sample_rate": 0}, "sample_rate"),
    ({"sample_rate": -22050}, "sample_rate"),
    ({"sample_rate": 22050.0}, "sample_rate"),
    ({"n_fft": 0}, "n_fft"),
    ({"n_fft": 2048.0}, "n_fft"),
    ({"n_fft": True}, "n_fft"),
    ({"hop_length": 0}, "hop_length"),
    ({"hop_length": 4096}, "hop_length"),
    ({"n_mels": 0}, "n_mels"),
    ({"n_mfcc": 0}, "n_mfcc"),
    ({"n_mfcc": 129}, "n_mfcc"),
    ({"n_mels": "128"}, "n_mels"),
    ({"fmin": -1.0}, "fmin"),
    ({"fmin": 11025.0}, "fmin"),
    ({"fmin": 5000.0, "fmax": 4000.0}, "fmin"),
    ({"fmax": 12000.0}, "fmax"),
    ({"fmax": 0.0}, "fmax"),
    ({"fmin": float("nan")}, "fmin"),
    ({"top_db": 0.0}, "top_db"),
    ({"top_db": -80.0}, "top_db"),
    ({"window_seconds": 0.0}, "window_seconds"),
    ({"window_seconds": -3.0}, "window_seconds"),
    ({"window_seconds": 1e-9}, "window_seconds"),
    ({"window_seconds": float("nan")}, "window_seconds"),
    ({"kind": "mel"}, "kind"),
    ({"kind": "MFCC"}, "kind"),
    ({"normalization": "global"}, "normalization"),
    ({"top_db": float("nan")}, "top_db"),
    ({"window_seconds": float("inf")}, "window_seconds"),
    ({"fmax": "8000"}, "fmax"),
    ({"fmin": "0"}, "fmin"),
]


@pytest.mark.parametrize("kwargs, field", INVALID, ids=lambda v: json.dumps(v) if isinstance(v, dict) else v)
def test_invalid_values_raise_config_error(kwargs, field):
    with pytest.raises(ConfigError, match=field) as info:
        FeatureConfig(**kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("invalid FeatureConfig")
    # ... and the same through JSON, as a model file would carry it.
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), **kwargs})


def test_config_error_is_a_value_error_and_edge_genre_error():
    with pytest.raises(ValueError):
        FeatureConfig(n_fft=-1)
    with pytest.raises(EdgeGenreError):
        FeatureConfig(n_fft=-1)


def test_wrongly_typed_json_values_raise_config_error():
    for bad in ('{"fmin": "0"}', '{"top_db": "80"}', '{"window_seconds": "3"}', '{"kind": ["mfcc"]}'):
        with pytest.raises(ConfigError):
            FeatureConfig.from_json(bad)


def test_unknown_fields_are_rejected_and_named():
    data = {**FeatureConfig().to_dict(), "pre_emphasis": 0.97, "lifter": 22}
    with pytest.raises(ConfigError, match="lifter, pre_emphasis"):
        FeatureConfig.from_dict(data)


@pytest.mark.parametrize("schema", [2, 99, 0])
def test_other_schema_versions_are_rejected(schema):
    data = {**FeatureConfig().to_dict(), "schema": schema}
    with pytest.raises(ConfigError, match=rf"schema {schema} is not supported.*upgrade edge-genre"):
        FeatureConfig.from_dict(data)


def test_newer_schema_is_reported_before_its_unknown_fields():
    # A newer model may carry fields this version does not know: say "upgrade", not "unknown field".
    data = {**FeatureConfig().to_dict(), "schema": 2, "some_future_field": 1}
    with pytest.raises(ConfigError, match="upgrade"):
        FeatureConfig.from_dict(data)


@pytest.mark.parametrize("text, match", [
    ("", "not valid JSON"),
    ("{", "not valid JSON"),
    ("[1, 2]", "JSON object.*list"),
    ("null", "JSON object"),
    ('"mfcc"', "JSON object"),
])
def test_from_json_rejects_non_objects(text, match):
    with pytest.raises(ConfigError, match=match):
        FeatureConfig.from_json(text)
