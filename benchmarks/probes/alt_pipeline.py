"""Probe: the TensorFlow + librosa pipeline doing the runtime's job, for its peak RSS and wall time.

``python -m benchmarks.probes.alt_pipeline MODE MODEL CLIP CONFIG_JSON THREADS``: ``librosa.load``,
the model's front end in librosa, then Keras ``model.predict`` (MODE ``keras``) or a float
``tf.lite.Interpreter`` (MODE ``tflite``) per window; prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from benchmarks.rss import peak_rss_kb


def librosa_windows(wav: str, cfg: dict[str, Any]) -> Any:
    """The clip's windows as a (windows, frames, features, 1) float32 batch, computed with librosa."""
    import librosa
    import numpy as np

    sr, n = cfg["sample_rate"], int(round(cfg["window_seconds"] * cfg["sample_rate"]))
    y, _ = librosa.load(wav, sr=sr)
    wins = [y[i * n:(i + 1) * n] for i in range(len(y) // n)] or [np.pad(y, (0, n - len(y)))]

    def feats(w):
        kw = dict(n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], n_mels=cfg["n_mels"], fmin=cfg["fmin"], fmax=cfg["fmax"])
        db = librosa.power_to_db(librosa.feature.melspectrogram(y=w, sr=sr, **kw), top_db=cfg["top_db"])
        if cfg["normalization"] == "level":
            db = db - db.mean()
        f = (librosa.feature.mfcc(S=db, n_mfcc=cfg["n_mfcc"]) if cfg["kind"] == "mfcc" else db).T
        if cfg["normalization"] == "window":
            f = (f - f.mean(0)) / np.maximum(f.std(0), 1e-5)
        return f.astype(np.float32)

    return np.stack([feats(w) for w in wins])[..., None]


def predict(mode: str, model_path: str, x: Any, threads: int) -> Any:
    """Per-window outputs of the Keras model (``keras``) or the float TFLite model (``tflite``)."""
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if mode == "keras":
        try:
            import tf_keras as keras
        except ImportError:
            keras = tf.keras
        model = keras.models.load_model(model_path, compile=False)
        return model.predict(x, verbose=0)
    interp = tf.lite.Interpreter(model_path=model_path, num_threads=threads)
    interp.allocate_tensors()
    i_in, i_out = interp.get_input_details()[0], interp.get_output_details()[0]
    probs = []
    for w in x:
        interp.reset_all_variables()
        interp.set_tensor(i_in["index"], w[None].astype(np.float32))
        interp.invoke()
        probs.append(interp.get_tensor(i_out["index"])[0].copy())
    return np.array(probs)


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline on the clip and print peak RSS, wall time, the clip's genre index and window count."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    mode, model_path, wav, cfg_json, threads = sys.argv[1:6] if argv is None else argv
    cfg, threads = json.loads(cfg_json), int(threads)
    import numpy as np

    x = librosa_windows(wav, cfg)
    probs = predict(mode, model_path, x, threads)
    genre = int(np.argmax(probs.mean(0)))
    print(json.dumps({"maxrss_kb": peak_rss_kb(), "wall_s": time.perf_counter() - t0,
                      "genre_index": genre, "windows": len(x)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
