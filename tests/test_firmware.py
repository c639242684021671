"""Firmware export: C sources for TensorFlow Lite Micro, checked against the Python reference.

A small CRNN in the spirit of the shipped model (Conv2D/MaxPool/BatchNorm x3,
two BiLSTMs, Dense) is trained for a moment on synthetic "genres", converted to
full-integer int8 and exported once per session. The checks:

- the C front end (gcc -std=c99 -Wall -Wextra -Werror) against the NumPy
  features on the test vectors, on edge cases and on other configurations;
- the generated tables, model bytes and test vectors bit for bit against
  their Python sources;
- the op list and the MicroMutableOpResolver snippet against LiteRT's op list
  (compiled against a stand-in resolver header);
- the TFLite Micro interpreter against LiteRT on held-out windows (top-1
  agreement, largest int8 output difference, op by op);
- the arena size written to the header (sufficient, at most 25 % above need).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite_micro", reason="the firmware export needs the tflite-micro package (dev extra)")

from edge_genre.config import FeatureConfig  # noqa: E402
from edge_genre.dsp import window_features  # noqa: E402
from edge_genre.errors import ModelError  # noqa: E402
from edge_genre.model_io import op_details  # noqa: E402
from firmware_export import tflm  # noqa: E402
from firmware_export.codegen import read_c_array, read_c_define  # noqa: E402
from firmware_export.export import (  # noqa: E402
    compare_ops_with_litert,
    compare_with_litert,
    export_firmware,
    write_front_end,
)

GCC = shutil.which("gcc")
GXX = shutil.which("g++")
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not installed")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ not installed")

# MicroMutableOpResolver method of each op a model of this project may hold
# (tensorflow/lite/micro/micro_mutable_op_resolver.h), written out by hand.
TFLM_METHODS = {
    "ADD": "AddAdd", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "FULLY_CONNECTED": "AddFullyConnected", "MAX_POOL_2D": "AddMaxPool2D", "MUL": "AddMul",
    "PACK": "AddPack", "RESHAPE": "AddReshape", "REVERSE_V2": "AddReverseV2", "SHAPE": "AddShape",
    "SOFTMAX": "AddSoftmax", "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice",
    "TRANSPOSE": "AddTranspose", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def compile_c(out: Path, sources: list[Path], exe: Path, extra: list[str] = ()) -> Path:
    cmd = [GCC, *CFLAGS, *extra, *map(str, sources), "-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return exe


def edge_case_windows(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """int16 windows that stress the front end: silence (c0 near -1130), 1-LSB noise, clipping, impulses."""
    t = np.arange(n)
    impulse = np.zeros(n, np.int16)
    impulse[n // 2] = 32767
    burst = np.zeros(n, np.int16)
    burst[:2000] = rng.integers(-20000, 20000, 2000)
    return {
        "silence": np.zeros(n, np.int16),
        "lsb_noise": rng.integers(-1, 2, n).astype(np.int16),
        "clipped_square": np.where(np.sin(t * 0.05) >= 0, 32767, -32768).astype(np.int16),
        "impulse": impulse,
        "burst_at_start": burst,
        "sine_440": np.round(10000 * np.sin(2 * np.pi * 440 * t / 22050)).astype(np.int16),
        "dc": np.full(n, 12000, np.int16),
    }


def synthetic_int16_windows(config: FeatureConfig, count: int, seed: int) -> np.ndarray:
    from firmware_export.testing import synthetic_clip

    return np.stack([
        np.round(synthetic_clip(k % 10, config.window_seconds, config.sample_rate, seed=seed + k) * 32768).astype(np.int16)
        for k in range(count)
    ])


def numpy_features(windows_int16: np.ndarray, config: FeatureConfig) -> np.ndarray:
    return np.stack([window_features(w.astype(np.float32) / np.float32(32768), config).reshape(-1)
                     for w in windows_int16])


def c_features(exe: Path, windows_int16: np.ndarray) -> np.ndarray:
    proc = subprocess.run([str(exe)], input=np.ascontiguousarray(windows_int16, "<i2").tobytes(),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return np.frombuffer(proc.stdout, np.float32).reshape(len(windows_int16), -1)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> Path:
    """A small int8 CRNN with edge-genre metadata (trained a few seconds on synthetic styles)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    from firmware_export.testing import make_test_model

    path = tmp_path_factory.mktemp("fw_model") / "test_crnn_int8.tflite"
    make_test_model(path)
    return path


@pytest.fixture(scope="session")
def exported(test_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("fw_export") / "firmware"
    report = export_firmware(test_model, out)
    return report, out


@pytest.fixture(scope="session")
def classifier(test_model):
    from edge_genre.classifier import GenreClassifier

    return GenreClassifier(test_model)


@pytest.fixture(scope="session")
def host_test(exported) -> Path:
    if GCC is None:
        pytest.skip("gcc not installed")
    _, out = exported
    return compile_c(out, [out / "host_test.c", out / "mfcc.c", out / "mfcc_tables.c"], out / "host_test")


# --------------------------------------------------------------------------- C front end


@needs_gcc
def test_c_front_end_matches_numpy_on_test_vectors(host_test, exported):
    report, out = exported
    proc = subprocess.run([str(host_test)], capture_output=True, text=True, timeout=60)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    max_diff = float(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("max_abs_diff")))
    assert max_diff <= 1e-3
    assert "f32_i16_identical 1" in proc.stdout  # float and int16 entry points agree bit for bit
    assert "max_quant_diff 0" in proc.stdout or "max_quant_diff 1" in proc.stdout
    # The host test must notice a wrong result: a tolerance below the actual difference fails it.
    if max_diff > 0:
        strict = subprocess.run([str(host_test), repr(max_diff / 2)], capture_output=True, text=True, timeout=60)
        assert strict.returncode == 1 and "FAIL" in strict.stdout


@needs_gcc
def test_c_front_end_single_precision_build(exported, tmp_path):
    _, out = exported
    exe = compile_c(out, [out / "host_test.c", out / "mfcc.c", out / "mfcc_tables.c"], tmp_path / "host_test_f32",
                    ["-DEG_MFCC_SINGLE_PRECISION"])
    proc = subprocess.run([str(exe), "5e-3"], capture_output=True, text=True, timeout=60)
    print(proc.stdout)
    assert "precision single" in proc.stdout
    assert proc.returncode == 0, proc.stdout


@needs_gcc
@pytest.mark.parametrize("config", [
    FeatureConfig(),
    FeatureConfig(normalization="window"),
    FeatureConfig(kind="logmel"),
    FeatureConfig(n_fft=1024, hop_length=256, n_mels=40, n_mfcc=20, fmin=50.0, fmax=8000.0, top_db=60.0,
                  window_seconds=1.0),
    FeatureConfig(top_db=None, sample_rate=16000, n_mels=64, window_seconds=2.0),
    FeatureConfig(normalization="level"),
    FeatureConfig(kind="logmel", n_mels=40, fmax=8000.0, normalization="level"),
], ids=["default", "normalized", "logmel", "small", "no_top_db_16k", "level", "logmel40_8k_level"])
def test_c_front_end_matches_numpy_across_configs_and_edge_cases(config, tmp_path, rng):
    write_front_end(config, tmp_path)
    exe = compile_c(tmp_path, [tmp_path / "mfcc_pipe.c", tmp_path / "mfcc.c", tmp_path / "mfcc_tables.c"],
                    tmp_path / "mfcc_pipe")
    cases = {f"music_{k}": w for k, w in enumerate(synthetic_int16_windows(config, 4, seed=11))}
    edge = edge_case_windows(config.window_samples, rng)
    if config.normalization == "window":
        # Standardising divides by each coefficient's spread over the window: for near-constant
        # signals (an impulse in silence, DC, a pure tone) float32 rounding in NumPy itself is
        # magnified, so only music-like windows and exact silence are compared there.
        edge = {"silence": edge["silence"]}
    cases.update(edge)
    windows = np.stack(list(cases.values()))
    diff = np.abs(c_features(exe, windows) - numpy_features(windows, config)).max(axis=1)
    print({name: f"{d:.2e}" for name, d in zip(cases, diff)})
    assert diff.max() <= 1e-3, dict(zip(cases, diff))


@needs_gcc
def test_c_front_end_matches_numpy_on_gtzan(gtzan_wavs, tmp_path):
    import soundfile as sf

    config = FeatureConfig()
    write_front_end(config, tmp_path)
    exe = compile_c(tmp_path, [tmp_path / "mfcc_pipe.c", tmp_path / "mfcc.c", tmp_path / "mfcc_tables.c"],
                    tmp_path / "mfcc_pipe")
    windows = []
    for path in gtzan_wavs[::2]:
        pcm, sr = sf.read(path, dtype="int16")
        assert sr == config.sample_rate
        windows.append(pcm[10 * sr : 10 * sr + config.window_samples])
    windows = np.stack(windows)
    diff = np.abs(c_features(exe, windows) - numpy_features(windows, config))
    print(f"C vs NumPy on {len(windows)} GTZAN windows: max |diff| {diff.max():.3g}")
    assert diff.max() <= 1e-3


# --------------------------------------------------------------------------- generated files


def test_export_writes_every_file_and_the_model_bit_for_bit(exported, test_model):
    report, out = exported
    expected = {"model_data.h", "model_data.cc", "model_ops.h", "mfcc_tables.h", "mfcc_tables.c", "labels.h",
                "test_vectors.h", "mfcc.h", "mfcc.c", "host_test.c", "mfcc_pipe.c", "export_report.json"}
    assert expected <= {p.name for p in out.iterdir()}
    data = test_model.read_bytes()
    cc = (out / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char eg_model_data[]" in cc
    assert read_c_array(cc, "eg_model_data", np.uint8).tobytes() == data
    header = (out / "model_data.h").read_text()
    assert int(read_c_define(header, "EG_MODEL_DATA_LEN")) == len(data) == report["model_bytes"]
    assert json.loads((out / "export_report.json").read_text())["model_sha256"] == report["model_sha256"]
    labels = (out / "labels.h").read_text()
    assert int(read_c_define(labels, "EG_NUM_LABELS")) == len(report["labels"])
    for label in report["labels"]:
        assert f'"{label}",' in labels


def test_buffers_of_the_model_are_16_byte_aligned(exported, test_model):
    from firmware_export.export import misaligned_buffers

    report, _ = exported
    assert report["misaligned_buffers"] == misaligned_buffers(test_model.read_bytes()) == 0
    # The check finds a misaligned buffer: shift a copy of the flatbuffer by 4 bytes.
    data = test_model.read_bytes()
    root = int.from_bytes(data[:4], "little")
    shifted = (root + 4).to_bytes(4, "little") + data[4:8] + b"\0" * 4 + data[8:]
    assert misaligned_buffers(shifted) > 0


def test_mfcc_tables_equal_the_numpy_front_end(exported, classifier):
    from edge_genre.dsp import FrontEnd

    report, out = exported
    config = classifier.config
    front = FrontEnd(config)
    src = (out / "mfcc_tables.c").read_text()
    hdr = (out / "mfcc_tables.h").read_text()
    window = read_c_array(src, "eg_mfcc_window", np.float32)
    assert window.tobytes() == front.window.astype(np.float32).tobytes()
    starts = read_c_array(src, "eg_mfcc_mel_start", np.int64)
    lengths = read_c_array(src, "eg_mfcc_mel_length", np.int64)
    offsets = read_c_array(src, "eg_mfcc_mel_offset", np.int64)
    weights = read_c_array(src, "eg_mfcc_mel_weights", np.float32)
    dense = np.zeros_like(front.mel_basis)
    for band, (s, n, o) in enumerate(zip(starts, lengths, offsets)):
        dense[band, s : s + n] = weights[o : o + n]
    # The sparse form loses nothing (exact equality; the filterbank has some -0.0 entries, equal to 0.0).
    assert np.array_equal(dense, front.mel_basis)
    assert weights.size < front.mel_basis.size / 10  # and is sparse
    dct = read_c_array(src, "eg_mfcc_dct", np.float32).reshape(config.n_mfcc, config.n_mels)
    assert dct.tobytes() == front.dct.astype(np.float32).tobytes()
    for name, value in [("EG_MFCC_SAMPLE_RATE", config.sample_rate), ("EG_MFCC_N_FFT", config.n_fft),
                        ("EG_MFCC_HOP_LENGTH", config.hop_length), ("EG_MFCC_N_MELS", config.n_mels),
                        ("EG_MFCC_N_MFCC", config.n_mfcc), ("EG_MFCC_N_FRAMES", config.n_frames),
                        ("EG_MFCC_WINDOW_SAMPLES", config.window_samples),
                        ("EG_MFCC_INPUT_ZERO_POINT", classifier.input_spec.zero_point)]:
        assert int(read_c_define(hdr, name).strip("()")) == value, name
    assert read_c_define(hdr, "EG_MFCC_NORMALIZE") == f"EG_NORMALIZE_{config.normalization.upper()}"
    assert np.float32(read_c_define(hdr, "EG_MFCC_TOP_DB").rstrip("f")) == np.float32(config.top_db)
    assert np.float32(read_c_define(hdr, "EG_MFCC_INPUT_SCALE").rstrip("f")) == np.float32(classifier.input_spec.scale)


def test_test_vectors_are_the_numpy_and_tflm_results(exported, classifier, test_model):
    report, out = exported
    config = classifier.config
    text = (out / "test_vectors.h").read_text()
    audio = read_c_array(text, "eg_test_audio", np.int16)
    starts = read_c_array(text, "eg_test_window_start", np.int64)
    features = read_c_array(text, "eg_test_features", np.float32).reshape(len(starts), -1)
    inputs = read_c_array(text, "eg_test_input", np.int8).reshape(len(starts), -1)
    outputs = read_c_array(text, "eg_test_output", np.int8).reshape(len(starts), -1)
    assert len(starts) == 2 and starts[0] == 0 and starts[1] > 0
    micro = tflm.TflmModel(test_model.read_bytes(), report["arena"]["size"])
    for k, start in enumerate(starts):
        window = audio[start : start + config.window_samples].astype(np.float32) / np.float32(32768)
        ref = window_features(window, config)
        assert ref.reshape(-1).tobytes() == features[k].tobytes()
        assert np.array_equal(classifier.quantize(ref).reshape(-1), inputs[k])
        assert np.array_equal(micro.run(inputs[k]), outputs[k])


# --------------------------------------------------------------------------- ops and resolver


def test_op_list_matches_litert(exported, classifier):
    report, _ = exported
    litert_ops = classifier.op_names
    # XNNPACK may take over ops (shown as DELEGATE); an undelegated interpreter lists them all.
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    plain = Interpreter(model_path=str(classifier.path),
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    plain_ops = sorted({d["op_name"] for d in op_details(plain)})
    assert set(litert_ops) <= set(plain_ops)
    assert report["ops"] == plain_ops
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in report["ops"]
    assert report["resolver_methods"] == [TFLM_METHODS[op] for op in plain_ops]


@needs_gxx
def test_resolver_snippet_compiles_and_registers_exactly_the_ops(exported, tmp_path):
    report, out = exported
    unknown = set(report["ops"]) - set(TFLM_METHODS)
    assert not unknown, f"add the MicroMutableOpResolver methods of {unknown} to TFLM_METHODS"
    stub = tmp_path / "include" / "tensorflow" / "lite" / "micro"
    stub.mkdir(parents=True)
    methods = "\n".join(f'  TfLiteStatus {m}() {{ return add("{m}"); }}' for m in TFLM_METHODS.values())
    (stub / "micro_mutable_op_resolver.h").write_text(f"""#pragma once
typedef enum {{ kTfLiteOk = 0, kTfLiteError = 1 }} TfLiteStatus;
namespace tflite {{
template <unsigned int tOpCount>
class MicroMutableOpResolver {{
 public:
  const char* names[tOpCount];
  unsigned int count = 0;
  TfLiteStatus add(const char* name) {{
    if (count >= tOpCount) return kTfLiteError;
    for (unsigned int i = 0; i < count; ++i) if (names[i] == name) return kTfLiteError;
    names[count++] = name;
    return kTfLiteOk;
  }}
{methods}
}};
}}  // namespace tflite
""")
    (tmp_path / "main.cc").write_text("""#include <cstdio>
#include <cstdint>
#include "model_ops.h"
#include "model_data.h"
#include "labels.h"
#include "mfcc_tables.h"
int main() {
  EgOpResolver resolver;
  if (RegisterOps(resolver) != kTfLiteOk) return 1;
  for (unsigned int i = 0; i < resolver.count; ++i) std::printf("%s\\n", resolver.names[i]);
  unsigned long long h = 1469598103934665603ULL;
  for (unsigned int i = 0; i < eg_model_data_len; ++i) { h ^= eg_model_data[i]; h *= 1099511628211ULL; }
  std::printf("ops %u of %d\\nlen %u\\naligned %d\\nfnv %llu\\nlabel0 %s\\nn_fft %d\\n", resolver.count,
              EG_MODEL_OP_COUNT, eg_model_data_len,
              (int)(reinterpret_cast<std::uintptr_t>(eg_model_data) % 16 == 0), h, eg_labels[0], EG_MFCC_N_FFT);
  return 0;
}
""")
    exe = tmp_path / "resolver_check"
    cmd = [GXX, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{tmp_path / 'include'}", f"-I{out}",
           str(tmp_path / "main.cc"), str(out / "model_data.cc"), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    n = len(report["ops"])
    assert lines[:n] == report["resolver_methods"]
    assert lines[n] == f"ops {n} of {n}"
    data = (out / "model_data.cc").read_text()
    h = 1469598103934665603
    for byte in read_c_array(data, "eg_model_data", np.uint8).tobytes():
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    assert lines[n + 1 :] == [f"len {report['model_bytes']}", "aligned 1", f"fnv {h}", f"label0 {report['labels'][0]}",
                              "n_fft 2048"]


def test_ops_without_a_tflm_kernel_are_refused():
    assert tflm.resolver_methods(["CONV_2D", "REVERSE_V2"]) == ["AddConv2D", "AddReverseV2"]
    with pytest.raises(ModelError, match="RFFT2D"):
        tflm.resolver_methods(["CONV_2D", "RFFT2D"])


# --------------------------------------------------------------------------- TFLM vs LiteRT, arena


def test_tflm_agrees_with_litert_on_held_out_windows(exported, classifier, test_model):
    from firmware_export.testing import synthetic_windows

    report, _ = exported
    # Held out: other clips (seed) than the ones the test model was trained and calibrated on.
    features, styles = synthetic_windows(20, classifier.config, seed=99)
    inputs = np.stack([classifier.quantize(f).reshape(-1) for f in features])
    micro = tflm.TflmModel(test_model.read_bytes(), report["arena"]["size"])
    result = compare_with_litert(classifier, micro, inputs)
    top1 = result["tflm"].argmax(1)
    print(f"TFLM vs LiteRT on {len(inputs)} held-out windows: top-1 agreement {result['top1_agreement']:.3f} "
          f"({result['top1_agreement_ties']:.3f} counting tied int8 scores as agreeing), "
          f"max |diff| {result['max_abs_diff_quantized']} int8 units (mean {result['mean_abs_diff_quantized']:.2f}), "
          f"TFLM accuracy on the synthetic styles {np.mean(top1 == styles):.2f}")
    assert len(set(top1)) >= 5  # the model discriminates, so agreement means something
    # With equal top int8 scores argmax picks the first class: a one-step LSTM rounding
    # difference flips such ties, so ties count as agreement here (the strict figure is printed).
    assert result["top1_agreement_ties"] >= 0.99
    # Integer LSTMs of TFLM and LiteRT round differently; the outputs stay close. (Without the
    # per-window state reset the test model differs by 4 steps on average, up to 160.)
    assert result["mean_abs_diff_quantized"] <= 2.0
    assert result["max_abs_diff_quantized"] <= 64


def test_tflm_is_bit_exact_with_litert_up_to_the_first_lstm(exported, classifier, test_model):
    report, _ = exported
    from firmware_export.testing import synthetic_windows

    features, _ = synthetic_windows(1, classifier.config, seed=5, styles=4)
    inputs = np.stack([classifier.quantize(f).reshape(-1) for f in features])
    rows = compare_ops_with_litert(test_model.read_bytes(), inputs, report["arena"]["needed"])
    first_lstm = next(r["index"] for r in rows if r["op"] == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    print(" ".join(f"{r['op']}:{r['max_abs_diff']}" for r in rows))
    assert first_lstm > 5
    assert all(r["max_abs_diff"] == 0 for r in rows[:first_lstm])


def test_arena_size_is_sufficient_and_tight(exported, test_model):
    report, out = exported
    data = test_model.read_bytes()
    header = (out / "model_data.h").read_text()
    size = int(read_c_define(header, "EG_TENSOR_ARENA_SIZE"))
    needed = int(read_c_define(header, "EG_TENSOR_ARENA_NEEDED"))
    print(f"arena: needed {needed} B (recording allocator total {report['arena']['recorded_total']} B), "
          f"written {size} B (+{size / needed - 1:.1%})")
    assert size == report["arena"]["size"] and needed == report["arena"]["needed"]
    assert needed <= size <= 1.25 * needed and size % 16 == 0
    # TFLM allocates and runs with the written size, and with the measured need, but not below it.
    text = (out / "test_vectors.h").read_text()
    inputs = read_c_array(text, "eg_test_input", np.int8).reshape(2, -1)
    outputs = read_c_array(text, "eg_test_output", np.int8).reshape(2, -1)
    assert np.array_equal(tflm.TflmModel(data, size).run(inputs[1]), outputs[1])
    assert tflm._try_interpreter(data, needed)[0] is not None
    assert tflm._try_interpreter(data, needed - 1)[0] is None
    assert abs(needed - report["arena"]["recorded_total"]) <= 64


def test_lstm_state_must_be_reset_between_windows(exported, classifier, test_model):
    """TFLM keeps LSTM states across Invoke(): firmware must call Reset() per window (TflmModel.run does)."""
    from tflite_micro.python.tflite_micro import runtime

    report, _ = exported
    from firmware_export.testing import synthetic_windows

    features, _ = synthetic_windows(1, classifier.config, seed=3, styles=10)
    inputs = [classifier.quantize(f) for f in features]
    micro = tflm.TflmModel(test_model.read_bytes(), report["arena"]["size"])
    fresh = [micro.run(x) for x in inputs]
    assert all(np.array_equal(micro.run(x), f) for x, f in zip(inputs, fresh))  # reset runs repeat exactly
    raw = runtime.Interpreter.from_bytes(test_model.read_bytes(), arena_size=report["arena"]["size"])
    carried = []
    for x in inputs:
        raw.set_input(x, 0)
        raw.invoke()
        carried.append(np.array(raw.get_output(0)).reshape(-1))
    assert np.array_equal(carried[0], fresh[0])
    assert any(not np.array_equal(c, f) for c, f in zip(carried[1:], fresh[1:]))
    # The comparison helpers start every window from zero state too: a window repeated after
    # others gives the very same output in both interpreters.
    flat = [x.reshape(-1) for x in inputs]
    result = compare_with_litert(classifier, micro, np.stack([flat[0], flat[1], flat[2], flat[0]]))
    assert np.array_equal(result["tflm"][0], result["tflm"][3])
    assert np.array_equal(result["litert"][0], result["litert"][3])


# --------------------------------------------------------------------------- CLI


def test_cli_exports_with_json_report_and_audio_file(test_model, tmp_path, write_audio):
    from click.testing import CliRunner

    from edge_genre.cli import main
    from firmware_export.testing import synthetic_clip

    wav = write_audio("excerpt.wav", synthetic_clip(6, 6.0), 22050, subtype="PCM_16")
    out = tmp_path / "fw"
    result = CliRunner().invoke(main, ["export-firmware", "--model", str(test_model), "--out", str(out),
                                       "--audio", str(wav), "--audio-offset", "0.5", "--test-windows", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["out_dir"] == str(out) and report["test_vectors"]["windows"] == 1
    assert report["test_vectors"]["source"].startswith("excerpt.wav from 0.500 s")
    assert (out / "model_data.cc").exists()
    text = (out / "test_vectors.h").read_text()
    audio = read_c_array(text, "eg_test_audio", np.int16)
    assert audio.size == 66150
    import soundfile as sf

    pcm, _ = sf.read(wav, dtype="int16")
    assert np.array_equal(audio, pcm[11025 : 11025 + 66150])
    summary = CliRunner().invoke(main, ["export-firmware", "--model", str(test_model), "--out", str(out)])
    assert summary.exit_code == 0, summary.output
    assert "EG_TENSOR_ARENA_SIZE" in summary.output and "UNIDIRECTIONAL_SEQUENCE_LSTM" in summary.output


@pytest.mark.parametrize("kind", ["missing", "junk", "directory"])
def test_cli_rejects_a_bad_model_with_one_line_and_status_2(kind, tmp_path):
    from click.testing import CliRunner

    from edge_genre.cli import main

    if kind == "missing":
        model = tmp_path / "nope.tflite"
    elif kind == "junk":
        model = tmp_path / "junk.tflite"
        model.write_bytes(b"\x00" * 64)
    else:
        model = tmp_path
    result = CliRunner().invoke(main, ["export-firmware", "--model", str(model), "--out", str(tmp_path / "fw")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edge-genre: error: ")
    assert not (tmp_path / "fw").exists()


def test_too_short_audio_is_an_error(test_model, tmp_path, write_audio):
    from edge_genre.errors import AudioError
    from firmware_export.testing import synthetic_clip

    wav = write_audio("short.wav", synthetic_clip(1, 3.5), 22050, subtype="PCM_16")
    with pytest.raises(AudioError, match="too short"):
        export_firmware(test_model, tmp_path / "fw", audio=wav, test_windows=2)


# --------------------------------------------------------------------------- the shipped model


@pytest.mark.slow
def test_shipped_int8_model_exports_and_verifies(tmp_path, request):
    """Runs once the shipped model exists: TFLM supports it, C front end, arena, agreement with LiteRT."""
    from edge_genre.model_io import BUILTIN_MODELS

    shipped = Path(__file__).resolve().parent.parent / "edge_genre" / "models" / BUILTIN_MODELS["int8"]
    if not shipped.exists():
        pytest.skip(f"{shipped.name} is not there yet")
    from edge_genre.classifier import GenreClassifier

    report = export_firmware("int8", tmp_path / "fw", verify=GCC is not None)
    print(json.dumps({k: report[k] for k in ("ops", "arena", "flash", "ram", "tflm_vs_litert_ops")}, indent=1))
    if GCC is not None:
        assert report["host_test"]["passed"] and report["host_test"]["max_abs_diff"] <= 1e-3
    assert report["arena"]["size"] <= 1.25 * report["arena"]["needed"]
    clf = GenreClassifier("int8")
    config = clf.config
    from conftest import configured_data_dir

    wavs = sorted((configured_data_dir() / "gtzan-mini" / "genres_original").glob("*/*.wav"))
    if wavs:
        from edge_genre.audio import load_audio

        feats = []
        for path in wavs:
            y = load_audio(path, sr=config.sample_rate)
            for start in (3, 18):
                s = start * config.sample_rate
                feats.append(window_features(y[s : s + config.window_samples], config))
    else:
        from firmware_export.testing import synthetic_windows

        feats, _ = synthetic_windows(20, config, seed=99)
    inputs = np.stack([clf.quantize(f).reshape(-1) for f in feats])
    micro = tflm.TflmModel(clf.path.read_bytes(), report["arena"]["size"])
    result = compare_with_litert(clf, micro, inputs)
    print(f"shipped model, TFLM vs LiteRT on {len(inputs)} windows: agreement {result['top1_agreement']:.3f} "
          f"(ties as agreeing {result['top1_agreement_ties']:.3f}), max |diff| {result['max_abs_diff_quantized']}, "
          f"mean {result['mean_abs_diff_quantized']:.2f}")
    assert result["top1_agreement_ties"] >= 0.99
    assert result["mean_abs_diff_quantized"] <= 2.0


@needs_gcc
def test_calibrated_probabilities_in_c_equal_the_runtime(test_model, tmp_path):
    """model_data.h carries the model's temperature and eg_calibrated_probabilities(), which turns
    the int8 outputs of the test vectors into what the runtime reports (edge_genre.calibration)."""
    pytest.importorskip("tensorflow")
    from edge_genre.calibration import temper
    from train.trust import write_into_models

    model = tmp_path / "calibrated.tflite"
    model.write_bytes(Path(test_model).read_bytes())
    write_into_models([model], {"calibration": {"temperature": 1.7, "fitted_on": "a test */ comment"}})
    out = tmp_path / "fw"
    report = export_firmware(model, out)
    assert report["calibration"]["temperature"] == 1.7
    assert np.float32(read_c_define((out / "model_data.h").read_text(), "EG_MODEL_TEMPERATURE").rstrip("f")) == np.float32(1.7)
    main = tmp_path / "calib.c"
    main.write_text('#include <stdio.h>\n#include "model_data.h"\n#include "test_vectors.h"\n'
                    "int main(void) {\n  float p[EG_MODEL_OUTPUT_LEN];\n"
                    "  for (int w = 0; w < EG_TEST_N_WINDOWS; ++w) {\n"
                    "    eg_calibrated_probabilities((const signed char *)eg_test_output[w], p);\n"
                    '    for (int k = 0; k < EG_MODEL_OUTPUT_LEN; ++k) printf("%.9g\\n", p[k]);\n  }\n  return 0;\n}\n')
    exe = compile_c(out, [main], tmp_path / "calib", extra=[f"-I{out}"])
    got = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), float)
    q = read_c_array((out / "test_vectors.h").read_text(), "eg_test_output", np.int64)
    q = q.reshape(-1, report["output"]["shape"][-1])
    probs = (q - report["output"]["zero_point"]) * report["output"]["scale"]
    np.testing.assert_allclose(got.reshape(q.shape), temper(probs, 1.7), atol=2e-6)
