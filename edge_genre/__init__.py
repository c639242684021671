"""edge-genre: real-time music-genre classification for Raspberry-Pi-class devices.

The runtime is NumPy plus a LiteRT interpreter; it never imports TensorFlow
or librosa. Public API:

- :class:`FeatureConfig`: the front-end parameters carried inside each model.
- :func:`mfcc`, :func:`log_mel`, :func:`window_features`: NumPy front end equal to librosa.
- :class:`StreamingMFCC`: incremental features of a live stream.
- :func:`load_audio`: decode, downmix and resample a file.
- :class:`GenreClassifier`: a self-describing int8/float TFLite classifier.
"""

from .blas import limit_blas_threads

limit_blas_threads()  # before NumPy loads: one BLAS thread unless the user set one (see edge_genre.blas)

from .audio import load_audio  # noqa: E402
from .config import FeatureConfig  # noqa: E402
from .dsp import log_mel, mfcc, window_features  # noqa: E402
from .errors import AudioError, ConfigError, DeviceError, EdgeGenreError, ModelError  # noqa: E402
from .streaming import StreamingMFCC  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "ConfigError",
    "DeviceError",
    "EdgeGenreError",
    "FeatureConfig",
    "GenreClassifier",
    "ModelError",
    "StreamingMFCC",
    "load_audio",
    "log_mel",
    "mfcc",
    "window_features",
]


def __getattr__(name: str):
    # The classifier pulls in the interpreter; import it only when asked for.
    if name == "GenreClassifier":
        from .classifier import GenreClassifier

        return GenreClassifier
    raise AttributeError(f"module 'edge_genre' has no attribute {name!r}")
