"""Model architectures (tf-keras / Keras 2 layers, for fused TFLite LSTMs).

- ``crnn``: the reduced CRNN of Setiorini, Widjaja & Wicaksana (2024): three
  Conv2D(32) blocks (3x3, 3x3, 2x2; each MaxPool stride 2 + BatchNorm), the
  conv output as a sequence over time, optional Dropout 0.3, two BiLSTMs,
  Dense 64 ReLU, Dropout 0.3, softmax. The paper does not state the LSTM
  width; we use 64 units per direction (``lstm_units``).
- ``cnn``: Mirsepassi's CNN baseline (154,186 trainable parameters).
- ``lstm``: Mirsepassi's stacked LSTM baseline (159,946 parameters).
"""

from __future__ import annotations


MODELS = ("crnn", "cnn", "lstm")  # trained from scratch; "musicnn" (train/large.py) is a pretrained backbone


def _keras():
    import tf_keras as keras

    return keras


def _conv_blocks(layers, x, blocks):
    """Conv2D (valid, ReLU) -> MaxPool (stride 2, same) -> BatchNorm, per (filters, kernel, pool)."""
    for filters, kernel, pool in blocks:
        x = layers.Conv2D(filters, kernel, activation="relu")(x)
        x = layers.MaxPooling2D(pool, strides=2, padding="same")(x)
        x = layers.BatchNormalization()(x)
    return x


def _classifier_head(layers, x, n_classes: int, dropout_rate: float | None):
    """Dense 64 ReLU -> optional Dropout -> softmax over the genres."""
    x = layers.Dense(64, activation="relu", name="head")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate)(x)
    return layers.Dense(n_classes, activation="softmax", name="genre")(x)


def build_crnn(input_shape: tuple[int, int], n_classes: int, dropout: bool = True, lstm_units: int = 64):
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), batch_size=None, name="features")
    x = _conv_blocks(layers, inp, ((32, 3, 3), (32, 3, 3), (32, 2, 2)))
    # (time, freq, channels) -> (time, freq * channels): the sequence the BiLSTMs read.
    x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    if dropout:
        x = layers.Dropout(0.3)(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(lstm_units))(x)
    return keras.Model(inp, _classifier_head(layers, x, n_classes, 0.3 if dropout else None), name="reduced_crnn")


def build_cnn(input_shape: tuple[int, int], n_classes: int, dropout: bool = True):
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = layers.Flatten()(_conv_blocks(layers, inp, ((128, 3, 3), (64, 3, 3), (64, 2, 2))))
    return keras.Model(inp, _classifier_head(layers, x, n_classes, 0.2 if dropout else None), name="mirsepassi_cnn")


def build_lstm(input_shape: tuple[int, int], n_classes: int, dropout: bool = True):
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(shape=(*input_shape, 1), name="features")
    x = layers.Reshape(input_shape)(inp)
    x = layers.LSTM(128, return_sequences=True)(x)
    x = layers.LSTM(64, return_sequences=True)(x)
    x = layers.LSTM(64)(x)
    return keras.Model(inp, _classifier_head(layers, x, n_classes, 0.3 if dropout else None), name="mirsepassi_lstm")


def build_model(name: str, input_shape: tuple[int, int], n_classes: int, dropout: bool = True, **kwargs):
    builders = {"crnn": build_crnn, "cnn": build_cnn, "lstm": build_lstm}
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return builders[name](input_shape, n_classes, dropout=dropout, **kwargs)


def with_embedding_head(model, dim: int):
    """A two-output copy of a genre model for distillation: the genre softmax and a linear
    ``teacher_embedding`` of ``dim`` values read from the 64-d ``head`` layer. The genre model
    itself (what is saved and exported) is ``keras.Model(model.input, model.get_layer("genre").output)``."""
    keras = _keras()
    embedding = keras.layers.Dense(dim, name="teacher_embedding")(model.get_layer("head").output)
    return keras.Model(model.input, [model.output, embedding], name=model.name + "_distill")


def predict_batch(config) -> int:
    """Windows per inference call for a model reading ``config``'s features: the large model's
    front-end activations take 9 MB a window (256 per eager call took a process past 19 GB)."""
    return 16 if config.kind == "musicnn" else 256


def trainable_parameters(model) -> int:
    import numpy as np

    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
