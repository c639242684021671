"""Rendering a benchmark result: the targets beside the figures, the text and markdown reports,
the latency plot, and the dotted keys of ``benchmarks/BENCH_KEYS.md``."""

from __future__ import annotations

import os
import textwrap
from typing import Any, Callable

import numpy as np

from .common import rnd

# Targets shown beside the figures (not asserted). name -> (description, unit).
TARGETS = {
    "e2e_int8_per_hop": ("int8 end to end per hop (p50) <= 2 ms", "ms"),
    "runtime_peak_rss": ("runtime peak RSS <= 50 MB", "MB"),
    "rss_vs_tf_pipeline": ("TF + librosa pipeline RSS / runtime RSS >= 10x", "x"),
    "cold_start": ("cold start to first result <= 0.5 s", "s"),
    "int8_accuracy_drop": ("int8 window accuracy within 1 pp of float", "pp"),
    "int8_faster_than_float": ("int8 inference faster than float TFLite (p50)", "x"),
    "int8_model_size": ("int8 model <= 200 kB", "kB"),
}
E2E_TARGET_MS = 2.0
RSS_TARGET_MB = 50.0
RSS_RATIO_TARGET = 10.0
COLD_START_TARGET_S = 0.5
ACCURACY_DROP_TARGET_PP = 1.0
SIZE_TARGET_BYTES = 200_000



def evaluate_targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets beside the measured values (``met`` is None when the value is missing)."""

    def entry(name: str, value: float | None, ok: Callable[[float], bool], target: str) -> dict[str, Any]:
        return {"target": target, "value": value, "unit": TARGETS[name][1], "met": None if value is None else bool(ok(value))}

    inf, mem = result["inference"], result["memory"]
    size = result["models"]["int8"]["size_bytes"]
    return {
        "e2e_int8_per_hop": entry("e2e_int8_per_hop", result["e2e"]["int8"]["p50_ms"], lambda v: v <= E2E_TARGET_MS, "<= 2 ms"),
        "runtime_peak_rss": entry("runtime_peak_rss", mem["runtime_peak_rss_mb"], lambda v: v <= RSS_TARGET_MB, "<= 50 MB"),
        "rss_vs_tf_pipeline": entry("rss_vs_tf_pipeline", mem["alt_vs_runtime"], lambda v: v >= RSS_RATIO_TARGET, ">= 10x"),
        "cold_start": entry("cold_start", result["cold_start"]["cli_s"], lambda v: v <= COLD_START_TARGET_S, "<= 0.5 s"),
        "int8_accuracy_drop": entry("int8_accuracy_drop", result["accuracy"]["int8_drop_pp"],
                                    lambda v: v <= ACCURACY_DROP_TARGET_PP, "<= 1 pp"),
        "int8_faster_than_float": entry("int8_faster_than_float", inf["int8_speedup_vs_float"], lambda v: v > 1.0, "> 1x"),
        "int8_model_size": entry("int8_model_size", rnd(size / 1000, 1) if size else None,
                                 lambda v: v * 1000 <= SIZE_TARGET_BYTES, "<= 200 kB"),
    }


def _fmt(v: Any, unit: str = "", digits: int = 3) -> str:
    """A value for the reports: "-" for None, yes/no, 3 significant figures or thousands separators, + unit."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        text = f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:,.0f}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = str(v)
    return f"{text} {unit}".strip()


def _lat(stats: dict[str, Any]) -> str:
    """"p50 / p95 / p99 ms (n=...)" of a latency entry, "-" when it was not measured."""
    if not stats or stats.get("p50_ms") is None:
        return "-"
    return f"{stats['p50_ms']:.3g} / {stats['p95_ms']:.3g} / {stats['p99_ms']:.3g} ms (n={stats['n']})"


def _status(t: dict[str, Any] | None) -> str:
    """OK / MISS / n/a of a target entry ("" for a row without a target)."""
    if t is None:
        return ""
    return "n/a" if t["met"] is None else ("OK" if t["met"] else "MISS")


def report_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(section, metric, value, target, status) rows shared by the text and markdown reports."""
    t = r["targets"]
    d, inf, e2e, mem, cold, acc, cost, models = (r["dsp"], r["inference"], r["e2e"], r["memory"], r["cold_start"],
                                                 r["accuracy"], r["cost"], r["models"])
    rows = []

    def add(section, metric, value, target=None, key=None):
        rows.append((section, metric, value, target or "", _status(t.get(key)) if key else ""))

    add("DSP", "edge_genre front end, 3-s window (p50/p95/p99)", _lat(d["edge_genre_batch"]))
    add("DSP", f"edge_genre streaming, per hop ({d['stream_frames_per_hop'] or '-'} frames)", _lat(d["edge_genre_stream"]))
    add("DSP", "librosa front end, 3-s window", _lat(d["librosa"]))
    add("DSP", "python_speech_features MFCC, 3-s window", _lat(d["psf"]))
    add("DSP", "speedup vs librosa / psf (batch)", f"{_fmt(d['speedup_vs_librosa'], 'x')} / {_fmt(d['speedup_vs_psf'], 'x')}")
    add("DSP", "streaming hop vs librosa window", _fmt(d["stream_speedup_vs_librosa"], "x"))
    add("DSP", "max |edge_genre - librosa| features", _fmt(d["max_abs_diff_vs_librosa"]))
    add("Inference", "int8 TFLite predict (p50/p95/p99)", _lat(inf["int8"]))
    add("Inference", "float TFLite predict", _lat(inf["float"]))
    add("Inference", "Keras predict_on_batch", _lat(inf["keras"]))
    add("Inference", "Keras tf.function call", _lat(inf["keras_graph"]))
    add("Inference", "int8 speedup vs float TFLite", _fmt(inf["int8_speedup_vs_float"], "x"), TARGETS["int8_faster_than_float"][0], "int8_faster_than_float")
    add("Inference", "int8 speedup vs Keras (predict_on_batch / graph)",
        f"{_fmt(inf['int8_speedup_vs_keras'], 'x')} / {_fmt(inf['int8_speedup_vs_keras_graph'], 'x')}")
    add("End to end", f"int8 per hop ({e2e['hop_ms']} ms of audio)", _lat(e2e["int8"]), TARGETS["e2e_int8_per_hop"][0], "e2e_int8_per_hop")
    add("End to end", "float per hop", _lat(e2e["float"]))
    add("End to end", "int8 real-time factor (time / audio)",
        f"{_fmt(e2e['int8_rtf'])} ({_fmt(e2e['int8_x_realtime'], 'x real time')})")
    add("Memory", "runtime peak RSS (import, load, classify 30 s)", _fmt(mem["runtime_peak_rss_mb"], "MB"), TARGETS["runtime_peak_rss"][0], "runtime_peak_rss")
    add("Memory", "  after import / after model load", f"{_fmt(mem['runtime_rss_after_import_mb'], 'MB')} / {_fmt(mem['runtime_rss_after_load_mb'], 'MB')}")
    add("Memory", "  bare Python interpreter", _fmt(mem["python_baseline_rss_mb"], "MB"))
    add("Memory", "TF + librosa pipeline peak RSS", _fmt(mem["alt_pipeline_peak_rss_mb"], "MB"))
    add("Memory", "  pipeline", mem["alt_pipeline"] or "-")
    add("Memory", "TF pipeline / runtime RSS", _fmt(mem["alt_vs_runtime"], "x"), TARGETS["rss_vs_tf_pipeline"][0], "rss_vs_tf_pipeline")
    for kind in ("int8", "float"):
        m = models[kind]
        if m["size_bytes"] is not None:
            add("Model", f"{kind} file size", _fmt(m["size_bytes"] / 1000, "kB"),
                TARGETS["int8_model_size"][0] if kind == "int8" else None, "int8_model_size" if kind == "int8" else None)
            add("Model", f"{kind} tensors: weights / activations peak (sum) / state",
                f"{_fmt(m['weights_bytes'] / 1000, 'kB')} / {_fmt(m['activation_bytes_peak'] / 1000, 'kB')} "
                f"({_fmt(m['activation_bytes_total'] / 1000, 'kB')}) / {_fmt(m['variable_bytes'] / 1000, 'kB')}")
    if models["keras"]["size_bytes"] is not None:
        add("Model", "Keras file size", _fmt(models["keras"]["size_bytes"] / 1000, "kB"))
    add("Cold start", "edge-genre classify 3-s clip (median wall)", _fmt(cold["cli_s"], "s"), TARGETS["cold_start"][0], "cold_start")
    add("Cold start", "  python startup / import / model load", f"{_fmt(cold['python_startup_s'], 's')} / {_fmt(cold['import_s'], 's')} / {_fmt(cold['load_s'], 's')}")
    if acc["ran"]:
        where = "held-out clips" if acc["held_out"] else "NOT held out (training data, not meaningful)"
        add("Accuracy", f"clips / windows ({where})", f"{acc['n_clips']} / {acc['n_windows']}")
        for kind in ("int8", "float", "keras"):
            if acc[kind]["window"] is not None:
                add("Accuracy", f"{kind} window / clip accuracy", f"{acc[kind]['window']:.3f} / {acc[kind]['clip']:.3f}")
        add("Accuracy", "top-1 agreement int8-float / int8-keras / float-keras",
            " / ".join(_fmt(acc[k]) for k in ("agreement_int8_float", "agreement_int8_keras", "agreement_float_keras")))
        add("Accuracy", "int8 drop vs float (window)", "-" if acc["int8_drop_pp"] is None else f"{acc['int8_drop_pp']:+.3f} pp", TARGETS["int8_accuracy_drop"][0], "int8_accuracy_drop")
    else:
        add("Accuracy", "not measured", "-", TARGETS["int8_accuracy_drop"][0], "int8_accuracy_drop")
    add("Cost", "matmul peak (float32)", f"{_fmt(cost['peak_gflops'], 'GFLOP/s')} = {_fmt(cost['peak_gmacs'], 'GMAC/s')}")
    add("Cost", "DSP flops per window / per hop", f"{_fmt(cost['dsp_flops_per_window'] / 1e6, 'MFLOP')} / "
        f"{_fmt(cost['dsp_flops_per_hop'] / 1e6 if cost['dsp_flops_per_hop'] else None, 'MFLOP')}")
    add("Cost", "DSP achieved, batch / streaming", f"{_fmt(cost['dsp_batch_gflops'], 'GFLOP/s')} ({_pct(cost['dsp_batch_fraction_of_peak'])}) / "
        f"{_fmt(cost['dsp_stream_gflops'], 'GFLOP/s')} ({_pct(cost['dsp_stream_fraction_of_peak'])})")
    for kind in ("int8", "float"):
        macs = models[kind]["macs"]
        if macs:
            add("Cost", f"{kind} model MACs per window / achieved",
                f"{_fmt(macs / 1e6, 'M')} / {_fmt(cost[f'{kind}_gmacs'], 'GMAC/s')} ({_pct(cost[f'{kind}_fraction_of_peak'])} of peak)")
    return rows


def _pct(v: float | None) -> str:
    """A fraction as a percentage with 2 significant figures."""
    return "-" if v is None else f"{100 * v:.2g}%"


TEXT_WIDTH = 100


def format_text(r: dict[str, Any]) -> str:
    """A plain-text table of the result (about 100 columns): figures by section, then the targets
    with their status (OK / MISS / n/a), then the notes."""
    rows = report_rows(r)
    env = r["env"]
    head = [f"edge-genre bench: {r['models']['int8']['path']}",
            f"  {env['cpu']} ({env['cpu_count']} CPUs, load {env['loadavg_1min']}) | {env['backend']}, "
            f"{env['threads']} thread(s), repeat {env['repeat']} | input {r['input']['source']}"]
    w_metric = max(len(x[1]) for x in rows)
    lines = head + [""]
    section = None
    targets = []
    for sec, metric, value, target, status in rows:
        if sec != section:
            lines.append(f"[{sec}]")
            section = sec
        # long values (the TF pipeline's description) wrap under the value column
        wrapped = textwrap.wrap(value, max(30, TEXT_WIDTH - w_metric - 4)) or [""]
        lines.append(f"  {metric:<{w_metric}}  {wrapped[0]}".rstrip())
        lines += [f"  {'':<{w_metric}}  {more}" for more in wrapped[1:]]
        if target:
            targets.append(f"  {status:<4} {target}: {value}")
    if targets:
        lines += ["[Targets]"] + targets
    if r["notes"]:
        lines += ["", "notes:"] + [f"  - {n}" for n in r["notes"]]
    return "\n".join(lines)


def format_markdown(r: dict[str, Any]) -> str:
    """A markdown report: environment, one table of figures with targets, notes."""
    env = r["env"]
    lines = [
        "# edge-genre benchmark",
        "",
        f"- model: `{r['models']['int8']['path']}` ({r['models']['int8']['quantization']}); float reference: "
        f"`{r['models']['float']['path'] or '-'}`; Keras: `{r['models']['keras']['path'] or '-'}`",
        f"- machine: {env['cpu']}, {env['cpu_count']} CPUs, {env['platform']}, 1-min load {env['loadavg_1min']}",
        f"- runtime: {env['backend']}, {env['threads']} thread(s); Python {env['python']}, NumPy {env['numpy']}, "
        f"TensorFlow {env['tensorflow'] or '-'}, librosa {env['librosa'] or '-'}",
        f"- input: {r['input']['source']} audio, {r['input']['window_s']} s windows, {r['input']['hop_s']} s hop; "
        f"{env['repeat']} timed repetitions after {env['warmup']} warm-up (latencies p50 / p95 / p99)",
        "",
        "| section | metric | value | target | status |",
        "|---|---|---|---|---|",
    ]
    for sec, metric, value, target, status in report_rows(r):
        cells = [c.replace("|", "\\|") for c in (sec, metric.strip(), value, target, status)]
        lines.append("| " + " | ".join(cells) + " |")
    if r["notes"]:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def plot_bars(r: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(group, label, stats) of every latency that was measured, in plot order."""
    d, inf, e2e = r["dsp"], r["inference"], r["e2e"]
    bars = [("DSP", "edge_genre front end (3-s window)", d["edge_genre_batch"]),
            ("DSP", "edge_genre streaming (hop)", d["edge_genre_stream"]),
            ("DSP", "librosa front end (3-s window)", d["librosa"]),
            ("DSP", "python_speech_features (3-s window)", d["psf"]),
            ("Inference", "int8 TFLite", inf["int8"]), ("Inference", "float TFLite", inf["float"]),
            ("Inference", "Keras predict_on_batch", inf["keras"]), ("Inference", "Keras tf.function", inf["keras_graph"]),
            ("End to end", "int8 per hop", e2e["int8"]), ("End to end", "float per hop", e2e["float"])]
    return [b for b in bars if b[2]["p50_ms"] is not None]


def write_plot(r: dict[str, Any], path: str | os.PathLike) -> str | None:
    """Horizontal latency bar chart (p50, whisker to p95; log scale). Returns a message when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no plot written"
    bars = plot_bars(r)
    if not bars:
        return "no latency was measured: no plot written"
    colors = {"DSP": "#4c72b0", "Inference": "#dd8452", "End to end": "#55a868"}
    labels = [f"{g}: {lab}" for g, lab, _ in bars][::-1]
    p50 = np.array([s["p50_ms"] for _, _, s in bars])[::-1]
    p95 = np.array([s["p95_ms"] for _, _, s in bars])[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(bars) + 1.5))
    ax.barh(labels, p50, xerr=[np.zeros_like(p50), np.maximum(p95 - p50, 0)], capsize=3,
            color=[colors[g] for g, _, _ in bars][::-1])
    for yi, (v, hi) in enumerate(zip(p50, p95)):
        ax.text(max(v, hi) * 1.12, yi, f"{v:.3g} ms", va="center", fontsize=8)
    ax.axvline(E2E_TARGET_MS, color="crimson", ls="--", lw=1, label=f"end-to-end target {E2E_TARGET_MS:g} ms")
    ax.set_xscale("log")
    ax.set_xlim(min(float(p50.min()), E2E_TARGET_MS) / 2, max(float(p95.max()), E2E_TARGET_MS) * 4)
    ax.set_xlabel("ms (p50, whisker to p95; log scale)")
    env = r["env"]
    ax.set_title(f"edge-genre latency - {env['cpu']}, {env['threads']} thread(s)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)
    plt.close(fig)
    return None


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of nested dicts (``dsp.edge_genre_batch.p50_ms``); lists and leaves are values."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in ("models.int8.macs_by_op", "models.float.macs_by_op"):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
