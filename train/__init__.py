"""Desktop training for edge-genre (TensorFlow with Keras 2 layers).

Keras 3 LSTMs do not convert to the fused TFLite LSTM op (they become WHILE
loops that crash the int8 calibrator); tf-keras (Keras 2) LSTMs convert to
UNIDIRECTIONAL_SEQUENCE_LSTM and quantize cleanly. So this package selects
legacy Keras before TensorFlow is imported anywhere.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
