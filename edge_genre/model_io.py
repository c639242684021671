"""Model files: edge-genre metadata inside .tflite, and the interpreter backends.

Every model this project exports is a TFLite flatbuffer with a metadata entry
named ``edge_genre`` holding JSON: labels, the :class:`FeatureConfig`, and a
description of the model. This module reads it with a small flatbuffer
reader (no TensorFlow, no flatbuffers package) and opens the interpreter:
``ai_edge_litert``, else ``tflite_runtime``, else ``tensorflow.lite``.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .config import FeatureConfig
from .errors import ConfigError, ModelError
from .paths import read_bytes_limited, require_regular_file

METADATA_NAME = "edge_genre"
FORMAT_NAME = "edge-genre-model"
FORMAT_VERSION = 1
# Shipped models: the default reduced CRNN (int8, and its float reference) and the large model
# (musicnn backbone + genre head, for Pi 4/5-class devices; int8, and its float reference).
BUILTIN_MODELS = {"int8": "genre_crnn_int8.tflite", "float": "genre_crnn_float.tflite",
                  "large": "genre_musicnn_int8.tflite", "large-float": "genre_musicnn_float.tflite"}
FLOAT_REFERENCES = {"int8": "float", "large": "large-float"}  # each shipped int8 model's float twin
MODEL_CHOICES = "int8|float|large|large-float|PATH"
MAX_MODEL_BYTES = 128 * 2**20  # the shipped models are 0.2-4 MB; a larger "model" is refused unread
# Outcomes the runtime reports in place of a genre: a model may not use them as labels.
RESERVED_LABELS = ("silence", "not_music", "uncertain")  # outcomes of the runtime, never a model's label
MAX_METADATA_BYTES = 1 << 20  # the JSON of a real model is a few kB
MAX_LABELS = 1000
MAX_LABEL_CHARS = 100
# Optional descriptive fields the commands read, with the types they must have (others are kept as they are).
_OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {
    "architecture": (str,), "trained_on": (str,), "split": (str,), "quantization": (str,),
    "held_out_clips": (list,), "training": (dict,), "xnnpack": (bool,)}

# Field indices in the TFLite schema (tensorflow/lite/schema/schema.fbs), for FlatbufferTable.
MODEL_SUBGRAPHS, MODEL_BUFFERS, MODEL_METADATA = 2, 4, 6
SUBGRAPH_TENSORS = 0
TENSOR_BUFFER, TENSOR_IS_VARIABLE = 2, 5
METADATA_NAME_FIELD, METADATA_BUFFER = 0, 1
BUFFER_DATA, BUFFER_OFFSET = 0, 1


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself."""

    path: Path
    labels: tuple[str, ...]
    config: FeatureConfig
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


class FlatbufferTable:
    """Just enough of a flatbuffer table reader for a TFLite file (no flatbuffers package).

    ``FlatbufferTable.root(data)`` is the ``Model`` table; fields are read by their index in
    ``schema.fbs`` (the ``MODEL_*``, ``SUBGRAPH_*``, ``TENSOR_*``, ``BUFFER_*`` constants here).
    Out-of-range reads raise ``struct.error`` or ``IndexError``.
    """

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vtable = vtable
        self._vtable_len = struct.unpack_from("<H", buf, vtable)[0]

    @classmethod
    def root(cls, data: bytes) -> "FlatbufferTable":
        """The root table of a flatbuffer (a TFLite ``Model``)."""
        return cls(data, struct.unpack_from("<I", data, 0)[0])

    def field(self, index: int) -> int | None:
        """Byte position of field ``index`` in the buffer, None when the field is absent."""
        return self._field(index)

    def _field(self, index: int) -> int | None:
        slot = 4 + 2 * index
        if slot >= self._vtable_len:
            return None
        rel = struct.unpack_from("<H", self.buf, self._vtable + slot)[0]
        return self.pos + rel if rel else None

    def _indirect(self, at: int) -> int:
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def uint32(self, index: int, default: int = 0) -> int:
        at = self._field(index)
        return default if at is None else struct.unpack_from("<I", self.buf, at)[0]

    def vector(self, index: int) -> tuple[int, int]:
        """(position of first element, length) of a vector field, (0, 0) when absent."""
        at = self._field(index)
        if at is None:
            return 0, 0
        vec = self._indirect(at)
        return vec + 4, struct.unpack_from("<I", self.buf, vec)[0]

    def table_vector(self, index: int) -> list["FlatbufferTable"]:
        start, n = self.vector(index)
        return [FlatbufferTable(self.buf, self._indirect(start + 4 * i)) for i in range(n)]

    def string(self, index: int) -> str:
        start, n = self.vector(index)
        return self.buf[start : start + n].decode("utf-8", "replace")

    def bytes_(self, index: int) -> bytes:
        start, n = self.vector(index)
        return self.buf[start : start + n]


def read_tflite_metadata(data: bytes) -> dict[str, bytes]:
    """All ``name -> bytes`` metadata entries of a TFLite flatbuffer."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError("not a TFLite model (no TFL3 file identifier)")
    try:
        model = FlatbufferTable.root(data)
        buffers = model.table_vector(MODEL_BUFFERS)
        entries = {}
        for meta in model.table_vector(MODEL_METADATA):
            index = meta.uint32(METADATA_BUFFER)
            if index < len(buffers):
                entries[meta.string(METADATA_NAME_FIELD)] = buffers[index].bytes_(BUFFER_DATA)
        return entries
    except (struct.error, IndexError) as exc:
        raise ModelError(f"corrupt TFLite flatbuffer ({exc})") from None


def parse_edge_genre_metadata(blob: bytes) -> dict[str, Any]:
    """Decode and validate the JSON of the ``edge_genre`` metadata entry."""
    try:
        meta = json.loads(blob.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError) as exc:  # bad UTF-8 / JSON, 5000-digit numbers, deep nesting
        why = "nested too deeply" if isinstance(exc, RecursionError) else "too large" if isinstance(exc, MemoryError) \
            else "not valid JSON" if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else "not usable JSON"
        raise ModelError(f"edge_genre metadata is {why}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelError("edge_genre metadata has an unknown format")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"model format version {meta.get('format_version')} is not supported "
            f"(this edge-genre reads version {FORMAT_VERSION})"
        )
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelError("edge_genre metadata has no label list")
    check_labels(labels)
    for key, types in _OPTIONAL_FIELDS.items():
        value = meta.get(key)
        if value is not None and not isinstance(value, types):
            raise ModelError(f"edge_genre metadata field {key!r} must be {' or '.join(t.__name__ for t in types)}, "
                             f"got {type(value).__name__}")
    if meta.get("held_out_clips") is not None and not all(isinstance(c, str) for c in meta["held_out_clips"]):
        raise ModelError("edge_genre metadata field 'held_out_clips' must list clip names")
    return meta


def check_labels(labels: list[str] | tuple[str, ...]) -> None:
    """Refuse labels the runtime could confuse with its own outcomes or cannot show.

    Reserved words (:data:`RESERVED_LABELS`, any case), empty, duplicate, over-long or
    multi-line labels are a :class:`ModelError`.
    """
    if not 1 <= len(labels) <= MAX_LABELS:
        raise ModelError(f"edge_genre metadata has {len(labels)} labels; 1 to {MAX_LABELS} are supported")
    seen = set()
    for label in labels:
        key = label.strip().lower()
        if key in RESERVED_LABELS:
            raise ModelError(f"label {label!r} is reserved (edge-genre reports {' and '.join(map(repr, RESERVED_LABELS))} "
                             "itself); rename that class and export again")
        if not key or len(label) > MAX_LABEL_CHARS or not label.isprintable():
            raise ModelError(f"label {label[:MAX_LABEL_CHARS]!r} is empty, longer than {MAX_LABEL_CHARS} characters "
                             "or not printable")
        if key in seen:
            raise ModelError(f"label {label!r} appears twice")
        seen.add(key)


def resolve_model_path(model: str | os.PathLike) -> Path:
    """``"int8"`` / ``"float"`` name the shipped default models, ``"large"`` / ``"large-float"`` the
    shipped large ones; anything else is a path."""
    if isinstance(model, str) and model in BUILTIN_MODELS:
        path = Path(str(resources.files("edge_genre.models").joinpath(BUILTIN_MODELS[model])))
        if not path.exists():
            raise ModelError(f"the shipped {model} model is missing from this installation ({path})")
        return path
    path = Path(model)
    if not path.exists():
        raise ModelError(f"{path}: no such model file (use 'int8', 'float', 'large', 'large-float' or a .tflite path)")
    return require_regular_file(path, ModelError, "model file")


def read_model_info(model: str | os.PathLike) -> ModelInfo:
    """Read labels and feature configuration from an edge-genre .tflite file."""
    path = resolve_model_path(model)
    data = read_bytes_limited(path, MAX_MODEL_BYTES, ModelError, "model file")
    try:
        entries = read_tflite_metadata(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    if METADATA_NAME not in entries:
        raise ModelError(
            f"{path}: a TFLite model without edge-genre metadata (labels and feature configuration); "
            "export models with 'edge-genre train export'"
        )
    if len(entries[METADATA_NAME]) > MAX_METADATA_BYTES:
        raise ModelError(f"{path}: edge_genre metadata of {len(entries[METADATA_NAME])} bytes; at most "
                         f"{MAX_METADATA_BYTES} are read")
    try:
        meta = parse_edge_genre_metadata(entries[METADATA_NAME])
        config = FeatureConfig.from_dict(meta.get("feature_config"))
        config.check_mel_filters()
    except (ModelError, ConfigError) as exc:
        raise ModelError(f"{path}: {exc}") from None
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:  # any other bad value
        raise ModelError(f"{path}: edge_genre metadata is invalid ({type(exc).__name__})") from None
    extra = {k: v for k, v in meta.items() if k not in ("labels", "feature_config")}
    return ModelInfo(path=path, labels=tuple(meta["labels"]), config=config, extra=extra)


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what native code writes to file descriptor 2 to /dev/null for the duration (LiteRT's
    ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` at every model load). Python-level
    errors are unaffected: they are raised as exceptions and reported after the block."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def make_interpreter(path: Path, num_threads: int = 1, default_delegates: bool = True) -> tuple[Any, str]:
    """Open a TFLite interpreter with the first backend available; returns (interpreter, backend name).

    ``default_delegates=False`` runs the builtin kernels without XNNPACK (a model's metadata asks
    for it with ``"xnnpack": false``: for the large model XNNPACK took 74 MB more RAM for no speed).
    """
    errors = []
    for module_name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite"):
        try:
            module = __import__(module_name, fromlist=["Interpreter"])
        except ImportError as exc:
            errors.append(f"{module_name}: {exc}")
            continue
        backend = module_name.split(".")[0]
        options = {}
        if not default_delegates and hasattr(module, "OpResolverType"):
            options["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            with native_stderr_silenced():
                return module.Interpreter(model_path=str(path), num_threads=num_threads, **options), backend
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: the {backend} interpreter cannot load it ({exc})") from None
    raise ModelError(
        "no TFLite interpreter installed: pip install ai-edge-litert (or tflite-runtime); " + "; ".join(errors)
    )


def op_details(interpreter: Any) -> list[dict]:
    """The ops of an interpreter's graph in order (``op_name``, ``inputs``, ``outputs`` ...).

    The one place that reads LiteRT's private ``_get_ops_details`` (no public equivalent exists);
    an interpreter without it gives an empty list. Delegate nodes (``DELEGATE``: XNNPACK's
    replacement of some ops) are included; :func:`op_names` leaves them out.
    """
    getter = getattr(interpreter, "_get_ops_details", None)
    return list(getter()) if getter is not None else []


def op_names(interpreter: Any) -> list[str]:
    """Sorted names of the model's own ops (delegate nodes left out)."""
    return sorted({d["op_name"] for d in op_details(interpreter)} - {"DELEGATE"})
