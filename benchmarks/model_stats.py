"""What the models and the front end cost: tensor memory and MACs read from the TFLite graph,
flops of the DSP per frame, a measured matmul peak, and the cost model relating them to the
measured latencies.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from edge_genre.config import FeatureConfig

from .common import rnd, run_probe


def constant_and_variable_tensors(path: Path) -> tuple[set[int], set[int]]:
    """Indices of the first subgraph's tensors stored in the file (weights) and its variable tensors."""
    from edge_genre.model_io import (BUFFER_DATA, BUFFER_OFFSET, MODEL_BUFFERS, MODEL_SUBGRAPHS, SUBGRAPH_TENSORS,
                                     TENSOR_BUFFER, TENSOR_IS_VARIABLE, FlatbufferTable)

    data = Path(path).read_bytes()
    root = FlatbufferTable.root(data)
    buffers = root.table_vector(MODEL_BUFFERS)
    subgraphs = root.table_vector(MODEL_SUBGRAPHS)
    consts, variables = set(), set()
    if not subgraphs:
        return consts, variables
    for i, tensor in enumerate(subgraphs[0].table_vector(SUBGRAPH_TENSORS)):
        b = tensor.uint32(TENSOR_BUFFER)
        if 0 < b < len(buffers):
            buf = buffers[b]
            has_data = buf.vector(BUFFER_DATA)[1] > 0
            offset_at = buf.field(BUFFER_OFFSET)
            has_offset = offset_at is not None and struct.unpack_from("<Q", data, offset_at)[0] > 1
            if has_data or has_offset:
                consts.add(i)
        flag_at = tensor.field(TENSOR_IS_VARIABLE)
        if flag_at is not None and data[flag_at]:
            variables.add(i)
    return consts, variables


def _ops(interpreter) -> list[dict]:
    """The model's own ops in graph order (delegate kernels, which replace some of them, left out)."""
    from edge_genre.model_io import op_details

    return [d for d in op_details(interpreter) if d["op_name"] != "DELEGATE"]


def model_graph_stats(interpreter, path: Path) -> dict[str, Any]:
    """MACs per window (conv, fully connected, LSTM gate matmuls) and tensor memory of an allocated interpreter."""
    tensors = {}
    for t in interpreter.get_tensor_details():
        shape = tuple(int(d) for d in t["shape"])
        tensors[int(t["index"])] = (shape, int(np.prod(shape, dtype=np.int64)) * np.dtype(t["dtype"]).itemsize)
    try:
        consts, variables = constant_and_variable_tensors(path)
    except (struct.error, IndexError, ValueError):
        consts, variables = set(), set()
    ops = _ops(interpreter)

    def shape(i: int) -> tuple[int, ...]:
        return tensors.get(int(i), ((), 0))[0]

    macs_by_op: dict[str, int] = {}
    other_elements = 0
    for op in ops:
        name, ins, outs = op["op_name"], [int(i) for i in op["inputs"]], [int(i) for i in op["outputs"]]
        out = shape(outs[0]) if outs else ()
        macs = 0
        if name == "CONV_2D" and len(ins) > 1:
            _, kh, kw, cin = shape(ins[1])
            macs = int(np.prod(out, dtype=np.int64)) * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D" and len(ins) > 1:
            _, kh, kw, _ = shape(ins[1])
            macs = int(np.prod(out, dtype=np.int64)) * kh * kw
        elif name == "FULLY_CONNECTED" and len(ins) > 1:
            units, n_in = shape(ins[1])
            rows = int(np.prod(shape(ins[0]), dtype=np.int64)) // max(n_in, 1)
            macs = rows * units * n_in
        elif name in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM",
                      "UNIDIRECTIONAL_SEQUENCE_RNN", "SEQUENCE_RNN", "RNN"):
            steps = int(np.prod(shape(ins[0])[:-1], dtype=np.int64)) or 1
            # Every 2-D constant operand is a gate (input, recurrent or projection) weight matrix.
            macs = steps * sum(int(np.prod(shape(i))) for i in ins[1:] if i >= 0 and i in consts and len(shape(i)) == 2)
        elif name == "BATCH_MATMUL" and len(ins) > 1:
            macs = int(np.prod(out, dtype=np.int64)) * shape(ins[0])[-1]
        else:
            other_elements += int(np.prod(out, dtype=np.int64)) if out else 0
        if macs:
            macs_by_op[name] = macs_by_op.get(name, 0) + macs

    # Tensor memory: weights (in the file), variable state, activations (all, and the peak of live ones).
    inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    outputs = {int(d["index"]) for d in interpreter.get_output_details()}
    first, last = {}, {}
    for pos, op in enumerate(ops):
        for i in op["outputs"]:
            first.setdefault(int(i), pos)
            last[int(i)] = max(last.get(int(i), pos), pos)
        for i in op["inputs"]:
            i = int(i)
            if i >= 0:
                last[i] = pos
    weights = sum(b for i, (_, b) in tensors.items() if i in consts)
    variable = sum(b for i, (_, b) in tensors.items() if i in variables)
    activation_ids = [i for i in tensors if i not in consts and i not in variables and (i in first or i in inputs)]
    activation_total = sum(tensors[i][1] for i in activation_ids)
    peak = 0
    for pos in range(len(ops)):
        live = sum(tensors[i][1] for i in activation_ids
                   if (0 if i in inputs else first.get(i, 0)) <= pos <= (len(ops) if i in outputs else last.get(i, pos)))
        peak = max(peak, live)
    return {
        "macs": int(sum(macs_by_op.values())),
        "macs_by_op": dict(sorted(macs_by_op.items())),
        "other_op_elements": int(other_elements),
        "weights_bytes": int(weights),
        "variable_bytes": int(variable),
        "activation_bytes_total": int(activation_total),
        "activation_bytes_peak": int(peak),
        "tensor_bytes_total": int(sum(b for _, b in tensors.values())),
        "ops": sorted({op["op_name"] for op in ops}),
    }


def model_entry(clf) -> dict[str, Any]:
    """``models.int8`` / ``models.float``: path, quantization, file size and :func:`model_graph_stats`."""
    entry = {"path": str(clf.path), "quantization": clf.info.extra.get("quantization") or ("int8" if clf.quantized else "float"),
             "size_bytes": int(clf.path.stat().st_size)}
    entry.update(model_graph_stats(clf.interpreter, clf.path))
    return entry


def empty_model_entry() -> dict[str, Any]:
    """A model entry of a model that is not there: every key null."""
    return {k: None for k in ("path", "quantization", "size_bytes", "macs", "macs_by_op", "other_op_elements",
                              "weights_bytes", "variable_bytes", "activation_bytes_total", "activation_bytes_peak",
                              "tensor_bytes_total", "ops")}


def dsp_cost(config: FeatureConfig) -> dict[str, Any]:
    """Arithmetic of the front end per frame: flops, counting a multiply-add as 2 and log10 as 1.

    The FFT uses the usual estimate of 2.5 N log2 N flops for a real FFT of N points (half of
    5 N log2 N for a complex one); the mel projection counts the filterbank's non-zero weights.
    """
    from edge_genre.dsp import FrontEnd

    front = FrontEnd.for_config(config)
    n = config.n_fft
    per_frame = {
        "window": n,
        "fft": int(round(2.5 * n * math.log2(n))),
        "power": 3 * (front.bin_hi - front.bin_lo),
        "mel": 2 * int(np.count_nonzero(front.mel_basis)),
        "log": config.n_mels,
    }
    per_frame_finish = {"top_db": 2 * config.n_mels, "dct": 2 * config.n_mfcc * config.n_mels if config.kind == "mfcc" else 0}
    return {"per_frame": per_frame, "per_frame_finish": per_frame_finish,
            "frame_flops": sum(per_frame.values()), "finish_flops": sum(per_frame_finish.values())}


def measure_peak(threads: int, n: int = 512, reps: int = 10) -> tuple[float | None, str]:
    """Float32 matmul GFLOP/s in a fresh process limited to ``threads`` threads (best of ``reps``)."""
    out, _, err = run_probe("matmul_peak", [str(n), str(reps)], threads, timeout=120)
    return (None, err) if out is None else (float(out["gflops"]), "")


def cost_model(result: dict[str, Any], config: FeatureConfig, threads: int, notes: list[str], measure: bool = True) -> dict[str, Any]:
    """Operation counts per window / hop and the achieved fraction of a measured float32 matmul peak."""
    dc = dsp_cost(config)
    frames_hop = result["dsp"].get("stream_frames_per_hop")
    window_flops = config.n_frames * (dc["frame_flops"] + dc["finish_flops"])
    hop_flops = frames_hop * dc["frame_flops"] + config.n_frames * dc["finish_flops"] if frames_hop else None
    peak = None
    if measure:
        peak, err = measure_peak(threads)
        if peak is None:
            notes.append(f"matmul peak measurement failed: {err}")
    cost: dict[str, Any] = {
        "peak_gflops": rnd(peak, 2), "peak_gmacs": rnd(peak / 2, 2) if peak else None,
        "peak_method": f"numpy float32 512x512 matmul, best of 10, {threads} thread(s), fresh process",
        "dsp_flops_per_frame": dc["frame_flops"], "dsp_finish_flops_per_frame": dc["finish_flops"],
        "dsp_flops_per_window": int(window_flops), "dsp_flops_per_hop": int(hop_flops) if hop_flops else None,
        "dsp_breakdown_per_frame": {**dc["per_frame"], **dc["per_frame_finish"]},
        "model_macs_int8": result["models"]["int8"]["macs"], "model_macs_float": result["models"]["float"]["macs"],
    }

    def rate(work: float | None, ms: float | None) -> float | None:
        return None if not work or not ms else work / (ms * 1e-3) / 1e9

    def frac(achieved: float | None, bound: float | None) -> float | None:
        return None if achieved is None or not bound else rnd(achieved / bound, 4)

    dsp = result["dsp"]
    for key, work, ms in (("dsp_batch", window_flops, dsp["edge_genre_batch"]["p50_ms"]),
                          ("dsp_stream", hop_flops, dsp["edge_genre_stream"]["p50_ms"])):
        g = rate(work, ms)
        cost[f"{key}_gflops"] = rnd(g, 3)
        cost[f"{key}_fraction_of_peak"] = frac(g, peak)
    for kind in ("int8", "float"):
        g = rate(result["models"][kind]["macs"], result["inference"][kind]["p50_ms"])
        cost[f"{kind}_gmacs"] = rnd(g, 3)
        cost[f"{kind}_fraction_of_peak"] = frac(g, peak / 2 if peak else None)
    return cost
