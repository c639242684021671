"""Test helpers for the firmware export: synthetic music-like audio and a small self-made model.

The shipped model is trained elsewhere; tests and development use
:func:`make_test_model`, a small CRNN in the spirit of the real one (three
Conv2D/MaxPool/BatchNorm blocks, two BiLSTMs, Dense 64, Dense softmax) that
is trained for a moment on synthetic "genres" (so its outputs are decisive
rather than near ties), converted to a full-integer int8 .tflite and given
the ``edge_genre`` metadata entry (labels and :class:`FeatureConfig`).

:func:`synthetic_clip` makes deterministic music-like audio: a few harmonic
voices with note changes, a drum pattern and some noise, in one of ten
"styles" that differ in pitch, tempo, brightness and noise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_genre.config import FeatureConfig

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")

# (base frequency Hz, beats per minute, harmonics, noise level, drum level) per style.
_STYLES = (
    (110.0, 70, 6, 0.02, 0.2),
    (262.0, 60, 3, 0.005, 0.0),
    (196.0, 100, 5, 0.01, 0.15),
    (147.0, 124, 8, 0.03, 0.5),
    (73.0, 90, 4, 0.05, 0.8),
    (220.0, 140, 4, 0.01, 0.1),
    (82.0, 170, 12, 0.15, 0.6),
    (330.0, 115, 6, 0.02, 0.4),
    (98.0, 80, 5, 0.02, 0.35),
    (165.0, 130, 10, 0.08, 0.45),
)


def synthetic_clip(style: int, seconds: float, sr: int = 22050, seed: int = 0, pcm16: bool = True) -> np.ndarray:
    """Deterministic music-like mono audio in ``[-1, 1)``, float32.

    ``style`` (0-9) selects pitch range, tempo, timbre and noise. With
    ``pcm16`` the samples are rounded to 16-bit PCM values (``k / 32768``), so
    an int16 copy of the signal (as in the firmware test vectors) is exact.
    """
    base, bpm, n_harm, noise, drums = _STYLES[style % len(_STYLES)]
    rng = np.random.default_rng([style, seed])
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    beat = 60.0 / bpm
    y = np.zeros(n)
    # Two voices changing note every beat (random steps of a pentatonic scale).
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    for voice, (octave, level) in enumerate(((1.0, 0.35), (2.0, 0.2))):
        n_notes = int(np.ceil(seconds / beat)) + 1
        notes = base * octave * 2.0 ** (rng.choice(scale, n_notes) / 12.0)
        idx = np.minimum((t / beat).astype(int), n_notes - 1)
        freq = notes[idx]
        phase = 2 * np.pi * np.cumsum(freq) / sr + rng.uniform(0, 2 * np.pi)
        env = np.exp(-((t % beat) / beat) * (2.0 + voice))
        for h in range(1, n_harm + 1):
            y += level * env * np.sin(h * phase) / h ** (1.0 + 0.3 * voice)
    # Drums: a decaying noise burst on every beat, a low thump on every other one.
    if drums > 0:
        pos = (t % beat) / beat
        burst = np.exp(-pos * 40.0) * rng.standard_normal(n)
        thump = np.exp(-((t % (2 * beat)) / beat) * 12.0) * np.sin(2 * np.pi * 55.0 * t)
        y += drums * (0.5 * burst + 0.8 * thump)
    y += noise * rng.standard_normal(n)
    y *= 0.5 / max(1e-9, np.max(np.abs(y)))
    y *= 10.0 ** (rng.uniform(-12, 0) / 20.0)  # level between -18 and -6 dBFS peak
    if pcm16:
        y = np.clip(np.round(y * 32768.0), -32768, 32767) / 32768.0
    return y.astype(np.float32)


def synthetic_windows(n_per_style: int, config: FeatureConfig, seed: int = 0, styles: int = 10,
                      hop_seconds: float = 1.0, windows_per_clip: int = 3):
    """``(features (n, frames, coeffs) float32, labels (n,))`` of synthetic windows, ``n_per_style`` per style.

    Each style's windows come from clips of ``windows_per_clip`` windows cut ``hop_seconds``
    apart; the clips are seeded from ``seed``, so another seed gives held-out windows.
    """
    from edge_genre.dsp import window_features

    hop = int(round(hop_seconds * config.sample_rate))
    feats, labels = [], []
    for style in range(styles):
        done, clip = 0, 0
        while done < n_per_style:
            n = min(windows_per_clip, n_per_style - done)
            seconds = (config.window_samples + (n - 1) * hop) / config.sample_rate + 0.01
            y = synthetic_clip(style, seconds, config.sample_rate, seed=seed * 1000 + clip)
            for k in range(n):
                feats.append(window_features(y[k * hop : k * hop + config.window_samples], config))
                labels.append(style)
            done, clip = done + n, clip + 1
    return np.stack(feats), np.array(labels)


def add_edge_genre_metadata(tflite: bytes, labels, config: FeatureConfig) -> bytes:
    """The test model with the same edge-genre metadata the real exporter writes."""
    from train.export import add_metadata, edge_genre_metadata

    return add_metadata(tflite, edge_genre_metadata(labels, config, architecture="firmware-test-crnn",
                                                    quantization="int8"))


def build_keras_crnn(input_shape: tuple[int, int], n_classes: int, lstm_units: int = 16, batch_size: int | None = None,
                     bn_momentum: float = 0.8):
    """The small test CRNN (tf-keras layers, so the LSTMs convert to fused TFLite ops)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras

    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), batch_size=batch_size, name="features")
    x = inp
    for kernel in (3, 3, 2):
        x = layers.Conv2D(32, kernel, activation="relu")(x)
        x = layers.MaxPooling2D(3 if kernel == 3 else 2, strides=2, padding="same")(x)
        # Low momentum: the moving statistics settle within the few steps the test model trains.
        x = layers.BatchNormalization(momentum=bn_momentum)(x)
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units))(x)
    x = layers.Dense(64, activation="relu")(x)
    out = layers.Dense(n_classes, activation="softmax", name="genre")(x)
    return keras.Model(inp, out, name="firmware_test_crnn")


def make_test_model(path: str | os.PathLike, config: FeatureConfig | None = None, *, n_per_style: int = 12,
                    epochs: int = 6, seed: int = 0, lstm_units: int = 16) -> dict:
    """Train a small CRNN on synthetic styles, convert it to full-integer int8 and write it with metadata.

    Returns a dict with the path, size, the training windows used for calibration and the Keras accuracy.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as keras

    config = config or FeatureConfig()
    keras.utils.set_random_seed(seed)
    x, y = synthetic_windows(n_per_style, config, seed=seed + 1)
    model = build_keras_crnn(config.feature_shape, len(GENRES), lstm_units)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[..., np.newaxis], y, epochs=epochs, batch_size=16, verbose=0, shuffle=True)
    accuracy = float(model.evaluate(x[..., np.newaxis], y, verbose=0)[1])

    # The fused LSTM needs a static batch: convert a batch-1 copy with the same weights.
    fixed = build_keras_crnn(config.feature_shape, len(GENRES), lstm_units, batch_size=1)
    fixed.set_weights(model.get_weights())

    def representative():
        for window in x[:: max(1, len(x) // 60)]:
            yield [window[np.newaxis, ..., np.newaxis].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    raw = converter.convert()
    data = add_edge_genre_metadata(raw, GENRES, config)
    path = Path(path)
    path.write_bytes(data)
    return {"path": path, "size_bytes": len(data), "train_accuracy": accuracy, "train_windows": len(x)}
