"""TensorFlow Lite Micro side of the export: op list, resolver snippet, arena size, reference runs.

Uses the ``tflite_micro`` Python package (the TFLM interpreter with all
builtin kernels, built for the host) and its flatbuffer schema; TensorFlow is
not needed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from edge_genre.errors import ModelError

# BuiltinOperator name -> MicroMutableOpResolver method (tensorflow/lite/micro/micro_mutable_op_resolver.h).
RESOLVER_METHODS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "ELU": "AddElu", "EQUAL": "AddEqual", "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor", "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax",
    "MAXIMUM": "AddMaximum", "MAX_POOL_2D": "AddMaxPool2D", "MIRROR_PAD": "AddMirrorPad", "MEAN": "AddMean",
    "MINIMUM": "AddMinimum", "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack",
    "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable", "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQUEEZE": "AddSqueeze", "SQRT": "AddSqrt",
    "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference", "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE_CONV": "AddTransposeConv",
    "TRANSPOSE": "AddTranspose", "UNPACK": "AddUnpack",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}

ARENA_ALIGNMENT = 16


def _schema():
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            f"export-firmware needs the TFLite Micro Python package (pip install tflite-micro): {exc}"
        ) from None
    return schema


def runtime():
    """The TFLite Micro Python runtime (``tflite_micro``), or a one-line :class:`ModelError`."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            f"export-firmware needs the TFLite Micro Python package (pip install tflite-micro): {exc}"
        ) from None
    return runtime


def model_ops(model_bytes: bytes) -> list[str]:
    """Builtin op names the model's operators use (all subgraphs), sorted; custom ops are an error."""
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    try:
        model = schema.Model.GetRootAs(bytearray(model_bytes), 0)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            custom = oc.CustomCode()
            codes.append((code, custom.decode("utf-8", "replace") if custom else None))
        used = set()
        for s in range(model.SubgraphsLength()):
            graph = model.Subgraphs(s)
            for o in range(graph.OperatorsLength()):
                used.add(graph.Operators(o).OpcodeIndex())
    except Exception as exc:  # flatbuffers raises assorted errors on corrupt input
        raise ModelError(f"cannot read the operators of the model ({exc})") from None
    ops = set()
    for index in used:
        code, custom = codes[index]
        if code == schema.BuiltinOperator.CUSTOM:
            raise ModelError(f"the model uses the custom op '{custom}', which TFLite Micro cannot resolve by name here")
        ops.add(names.get(code, f"BUILTIN_{code}"))
    return sorted(ops)


def resolver_methods(ops: list[str]) -> list[str]:
    """MicroMutableOpResolver ``Add...`` methods for ``ops``; an op TFLM has no kernel for is a ModelError."""
    missing = [op for op in ops if op not in RESOLVER_METHODS]
    if missing:
        raise ModelError(
            f"TFLite Micro has no kernel for {', '.join(missing)} (MicroMutableOpResolver offers no Add method); "
            "change the model so the converter does not emit it"
        )
    return [RESOLVER_METHODS[op] for op in ops]


@contextlib.contextmanager
def _captured_native_output():
    """Capture what native code writes to fds 1 and 2 (TFLM logs with printf); yields a reader."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text: list[str] = []
        try:
            yield text
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            sink.seek(0)
            text.append(sink.read().decode("utf-8", "replace"))


def _try_interpreter(model_bytes: bytes, arena_size: int, invoke: bool = True):
    """(interpreter, None) when TFLM allocates (and invokes) with ``arena_size``, else (None, log text)."""
    runtime_module = runtime()
    with _captured_native_output() as log:
        try:
            interp = runtime_module.Interpreter.from_bytes(model_bytes, arena_size=int(arena_size))
            if invoke:
                details = interp.get_input_details(0)
                interp.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
                interp.invoke()
                interp.reset()
            result = interp
        except (RuntimeError, ValueError):
            result = None
    return (result, None) if result is not None else (None, "".join(log).strip())


@dataclass(frozen=True)
class ArenaMeasurement:
    """Tensor arena need of a model in the TFLM host interpreter."""

    needed: int  # smallest arena (bytes) with which the interpreter allocates and invokes
    recorded_total: int | None  # RecordingMicroAllocator's "Arena allocation total"
    recorded_head: int | None
    recorded_tail: int | None


def measure_arena(model_bytes: bytes) -> ArenaMeasurement:
    """Smallest working arena by bisection, cross-checked with the recording allocator's figures."""
    upper = max(64 * 1024, 4 * len(model_bytes))
    interp, log = _try_interpreter(model_bytes, upper)
    while interp is None:
        # TFLM reports a short arena as "... Requested: N, available M, missing: K"; anything else is fatal.
        if upper >= 256 * 1024 * 1024 or not re.search(r"missing: \d+|available", log or ""):
            first = next((line for line in (log or "").splitlines() if line.strip()), "no message")
            raise ModelError(f"TFLite Micro cannot run this model: {first}")
        upper *= 4
        interp, log = _try_interpreter(model_bytes, upper)
    with _captured_native_output() as out:
        interp.print_allocations()
    report = "".join(out)

    def recorded(what: str) -> int | None:
        match = re.search(rf"Arena allocation {what} (\d+) bytes", report)
        return int(match.group(1)) if match else None

    lo, hi = 0, upper  # lo fails (or is 0), hi works
    total = recorded("total")
    if total is not None and total < hi:
        # Start the bisection near the recorded figure; it is within alignment slack of the need.
        probe_hi, probe_lo = total + 256, max(0, total - 4096)
        if _try_interpreter(model_bytes, probe_hi)[0] is not None:
            hi = probe_hi
        if probe_lo and _try_interpreter(model_bytes, probe_lo)[0] is None:
            lo = probe_lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _try_interpreter(model_bytes, mid)[0] is not None:
            hi = mid
        else:
            lo = mid
    return ArenaMeasurement(hi, total, recorded("head"), recorded("tail"))


def arena_with_margin(needed: int, fraction: float = 0.10, extra: int = 1024) -> int:
    """``needed * (1 + fraction) + extra`` rounded up to a multiple of 16 bytes."""
    size = int(np.ceil(needed * (1.0 + fraction))) + int(extra)
    return -(-size // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


class TflmModel:
    """A model in the TFLM host interpreter; :meth:`run` starts every window from a reset state."""

    def __init__(self, model_bytes: bytes, arena_size: int) -> None:
        interp, log = _try_interpreter(model_bytes, arena_size, invoke=False)
        if interp is None:
            raise ModelError(f"TFLite Micro cannot allocate the model in {arena_size} bytes: {log or 'no message'}")
        self.interpreter = interp
        self.input = interp.get_input_details(0)
        self.output = interp.get_output_details(0)

    def run(self, model_input: np.ndarray) -> np.ndarray:
        """Raw output tensor (e.g. int8 scores) of one quantised input window."""
        x = np.asarray(model_input, dtype=self.input["dtype"]).reshape(self.input["shape"])
        # LSTM states are variable tensors that survive Invoke(): reset them, as MicroInterpreter::Reset() does.
        self.interpreter.reset()
        self.interpreter.set_input(x, 0)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_output(0)).reshape(-1)
