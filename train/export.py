"""Export a trained run to self-describing float and full-integer int8 TFLite models.

The int8 model is full-integer (int8 input and output, TFLITE_BUILTINS_INT8
only) and calibrated on training windows only. Its op list is checked against
the ops this project expects (the BiLSTMs must be fused
UNIDIRECTIONAL_SEQUENCE_LSTM ops); anything else fails the export. Both files
carry the labels and FeatureConfig in a metadata entry named ``edge_genre``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from edge_genre.errors import EdgeGenreError, ModelError
from edge_genre.evaluation import top1_agreement
from edge_genre.model_io import FORMAT_NAME, FORMAT_VERSION, METADATA_NAME, op_details
from edge_genre.paths import atomic_files, check_distinct_paths, check_output_dir

from . import reports
from .dataset import FeatureSet

# Ops a model of this project may contain once converted; anything else is a conversion problem.
EXPECTED_OPS = {
    "CONV_2D", "MAX_POOL_2D", "RESHAPE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "REVERSE_V2", "CONCATENATION",
    "FULLY_CONNECTED", "SOFTMAX", "MUL", "ADD", "STRIDED_SLICE", "SHAPE", "PACK", "TRANSPOSE", "SQUEEZE",
    "PAD", "MEAN", "REDUCE_MAX", "DEPTHWISE_CONV_2D",  # the large model (musicnn): padding, pooling, batch norms
}
FLOAT_ONLY_OPS = {"QUANTIZE", "DEQUANTIZE"}  # allowed in the float model only
CALIBRATION_WINDOWS = None  # all training windows (400 random ones gave 95 % float/int8 agreement, all gave 97 %)


class ExportError(EdgeGenreError):
    """The converter produced something this project will not ship."""


@contextlib.contextmanager
def _aligned_buffer_packing(schema):
    """Pack every Buffer's data 16-byte aligned, as the schema's force_align asks (TFLite Micro needs it).

    The generated Python object API ignores force_align; this swaps in an aligned Pack for the block.
    """
    original = schema.BufferT.Pack

    def pack(self, builder):
        data_offset = None
        if self.data is not None and len(self.data):
            payload = np.asarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), 16)
            builder.head -= len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            data_offset = builder.EndVector()
        schema.BufferStart(builder)
        if data_offset is not None:
            schema.BufferAddData(builder, data_offset)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)

    schema.BufferT.Pack = pack
    try:
        yield
    finally:
        schema.BufferT.Pack = original


def add_metadata(tflite: bytes, metadata: dict, name: str = METADATA_NAME) -> bytes:
    """Return ``tflite`` with a JSON metadata entry ``name`` (replacing one of the same name)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    model.buffers = model.buffers or []
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(metadata, sort_keys=True).encode("utf-8"), dtype=np.uint8)

    def entry_name(m) -> str:
        return m.name.decode() if isinstance(m.name, bytes) else m.name

    old = [m for m in (model.metadata or []) if entry_name(m) == name]
    if old and 0 <= old[0].buffer < len(model.buffers):
        model.buffers[old[0].buffer] = buf  # rewrite in place: replacing metadata never leaves a stale buffer
        index = old[0].buffer
    else:
        model.buffers.append(buf)
        index = len(model.buffers) - 1
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = index
    model.metadata = [m for m in (model.metadata or []) if entry_name(m) != name]
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(tflite) + 4096)
    with _aligned_buffer_packing(schema):
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def edge_genre_metadata(labels, config, **extra) -> dict:
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "labels": list(labels),
            "feature_config": config.to_dict(), **extra}


def op_names(tflite: bytes) -> list[str]:
    """Op names of a .tflite, in graph order (from the LiteRT interpreter)."""
    from ai_edge_litert.interpreter import Interpreter

    from edge_genre.model_io import native_stderr_silenced

    with native_stderr_silenced():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
        interp = Interpreter(model_content=tflite)
    return [d["op_name"] for d in op_details(interp)]


def check_ops(tflite: bytes, quantized: bool) -> list[str]:
    """Fail if the model holds ops we do not expect, float fallbacks in an int8 model, or un-fused LSTMs."""
    from ai_edge_litert.interpreter import Interpreter

    from edge_genre.model_io import native_stderr_silenced

    with native_stderr_silenced():
        interp = Interpreter(model_content=tflite)
    details = op_details(interp)
    ops = sorted({d["op_name"] for d in details})
    allowed = EXPECTED_OPS | (set() if quantized else FLOAT_ONLY_OPS)
    unexpected = sorted(set(ops) - allowed)
    if unexpected:
        raise ExportError(f"converted model has unexpected ops {unexpected} (WHILE means Keras 3 LSTMs: use tf-keras)")
    if quantized:
        tensors = {t["index"]: t for t in interp.get_tensor_details()}
        for d in details:
            for i in list(d["inputs"]) + list(d["outputs"]):
                if i >= 0 and i in tensors and tensors[i]["dtype"] == np.float32:
                    raise ExportError(f"int8 model has a float32 tensor '{tensors[i]['name']}' at op {d['op_name']} (float fallback)")
    return ops


def _concrete_function(model, input_shape):
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False))
    return fn.get_concrete_function(tf.TensorSpec([1, *input_shape, 1], tf.float32))


def convert(model, representative: np.ndarray | None, progress: bool = False) -> bytes:
    """Float model when ``representative`` is None, else full-integer int8 calibrated on it.

    The converter's own output is kept off the terminal unless ``train --verbose``
    (:mod:`train.quiet`); with ``progress`` the calibration reports its windows on stderr.
    """
    from .quiet import native_quiet

    with native_quiet(stdout=True) as terminal:
        return _convert(model, representative, progress, terminal)


def _convert(model, representative, progress, terminal) -> bytes:
    import tensorflow as tf

    from edge_genre.progress import Progress

    input_shape = tuple(model.input_shape[1:3])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([_concrete_function(model, input_shape)], model)
    if representative is not None:
        def gen():
            bar = Progress(len(representative), "int8 calibration", prefix="edge-genre train export",
                           enabled=progress, unit="windows", stream=terminal)
            with bar:
                for window in representative:
                    yield [window[np.newaxis, ..., np.newaxis].astype(np.float32)]
                    bar.update(1)

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


RUN_KEYS = ("features", "feature_config", "labels", "model", "windows", "clips")


def read_run_json(run_dir: Path) -> dict:
    """The ``run.json`` of a training run directory, checked; a damaged one is a :class:`ModelError`."""
    path = Path(run_dir) / "run.json"
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable run file ({type(exc).__name__}: {exc})") from None
    missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
    if missing:
        raise ModelError(f"{path}: not a complete run file (missing {', '.join(missing)}); re-run 'train fit'")
    return run


def load_keras_model(path: Path):
    """Load a run's ``model.keras`` with tf-keras; a missing or damaged file is a :class:`ModelError`."""
    import tf_keras as keras

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no Keras model (the run directory lacks model.keras; re-run 'train fit')")
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 - Keras and h5py raise many types
        raise ModelError(f"{path}: cannot load the Keras model ({type(exc).__name__}: {str(exc)[:200]})") from None


def load_run(run_dir: Path) -> tuple[dict, FeatureSet]:
    """A run's checked ``run.json`` and the feature set it was trained on."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        sub = sorted(run_dir.glob("fold*/run.json"))
        hint = f" (a k-fold run: export one fold, e.g. {sub[0].parent})" if sub else ""
        raise ModelError(f"{run_dir}: not a run directory (no run.json){hint}")
    run = read_run_json(run_dir)
    fs = FeatureSet.load(Path(run["features"]))
    return run, fs


def no_xnnpack_for(run: dict) -> dict:
    """Metadata that turns XNNPACK off for the large model's int8 file (same speed, 74 MB less RAM)."""
    return {"xnnpack": False} if run["model"] == "musicnn" else {}


def export_run(run_dir: Path, out_dir: Path, name: str = "model", calibration_windows: int | None = CALIBRATION_WINDOWS,
               seed: int = 0, extra_metadata: dict | None = None, trust: bool = True, not_music_dir: Path | None = None,
               progress: bool = False, temperature_from: Path | None = None) -> dict:
    """Write ``<name>_float.tflite`` and ``<name>_int8.tflite`` for a run; returns a report dict.

    With ``trust`` (the default) both files also get the calibration temperature and the music
    detector, fitted on the int8 file's own outputs (:func:`train.trust.calibrate_run`), and
    ``trust.md``, ``trust.json`` and ``reliability.png`` report them on the held-out songs. With
    ``progress`` each step (loading, float conversion, int8 calibration and conversion, held-out
    evaluation, trust) is reported on stderr (:mod:`edge_genre.progress`). All files are written
    all or nothing (:func:`edge_genre.paths.atomic_files`).
    """
    from edge_genre.progress import Progress

    def stage(desc: str) -> Progress:
        return Progress(None, desc, prefix="edge-genre train export", enabled=progress)

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    outputs = {f"--out's {name}_{kind}": out_dir / f"{name}_{kind}" for kind in ("float.tflite", "int8.tflite", "export.json")}
    check_distinct_paths({f"the run's {n}": Path(run_dir) / n for n in ("model.keras", "run.json", "metrics.json")},
                         outputs)
    check_output_dir(out_dir)
    temperature = None
    if trust and temperature_from:
        from .trust import read_temperature

        try:
            temperature = read_temperature(temperature_from)  # a bad report fails before any work
        except ValueError as exc:
            raise ModelError(str(exc)) from None
    with stage(f"loading {run_dir}"):
        run, fs = load_run(run_dir)
        model = load_keras_model(run_dir / "model.keras")
    train_idx = np.asarray(run["windows"]["train"], dtype=int)
    held_out = np.asarray(run["windows"]["test"], dtype=int)
    rng = np.random.default_rng(seed)
    calib = fs.x[rng.permutation(train_idx)[:calibration_windows]]  # training windows only, never test

    fit_config = run.get("fit_config", {})
    meta = edge_genre_metadata(
        fs.labels, fs.config, architecture=run["model"],
        trained_on=fs.source_names,
        split=fit_config.get("split"), training=fit_config,
        # Clips the model never saw (its test side): what an honest evaluation of this file may use.
        held_out_clips=run["clips"]["test"],
        **(extra_metadata or {}))
    report: dict = {"run": str(run_dir), "held_out_windows": int(held_out.size)}
    # All or nothing: both models and the reports are written (and evaluated) in a temporary folder
    # beside out_dir, then renamed into it; a full disk leaves the previous set intact.
    with atomic_files(out_dir) as tmp:
        paths = _write_models(run, fs, model, meta, calib, held_out, name, tmp, out_dir, report, stage, progress)
        if trust:
            _add_trust(run, fs, paths, name, tmp, report, stage, seed, not_music_dir, temperature)
        (tmp / f"{name}_export.json").write_text(json.dumps(report, indent=2))
    return report


def _write_models(run, fs, model, meta, calib, held_out, name: str, tmp: Path, out_dir: Path, report: dict, stage,
                  progress: bool) -> dict[str, Path]:
    """The two models into ``tmp`` and their held-out figures into ``report`` (which names their
    final paths in ``out_dir``); returns kind -> path in ``tmp``."""
    from edge_genre.classifier import GenreClassifier

    paths = {}
    for kind, representative in (("float", None), ("int8", calib)):
        with stage(f"{kind} conversion" + (f" ({len(calib)} calibration windows)" if kind == "int8" else "")):
            raw = convert(model, representative, progress=progress)
        ops = check_ops(raw, quantized=kind == "int8")
        # The large model's int8 file runs as fast with LiteRT's builtin kernels as with XNNPACK, in
        # 74 MB less RAM (XNNPACK repacks its large convolutions): the runtime then skips XNNPACK.
        no_xnnpack = no_xnnpack_for(run) if kind == "int8" else {}
        data = add_metadata(raw, {**meta, "quantization": kind, **no_xnnpack})
        path = tmp / f"{name}_{kind}.tflite"
        path.write_bytes(data)
        paths[kind] = path
        report[kind] = {"path": str(out_dir / path.name), "size_bytes": len(data), "ops": ops}

    # Accuracy of both through the runtime (our quantization of the features) on held-out windows.
    if held_out.size:
        with stage(f"held-out evaluation ({held_out.size} windows)"):
            probs = {}
            for kind, path in paths.items():
                clf = GenreClassifier(path)
                probs[kind] = clf.predict(fs.x[held_out], calibrated=False)
                report[kind]["accuracy"] = float((probs[kind].argmax(1) == fs.y[held_out]).mean())
                if kind == "int8":
                    report[kind]["input_quantization"] = {"scale": clf.input_spec.scale,
                                                          "zero_point": clf.input_spec.zero_point}
                    report[kind]["output_quantization"] = {"scale": clf.output_spec.scale,
                                                           "zero_point": clf.output_spec.zero_point}
            keras_probs = model.predict(fs.x[held_out][..., np.newaxis], verbose=0, batch_size=256)
        report["keras_accuracy"] = float((keras_probs.argmax(1) == fs.y[held_out]).mean())
        report["top1_agreement"] = top1_agreement(probs["float"], probs["int8"])
        # Songs: the argmax of the mean of a song's window probabilities, as classify does.
        songs = {kind: reports.evaluate(p, fs.y[held_out], fs.clip[held_out], fs.labels) for kind, p in probs.items()}
        report["held_out_songs"] = songs["int8"]["tracks"]
        for kind, metrics in songs.items():
            report[kind]["song_accuracy"] = metrics["track_accuracy"]
        pairs = zip(songs["float"]["track_predictions"].values(), songs["int8"]["track_predictions"].values())
        report["song_agreement"] = float(np.mean([a[1] == b[1] for a, b in pairs]))
    return paths


def _add_trust(run, fs, paths: dict[str, Path], name: str, tmp: Path, report: dict, stage, seed: int,
               not_music_dir: Path | None, temperature) -> None:
    """Fit the temperature and the music detector on the int8 file's outputs, store both in the
    two files and write trust.md / trust.json / reliability.png beside them."""
    from .trust import run_protocol, trust_for_run, write_into_models, write_summary

    with stage("calibration temperature and not-music detector (generating non-music, degrading songs)"):
        entries, summary = trust_for_run(run, fs, paths["int8"], not_music_dir, temperature, seed, progress=False)
    write_into_models(list(paths.values()), entries)
    for kind, path in paths.items():
        report[kind]["size_bytes"] = path.stat().st_size
    protocol = run_protocol(run)
    summary = write_summary(summary, tmp, protocol, f"{name}_int8.tflite: {protocol}")
    report["trust"] = {"temperature": entries["calibration"]["temperature"],
                       "music_threshold": entries["music_detector"]["threshold"], **summary}
