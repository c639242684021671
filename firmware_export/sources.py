"""The C sources of a firmware export: the front end's tables and the generated headers.

:func:`front_end_tables` computes the float32 tables ``mfcc.c`` reads (periodic Hann window,
sparse mel filterbank, DCT-II matrix); the ``*_h`` / ``*_c`` functions render each generated file
(``model_data.h/.cc``, ``model_ops.h``, ``mfcc_tables.h/.c``, ``labels.h``, ``test_vectors.h``) from
the export report. :mod:`firmware_export.export` decides what goes in them and writes them.
"""

from __future__ import annotations

import numpy as np

from edge_genre.calibration import PROBABILITY_FLOOR
from edge_genre.config import FeatureConfig
from edge_genre.dsp import FrontEnd

from edge_genre.errors import EdgeGenreError

from .codegen import c_array, c_array_2d, c_float, c_int, c_string, format_values

ARENA_MARGIN_FRACTION = 0.10
ARENA_MARGIN_BYTES = 1024
TEST_WINDOW_HOP_SECONDS = 1.0


class FirmwareExportError(EdgeGenreError):
    """The model or the front end cannot be exported for TFLite Micro."""


# --------------------------------------------------------------------------- tables


def mel_sparse(mel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(start bin, length, offset, concatenated weights) of each band's non-zero run (zeros inside kept)."""
    starts, lengths, offsets, weights = [], [], [], []
    for band in mel:
        nz = np.flatnonzero(band)
        start, length = (int(nz[0]), int(nz[-1] - nz[0] + 1)) if nz.size else (0, 0)
        starts.append(start)
        lengths.append(length)
        offsets.append(sum(lengths[:-1]))
        weights.append(band[start : start + length])
    flat = np.concatenate(weights).astype(np.float32) if weights else np.zeros(0, np.float32)
    return (np.array(starts, np.uint16), np.array(lengths, np.uint16), np.array(offsets, np.uint32), flat)


def front_end_tables(config: FeatureConfig) -> dict:
    """The float32 tables of the C front end for ``config``."""
    n_fft = config.n_fft
    if n_fft < 4 or n_fft & (n_fft - 1):
        raise FirmwareExportError(f"the C front end needs n_fft to be a power of two, the model uses {n_fft}")
    if n_fft // 2 + 1 > np.iinfo(np.uint16).max:
        raise FirmwareExportError(f"n_fft {n_fft} is too large for the C front end (16-bit bin indices)")
    front = FrontEnd.for_config(config)
    start, length, offset, weights = mel_sparse(front.mel_basis)
    return {
        "window": front.window.astype(np.float32),
        "mel_start": start,
        "mel_length": length,
        "mel_offset": offset,
        "mel_weights": weights,
        "dct": front.dct.astype(np.float32) if config.kind == "mfcc" else None,
    }


def table_bytes(tables: dict) -> int:
    return int(sum(v.nbytes for v in tables.values() if v is not None))


def mfcc_work_bytes(config: FeatureConfig, precision_bytes: int = 8) -> dict:
    """RAM of the C front end's caller-provided buffers (double precision by default)."""
    work = {
        "fft": config.n_fft * precision_bytes,
        "power": (config.n_fft // 2 + 1) * precision_bytes,
        "twiddle": (config.n_fft // 4 + 1) * precision_bytes,
        "db": config.n_frames * config.n_mels * 4,
        "features": config.n_frames * config.n_features * 4,
    }
    work["total"] = sum(work.values())
    return work


# --------------------------------------------------------------------------- writers


def model_data_h(banner, data, report) -> str:
    inp, out, arena = report["input"], report["output"], report["arena"]
    return f"""{banner}#ifndef EG_MODEL_DATA_H_
#define EG_MODEL_DATA_H_

#include <math.h>

/* The model flatbuffer (model_data.cc), 16-byte aligned as TFLite Micro requires. */
#define EG_MODEL_DATA_LEN {len(data)}

/* Tensor arena: the need measured with the TFLite Micro interpreter ({arena['measured_on']}),
 * plus {int(ARENA_MARGIN_FRACTION * 100)} % + {ARENA_MARGIN_BYTES} bytes, rounded up to 16 bytes. Kernels other than
 * the reference ones (e.g. CMSIS-NN) may need a different amount: check
 * MicroInterpreter::arena_used_bytes() on the target. */
#define EG_TENSOR_ARENA_NEEDED {arena['needed']}
#define EG_TENSOR_ARENA_SIZE {arena['size']}

/* Input: int8 [{', '.join(map(str, inp['shape']))}], q = round(x / scale) + zero_point. */
#define EG_MODEL_INPUT_LEN {int(np.prod(inp['shape']))}
#define EG_MODEL_INPUT_SCALE {c_float(inp['scale'])}
#define EG_MODEL_INPUT_ZERO_POINT {c_int(inp['zero_point'])}
/* Output: int8 [{', '.join(map(str, out['shape']))}], probability = (q - zero_point) * scale. */
#define EG_MODEL_OUTPUT_LEN {int(np.prod(out['shape']))}
#define EG_MODEL_OUTPUT_SCALE {c_float(out['scale'])}
#define EG_MODEL_OUTPUT_ZERO_POINT {c_int(out['zero_point'])}

/* Calibrated probabilities (edge_genre.calibration.temper): with p = max((q - zero_point) * scale,
 * EG_PROBABILITY_FLOOR), probability_k = p_k^(1/T) / sum_j p_j^(1/T), T = EG_MODEL_TEMPERATURE
 * ({report['calibration']['fitted_on'].replace('*/', '* /')}; 1 = not calibrated). The winner is the same either way. */
#define EG_MODEL_TEMPERATURE {c_float(report['calibration']['temperature'])}
#define EG_PROBABILITY_FLOOR {c_float(PROBABILITY_FLOOR)}

#ifdef __cplusplus
extern "C" {{
#endif

extern const unsigned char eg_model_data[];
extern const unsigned int eg_model_data_len;

/* The int8 output q of one window as calibrated probabilities p (EG_MODEL_OUTPUT_LEN each). */
static inline void eg_calibrated_probabilities(const signed char *q, float *p) {{
  float max_log = -1e30f, total = 0.0f;
  for (int k = 0; k < EG_MODEL_OUTPUT_LEN; ++k) {{
    float v = ((float)q[k] - (float)EG_MODEL_OUTPUT_ZERO_POINT) * EG_MODEL_OUTPUT_SCALE;
    p[k] = logf(v > EG_PROBABILITY_FLOOR ? v : EG_PROBABILITY_FLOOR) / EG_MODEL_TEMPERATURE;
    if (p[k] > max_log) max_log = p[k];
  }}
  for (int k = 0; k < EG_MODEL_OUTPUT_LEN; ++k) {{
    p[k] = expf(p[k] - max_log);
    total += p[k];
  }}
  for (int k = 0; k < EG_MODEL_OUTPUT_LEN; ++k) p[k] /= total;
}}

#ifdef __cplusplus
}}
#endif

#endif /* EG_MODEL_DATA_H_ */
"""


def model_data_cc(banner, data) -> str:
    return (
        f"{banner}#include \"model_data.h\"\n\n"
        f"alignas(16) const unsigned char eg_model_data[] = {{\n{format_values(np.frombuffer(data, np.uint8), 'hex', 12, '    ')}\n}};\n"
        f"const unsigned int eg_model_data_len = {len(data)};\n"
    )


def model_ops_h(banner, ops, methods) -> str:
    calls = "\n".join(f"  if (r.{m}() != kTfLiteOk) return kTfLiteError;  // {op}" for op, m in zip(ops, methods))
    return f"""{banner}#ifndef EG_MODEL_OPS_H_
#define EG_MODEL_OPS_H_

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

// The {len(ops)} builtin ops the model uses: {', '.join(ops)}.
#define EG_MODEL_OP_COUNT {len(ops)}

using EgOpResolver = tflite::MicroMutableOpResolver<EG_MODEL_OP_COUNT>;

inline TfLiteStatus RegisterOps(tflite::MicroMutableOpResolver<EG_MODEL_OP_COUNT>& r) {{
{calls}
  return kTfLiteOk;
}}

#endif  // EG_MODEL_OPS_H_
"""


def mfcc_tables_h(banner, config: FeatureConfig, tables: dict, report) -> str:
    inp = report["input"]
    lines = [banner, "#ifndef EG_MFCC_TABLES_H_", "#define EG_MFCC_TABLES_H_", "", '#include "mfcc.h"', ""]
    lines.append("/* FeatureConfig of the model (edge_genre.config.FeatureConfig). */")
    defines = [
        ("EG_MFCC_SAMPLE_RATE", config.sample_rate, "Hz"),
        ("EG_MFCC_N_FFT", config.n_fft, "FFT size = frame length (periodic Hann window)"),
        ("EG_MFCC_HOP_LENGTH", config.hop_length, "frame advance, samples"),
        ("EG_MFCC_N_MELS", config.n_mels, "Slaney mel bands"),
        ("EG_MFCC_N_MFCC", config.n_mfcc, "DCT-II coefficients kept"),
        ("EG_MFCC_FMIN", c_float(config.fmin), "Hz"),
        ("EG_MFCC_FMAX", c_float(config.mel_fmax), "Hz"),
        ("EG_MFCC_WINDOW_SECONDS", c_float(config.window_seconds), ""),
        ("EG_MFCC_WINDOW_SAMPLES", config.window_samples, "samples per classification window"),
        ("EG_MFCC_N_FRAMES", config.n_frames, "centred frames per window"),
        ("EG_MFCC_N_FEATURES", config.n_features, "coefficients per frame in the model input"),
        ("EG_MFCC_KIND", "EG_FEATURES_MFCC" if config.kind == "mfcc" else "EG_FEATURES_LOGMEL", config.kind),
        ("EG_MFCC_USE_TOP_DB", int(config.top_db is not None), "floor at (window maximum - top_db) dB"),
        ("EG_MFCC_TOP_DB", c_float(config.top_db if config.top_db is not None else 0.0), "dB"),
        ("EG_MFCC_AMIN", "1e-10f", "power floor before log10"),
        ("EG_MFCC_NORMALIZE", f"EG_NORMALIZE_{config.normalization.upper()}", f"normalization '{config.normalization}'"),
        ("EG_MFCC_INPUT_SCALE", c_float(inp["scale"]), "model input quantisation"),
        ("EG_MFCC_INPUT_ZERO_POINT", c_int(inp["zero_point"]), ""),
        ("EG_MFCC_MEL_WEIGHTS_LEN", tables["mel_weights"].size, "non-zero mel weights"),
        ("EG_MFCC_TABLE_BYTES", table_bytes(tables), "flash used by the tables in mfcc_tables.c"),
    ]
    for name, value, comment in defines:
        lines.append(f"#define {name} {value}" + (f"  /* {comment} */" if comment else ""))
    lines += [
        "",
        "/* Lengths of the caller-provided buffers (eg_mfcc_work) and of the features. */",
        "#define EG_MFCC_FFT_LEN EG_MFCC_N_FFT",
        "#define EG_MFCC_POWER_LEN (EG_MFCC_N_FFT / 2 + 1)",
        "#define EG_MFCC_TWIDDLE_LEN (EG_MFCC_N_FFT / 4 + 1)",
        "#define EG_MFCC_DB_LEN (EG_MFCC_N_FRAMES * EG_MFCC_N_MELS)",
        "#define EG_MFCC_FEATURES_LEN (EG_MFCC_N_FRAMES * EG_MFCC_N_FEATURES)",
        "#define EG_MFCC_WORK_BYTES (sizeof(eg_real) * (EG_MFCC_FFT_LEN + EG_MFCC_POWER_LEN + EG_MFCC_TWIDDLE_LEN) \\",
        "                           + sizeof(float) * (EG_MFCC_DB_LEN + EG_MFCC_FEATURES_LEN))",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        "extern const float eg_mfcc_window[EG_MFCC_N_FFT];",
        "extern const uint16_t eg_mfcc_mel_start[EG_MFCC_N_MELS];",
        "extern const uint16_t eg_mfcc_mel_length[EG_MFCC_N_MELS];",
        "extern const uint32_t eg_mfcc_mel_offset[EG_MFCC_N_MELS];",
        "extern const float eg_mfcc_mel_weights[EG_MFCC_MEL_WEIGHTS_LEN];",
    ]
    if tables["dct"] is not None:
        lines.append("extern const float eg_mfcc_dct[EG_MFCC_N_MFCC * EG_MFCC_N_MELS];")
    lines += [
        "",
        "/* Everything above, for eg_mfcc_window_i16() / eg_mfcc_window_f32(). */",
        "extern const eg_mfcc_tables eg_front_end;",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        "#endif /* EG_MFCC_TABLES_H_ */",
        "",
    ]
    return "\n".join(lines)


def mfcc_tables_c(banner, config: FeatureConfig, tables: dict, report) -> str:
    inp = report["input"]
    parts = [banner, '#include "mfcc_tables.h"\n\n']
    parts.append("/* Periodic Hann window: 0.5 - 0.5 cos(2 pi n / N). */\n")
    parts.append(c_array("const float eg_mfcc_window[EG_MFCC_N_FFT]", tables["window"], "float"))
    parts.append("\n/* Slaney mel filterbank (Slaney area normalisation), sparse: band b covers FFT bins\n"
                 " * mel_start[b] .. mel_start[b] + mel_length[b] - 1 with weights from mel_offset[b]. */\n")
    parts.append(c_array("const uint16_t eg_mfcc_mel_start[EG_MFCC_N_MELS]", tables["mel_start"], "int"))
    parts.append(c_array("const uint16_t eg_mfcc_mel_length[EG_MFCC_N_MELS]", tables["mel_length"], "int"))
    parts.append(c_array("const uint32_t eg_mfcc_mel_offset[EG_MFCC_N_MELS]", tables["mel_offset"], "int"))
    parts.append(c_array("const float eg_mfcc_mel_weights[EG_MFCC_MEL_WEIGHTS_LEN]", tables["mel_weights"], "float"))
    if tables["dct"] is not None:
        parts.append("\n/* Orthonormal DCT-II, n_mfcc x n_mels, row-major. */\n")
        parts.append(c_array("const float eg_mfcc_dct[EG_MFCC_N_MFCC * EG_MFCC_N_MELS]", tables["dct"], "float"))
    parts.append(f"""
const eg_mfcc_tables eg_front_end = {{
    .sample_rate = EG_MFCC_SAMPLE_RATE,
    .n_fft = EG_MFCC_N_FFT,
    .hop_length = EG_MFCC_HOP_LENGTH,
    .n_mels = EG_MFCC_N_MELS,
    .n_mfcc = EG_MFCC_N_MFCC,
    .window_samples = EG_MFCC_WINDOW_SAMPLES,
    .n_frames = EG_MFCC_N_FRAMES,
    .kind = EG_MFCC_KIND,
    .n_features = EG_MFCC_N_FEATURES,
    .use_top_db = EG_MFCC_USE_TOP_DB,
    .top_db = EG_MFCC_TOP_DB,
    .normalize = EG_MFCC_NORMALIZE,
    .window = eg_mfcc_window,
    .mel_start = eg_mfcc_mel_start,
    .mel_length = eg_mfcc_mel_length,
    .mel_offset = eg_mfcc_mel_offset,
    .mel_weights = eg_mfcc_mel_weights,
    .dct = {"eg_mfcc_dct" if tables["dct"] is not None else "NULL"},
    .input_scale = {c_float(inp["scale"])},
    .input_zero_point = {inp["zero_point"]},
}};
""")
    return "".join(parts)


def labels_h(banner, labels) -> str:
    items = "\n".join(f"    {c_string(label)}," for label in labels)
    return f"""{banner}#ifndef EG_LABELS_H_
#define EG_LABELS_H_

/* Genre names in the order of the model's output scores. */
#define EG_NUM_LABELS {len(labels)}

static const char *const eg_labels[EG_NUM_LABELS] = {{
{items}
}};

#endif /* EG_LABELS_H_ */
"""


def test_vectors_h(banner, config, pcm, starts, source, features, model_inputs, outputs) -> str:
    n_win = len(starts)
    parts = [banner, f"""#ifndef EG_TEST_VECTORS_H_
#define EG_TEST_VECTORS_H_

/* Test vectors: {n_win} windows, {TEST_WINDOW_HOP_SECONDS:g} s apart (rounded to whole frames), of an excerpt
 * of 16-bit audio at {config.sample_rate} Hz. Source: {source}.
 * Window w is eg_test_audio[eg_test_window_start[w] + i], i < EG_MFCC_WINDOW_SAMPLES;
 * sample / 32768 is the float signal.
 *   eg_test_features: NumPy features (edge_genre.dsp.window_features), frame by frame
 *   eg_test_input:    the quantised model input (edge_genre GenreClassifier.quantize)
 *   eg_test_output:   the int8 model output TFLite Micro computes for eg_test_input,
 *                     starting from reset LSTM states (MicroInterpreter::Reset()) */

#include <stdint.h>

#define EG_TEST_N_WINDOWS {n_win}
#define EG_TEST_AUDIO_LEN {pcm.size}
#define EG_TEST_FEATURES_LEN {features.shape[1] * features.shape[2]}
#define EG_TEST_OUTPUT_LEN {outputs.shape[1]}

"""]
    parts.append(c_array("static const int32_t eg_test_window_start[EG_TEST_N_WINDOWS]", starts, "int"))
    parts.append(c_array("static const int16_t eg_test_audio[EG_TEST_AUDIO_LEN]", pcm, "int", 16))
    parts.append(c_array_2d("static const float eg_test_features[EG_TEST_N_WINDOWS][EG_TEST_FEATURES_LEN]",
                            features.reshape(n_win, -1), "float", config.n_features if config.n_features <= 13 else 8))
    parts.append(c_array_2d("static const int8_t eg_test_input[EG_TEST_N_WINDOWS][EG_TEST_FEATURES_LEN]",
                            model_inputs.reshape(n_win, -1), "int", config.n_features if config.n_features <= 26 else 16))
    parts.append(c_array_2d("static const int8_t eg_test_output[EG_TEST_N_WINDOWS][EG_TEST_OUTPUT_LEN]",
                            outputs, "int", 16))
    parts.append("\n#endif /* EG_TEST_VECTORS_H_ */\n")
    return "".join(parts)


