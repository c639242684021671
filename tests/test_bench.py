"""``edge-genre bench`` and ``benchmarks.bench``: documented JSON keys, sane values, reports, errors.

The benchmark runs with a tiny ``--repeat`` on synthetic audio. It uses the shipped int8
model; set ``EDGE_GENRE_BENCH_MODEL`` to another .tflite (its ``*float*`` sibling is the
float reference) to run these tests before the shipped model exists.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `benchmarks` is a folder of the checkout
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import bench, common, models, report  # noqa: E402

MODEL = os.environ.get("EDGE_GENRE_BENCH_MODEL", "int8")
KEYS_DOC = REPO_ROOT / "benchmarks" / "BENCH_KEYS.md"
FAST = ["--repeat", "3", "--warmup", "1", "--no-data", "--skip", "alt-pipeline", "--skip", "keras"]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "edge_genre.cli", "bench", *args], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=timeout)


def documented_keys() -> set[str]:
    """Dotted keys of the "## Keys" table, latency/target objects and ``models.float.*`` expanded."""
    text = KEYS_DOC.read_text()
    table = text.split("## Keys", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| .*\| ([^|]+) \|$", table, flags=re.M)
    assert rows, "no key rows found in BENCH_KEYS.md"
    keys: set[str] = set()
    int8_model_keys = [k for k, _ in rows if k.startswith("models.int8.")]
    for key, unit in rows:
        unit = unit.strip()
        if key == "models.float.*":
            keys |= {k.replace("models.int8.", "models.float.") for k in int8_model_keys}
        elif unit == "latency":
            keys |= {f"{key}.{f}" for f in common.STAT_FIELDS}
        elif unit == "target":
            keys |= {f"{key}.{f}" for f in ("target", "value", "unit", "met")}
        else:
            keys.add(key)
    return keys


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One fast CLI run with --json, --markdown and --plot; returns (result dict, markdown path, plot path)."""
    out = tmp_path_factory.mktemp("bench")
    md, png = out / "report.md", out / "latency.png"
    proc = run_cli("--model", MODEL, *FAST, "--json", "--markdown", str(md), "--plot", str(png))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), md, png


def test_json_has_exactly_the_documented_keys(cli_run):
    result, _, _ = cli_run
    flat = report.flatten(result)
    documented = documented_keys()
    assert sorted(set(flat) - documented) == [], "keys missing from BENCH_KEYS.md"
    assert sorted(documented - set(flat)) == [], "documented keys missing from the JSON"
    assert result["schema_version"] == common.SCHEMA_VERSION


def test_skipped_parts_keep_their_keys():
    """Stable keys: a run with every stage skipped has the same key set as a full one (values null)."""
    result = bench.run_benchmark(MODEL, repeat=1, data=None, skip=list(common.STAGES))
    assert set(report.flatten(result)) == documented_keys()
    assert result["dsp"]["edge_genre_batch"] == common.empty_stats()
    assert result["accuracy"]["ran"] is False
    assert all(t["met"] is None for name, t in result["targets"].items() if name != "int8_model_size")
    json.dumps(result)  # serialisable


def _check_stats(stats: dict, n: int) -> None:
    assert stats["n"] == n
    assert 0 < stats["min_ms"] <= stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    assert stats["min_ms"] <= stats["mean_ms"]


def _consistent(ratio: float, a: float, b: float) -> bool:
    return math.isclose(ratio, a / b, rel_tol=2e-3)


def test_latencies_are_positive_and_ratios_match_the_times(cli_run):
    result, _, _ = cli_run
    dsp, inf, e2e = result["dsp"], result["inference"], result["e2e"]
    for stats in (dsp["edge_genre_batch"], dsp["edge_genre_stream"], inf["int8"], e2e["int8"]):
        _check_stats(stats, 3)
    if result["models"]["float"]["path"]:
        _check_stats(inf["float"], 3)
        _check_stats(e2e["float"], 3)
        assert _consistent(inf["int8_speedup_vs_float"], inf["float"]["p50_ms"], inf["int8"]["p50_ms"])
    if result["env"]["librosa"]:
        _check_stats(dsp["librosa"], 3)
        assert _consistent(dsp["speedup_vs_librosa"], dsp["librosa"]["p50_ms"], dsp["edge_genre_batch"]["p50_ms"])
        assert _consistent(dsp["stream_speedup_vs_librosa"], dsp["librosa"]["p50_ms"], dsp["edge_genre_stream"]["p50_ms"])
        assert dsp["max_abs_diff_vs_librosa"] < 0.05  # edge_genre's MFCC equals librosa's
    if result["env"]["python_speech_features"]:
        assert _consistent(dsp["speedup_vs_psf"], dsp["psf"]["p50_ms"], dsp["edge_genre_batch"]["p50_ms"])
    assert _consistent(dsp["stream_vs_batch"], dsp["edge_genre_batch"]["p50_ms"], dsp["edge_genre_stream"]["p50_ms"])
    # Streaming transforms only the new frames of a hop plus the window edges.
    assert dsp["stream_frames_per_hop"] < dsp["batch_frames_per_window"]
    assert 990 < e2e["hop_ms"] < 1010
    assert _consistent(e2e["int8_rtf"], e2e["int8"]["p50_ms"], e2e["hop_ms"])
    assert inf["keras"] == common.empty_stats()  # skipped: keys kept, values null


def test_memory_cold_start_sizes_and_cost(cli_run):
    result, _, _ = cli_run
    mem, cold, model, cost = result["memory"], result["cold_start"], result["models"]["int8"], result["cost"]
    assert mem["python_baseline_rss_mb"] > 1
    assert mem["runtime_rss_after_import_mb"] <= mem["runtime_rss_after_load_mb"] <= mem["runtime_peak_rss_mb"]
    assert mem["runtime_peak_rss_mb"] < 500  # the child's own peak, not the parent's
    assert 0 < cold["python_startup_s"] < cold["cli_s"] < 60 and cold["runs"] >= 2
    assert model["size_bytes"] == Path(model["path"]).stat().st_size
    assert model["weights_bytes"] < model["size_bytes"]
    assert 0 < model["activation_bytes_peak"] <= model["activation_bytes_total"]
    assert model["macs"] == sum(model["macs_by_op"].values()) > 0
    assert {"CONV_2D", "UNIDIRECTIONAL_SEQUENCE_LSTM", "FULLY_CONNECTED"} <= set(model["macs_by_op"])
    assert cost["model_macs_int8"] == model["macs"]
    assert cost["peak_gflops"] > 0 and cost["dsp_flops_per_window"] > cost["dsp_flops_per_hop"] > 0
    gmacs = model["macs"] / (result["inference"]["int8"]["p50_ms"] * 1e-3) / 1e9
    assert math.isclose(cost["int8_gmacs"], gmacs, rel_tol=2e-3)
    assert math.isclose(cost["int8_fraction_of_peak"], cost["int8_gmacs"] / cost["peak_gmacs"], rel_tol=5e-3)
    targets = result["targets"]
    assert targets["int8_model_size"]["met"] == (model["size_bytes"] <= 200_000)
    assert targets["cold_start"]["value"] == cold["cli_s"]
    assert targets["e2e_int8_per_hop"]["value"] == result["e2e"]["int8"]["p50_ms"]
    assert targets["rss_vs_tf_pipeline"]["met"] is None  # the TF pipeline was skipped


def test_markdown_plot_and_text_reports(cli_run):
    result, md, png = cli_run
    text = md.read_text()
    assert text.startswith("# edge-genre benchmark")
    assert "| section | metric | value | target | status |" in text
    assert "<= 2 ms" in text and "int8 TFLite predict" in text
    if common.installed("matplotlib"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = report.format_text(result)
    assert "[DSP]" in table and "[End to end]" in table and "[Cost]" in table
    assert any(line.strip().startswith("int8 per hop") for line in table.splitlines())


def test_invalid_model_is_a_one_line_error():
    proc = run_cli("--model", "/nonexistent/model.tflite", "--repeat", "1", timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-genre: error:") and "nonexistent" in lines[0], proc.stderr
    assert proc.stdout == ""


def test_not_a_model_and_bad_keras_path_are_errors(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    proc = run_cli("--model", str(junk), "--repeat", "1", timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("edge-genre: error:")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("--model", MODEL, "--keras-model", str(tmp_path / "missing"), "--repeat", "1", timeout=60)
    assert proc.returncode == 2 and "Keras model" in proc.stderr


def test_float_sibling_and_keras_path_resolution(tmp_path):
    int8 = tmp_path / "m_int8.tflite"
    flt = tmp_path / "m_float.tflite"
    int8.write_bytes(b"x")
    assert models.resolve_float_model(str(int8), "auto") is None  # no sibling yet
    flt.write_bytes(b"x")
    assert models.resolve_float_model(str(int8), "auto") == str(flt)
    assert models.resolve_float_model("int8", "auto") == "float"
    assert models.resolve_float_model("int8", "other.tflite") == "other.tflite"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"x")
    assert models.resolve_keras_model(tmp_path / "run") == tmp_path / "run" / "model.keras"


def test_relative_keras_path_resolves_to_an_absolute_one(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    resolved = models.resolve_keras_model("run")
    assert resolved.is_absolute() and resolved == (tmp_path / "run" / "model.keras").resolve()


def test_accuracy_on_data(data_dir):
    """Accuracy on a couple of clips of the shared GTZAN subset (marked ``data`` via the fixture)."""
    result = bench.run_benchmark(MODEL, repeat=1, data=data_dir, max_clips=2,
                                 skip=[s for s in common.STAGES if s != "accuracy"])
    acc = result["accuracy"]
    # held-out songs: a 30-s clip gives ten windows, an excerpt one (zero-padded, as classify does)
    assert acc["ran"] and acc["n_clips"] == 2 and 2 <= acc["n_windows"] <= 20 and acc["held_out"]
    for kind in ("int8",) + (("float",) if result["models"]["float"]["path"] else ()):
        assert 0 <= acc[kind]["window"] <= 1 and 0 <= acc[kind]["clip"] <= 1
    if acc["float"]["window"] is not None:
        assert math.isclose(acc["int8_drop_pp"], 100 * (acc["float"]["window"] - acc["int8"]["window"]), abs_tol=1e-6)
        assert 0 <= acc["agreement_int8_float"] <= 1
    if not acc["held_out"]:
        assert any("not meaningful" in n for n in result["notes"])


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory) -> tuple[Path, int]:
    """A training-run-like folder with a tiny untrained CRNN ``model.keras``; (folder, parameter count)."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    import train  # noqa: F401  (selects Keras 2)
    from edge_genre.model_io import read_model_info
    from train.models import build_model

    info = read_model_info(MODEL)
    model = build_model("crnn", info.config.feature_shape, len(info.labels), lstm_units=8)
    run = tmp_path_factory.mktemp("run")
    model.save(run / "model.keras")
    return run, int(model.count_params())


def test_keras_model_is_timed(tiny_keras):
    run, parameters = tiny_keras
    result = bench.run_benchmark(MODEL, repeat=3, warmup=1, data=None, keras_model=run,
                                 skip=["dsp", "e2e", "memory", "alt-pipeline", "cold-start", "cost"])
    inf = result["inference"]
    _check_stats(inf["keras"], 3)
    _check_stats(inf["keras_graph"], 3)
    assert _consistent(inf["int8_speedup_vs_keras"], inf["keras"]["p50_ms"], inf["int8"]["p50_ms"])
    assert _consistent(inf["int8_speedup_vs_keras_graph"], inf["keras_graph"]["p50_ms"], inf["int8"]["p50_ms"])
    assert result["models"]["keras"]["parameters"] == parameters
    assert result["models"]["keras"]["size_bytes"] == (run / "model.keras").stat().st_size


def test_tensorflow_librosa_pipeline_memory(tiny_keras, monkeypatch):
    """The TF + librosa process (Keras predict) is measured beside the runtime process.

    The run directory is given relative to the working directory, as users type it: the child
    process that loads it starts elsewhere.
    """
    pytest.importorskip("librosa")
    run, _ = tiny_keras
    monkeypatch.chdir(run.parent)
    result = bench.run_benchmark(MODEL, repeat=1, data=None, keras_model=run.name,
                                 skip=["dsp", "inference", "e2e", "keras", "cold-start", "cost"])
    mem = result["memory"]
    assert "Keras" in mem["alt_pipeline"]
    assert mem["alt_pipeline_peak_rss_mb"] > mem["runtime_peak_rss_mb"] > 0, result["notes"]
    assert mem["alt_pipeline_wall_s"] > 0
    assert _consistent(mem["alt_vs_runtime"], mem["alt_pipeline_peak_rss_mb"], mem["runtime_peak_rss_mb"])
    assert result["targets"]["rss_vs_tf_pipeline"]["met"] == (mem["alt_vs_runtime"] >= 10)


def test_missing_optional_packages_are_skipped_with_notes(monkeypatch, tmp_path):
    """A fresh install (no librosa, python_speech_features, TensorFlow, matplotlib) still benchmarks."""
    absent = {"librosa", "python_speech_features", "tensorflow", "matplotlib"}
    real = common.installed
    monkeypatch.setattr(common, "installed", lambda name: name.split(".")[0] not in absent and real(name))
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"never loaded")
    result = bench.run_benchmark(MODEL, repeat=2, warmup=0, data=None, keras_model=keras_file,
                                 skip=["memory", "cold-start", "cost", "e2e"])
    assert result["dsp"]["librosa"] == common.empty_stats() and result["dsp"]["speedup_vs_librosa"] is None
    assert result["dsp"]["psf"] == common.empty_stats()
    assert result["dsp"]["edge_genre_batch"]["n"] == 2
    assert result["inference"]["keras"] == common.empty_stats()
    assert result["memory"]["alt_pipeline"] is None
    notes = " ".join(result["notes"])
    for what in ("librosa not installed", "python_speech_features not installed", "TensorFlow not installed"):
        assert what in notes
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert "matplotlib not installed" in report.write_plot(result, tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
