"""MFCC front-end benchmark: edge_genre vs librosa vs python_speech_features, single-threaded.

Usage::

    python benchmarks/mfcc_bench.py [--data DIR] [--clips N] [--repeat N] [--json]

Measures, on one core (BLAS/OpenMP thread pools are pinned to 1 before NumPy loads):

- batch: milliseconds per 3-s window (66150 samples at 22050 Hz -> 130 x 13) of
  ``edge_genre.mfcc``, ``librosa.feature.mfcc`` and ``python_speech_features.mfcc``
  (median, p90 and best over every timed call; the three are interleaved window
  by window so that load changes on a noisy machine hit them alike), the ratio
  to edge_genre, and the parity error against librosa;
- streaming: ``StreamingMFCC.push`` per 1-s hop in steady state (the first hops
  of each clip are warm-up and not timed), with hop-sized chunks and with
  512-sample chunks as a sound card would deliver them;
- memory: peak RSS (``ru_maxrss``) of a fresh interpreter that imports
  edge_genre, loads a clip and extracts its features, next to a bare
  ``import numpy`` interpreter.

Input: the GTZAN subset under ``--data`` (default ``$EDGE_GENRE_DATA`` or
``<repo>/../shared/data``), one clip per genre first; without it, synthetic
music-like clips (notes with harmonics and decays, drums, pink noise).

Targets are printed next to the figures, never asserted: batch >= 3x faster
than librosa, streaming <= 0.3 ms per hop, peak RSS <= 50 MB.
"""

from __future__ import annotations

import os

# Single-threaded: must happen before NumPy (and its BLAS) is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

_NUMPY_WAS_LOADED = "numpy" in sys.modules  # then the thread variables may come too late

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the checkout (edge_genre, benchmarks) importable
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.rss import rss_kb  # noqa: E402
SR = 22050
WINDOW = 66150
N_FFT, HOP, N_MFCC = 2048, 512, 13
TARGET_SPEEDUP = 3.0
TARGET_HOP_MS = 0.3
TARGET_RSS_MB = 50.0
PSF_NOTES = (
    "python_speech_features is a different MFCC: HTK mel scale (2595*log10(1+f/700)) with unnormalised "
    "triangles snapped to integer FFT bins (librosa: Slaney mel, area-normalised filters), natural log of "
    "the mel energies floored at eps (librosa: 10*log10 with amin 1e-10 and a top_db=80 floor), power "
    "spectrum divided by NFFT, frames not centred (frame i starts at sample i*512, i.e. librosa frame i+2; "
    "127 frames instead of 130; zero-padded at the end only). Set as close as it allows: winlen=2048/22050, "
    "winstep=512/22050, nfft=2048, numcep=13, nfilt={nfilt}, lowfreq=0, highfreq=11025, preemph=0, "
    "ceplifter=0, appendEnergy=False, winfunc=periodic Hann. Its error is shown after aligning frames and "
    "is expected to be large: it is a different feature, not a wrong one."
)


# ----------------------------------------------------------------------------- input

def default_data_dir() -> Path:
    env = os.environ.get("EDGE_GENRE_DATA", "").strip()
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"


def gtzan_clips(data_dir: Path, n_clips: int) -> list[Path]:
    """Up to ``n_clips`` clips, round-robin over genres (first clip of every genre first)."""
    root = data_dir / "gtzan-mini" / "genres_original"
    if not root.is_dir():
        return []
    by_genre = [sorted(d.glob("*.wav")) for d in sorted(root.iterdir()) if d.is_dir()]
    picked: list[Path] = []
    for i in range(max((len(g) for g in by_genre), default=0)):
        for g in by_genre:
            if i < len(g) and len(picked) < n_clips:
                picked.append(g[i])
    return picked


def synthetic_clip(rng: np.random.Generator, seconds: float = 30.0, kind: int = 0) -> np.ndarray:
    """Music-like test audio: a melody of decaying harmonic notes, kick/snare/hat, pink-noise bed."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    beat = 60 / (80 + 20 * kind)
    for start in np.arange(0, seconds, beat / 2):
        i0 = int(start * SR)
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        seg = t[i0:i0 + int(0.8 * SR)] - start
        note = sum(np.sin(2 * np.pi * f0 * h * seg) / h ** 1.5 for h in range(1, 6))
        y[i0:i0 + seg.size] += 0.15 * np.exp(-3 * seg) * note
        hit = t[i0:i0 + int(0.12 * SR)] - start
        y[i0:i0 + hit.size] += 0.3 * np.exp(-30 * hit) * (np.sin(2 * np.pi * 55 * hit) if int(start / beat * 2) % 2 == 0
                                                          else rng.standard_normal(hit.size))
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    spec[0] = 0
    pink = np.fft.irfft(spec, n)
    y += 0.05 * pink / np.abs(pink).max()
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def load_input(data_dir: Path, n_clips: int) -> tuple[list[np.ndarray], list[str], str, Path | None]:
    """Clips (float32 mono 22050 Hz), their names, a description, and a file for the RSS probe."""
    from edge_genre import load_audio

    paths = gtzan_clips(data_dir, n_clips)
    if paths:
        clips = [load_audio(p, sr=SR) for p in paths]
        return clips, [p.name for p in paths], f"GTZAN subset ({paths[0].parent.parent})", paths[0]
    rng = np.random.default_rng(0)
    clips = [synthetic_clip(rng, 30.0, kind=i % 5) for i in range(n_clips)]
    return clips, [f"synthetic-{i}" for i in range(n_clips)], f"synthetic music-like audio (no data at {data_dir})", None


# ----------------------------------------------------------------------------- implementations

def periodic_hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def implementations() -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], dict[str, str]]:
    """Name -> f(window) giving (frames, 13); plus notes on what is missing."""
    import edge_genre

    impls: dict[str, Callable[[np.ndarray], np.ndarray]] = {"edge_genre.mfcc": lambda w: edge_genre.mfcc(w, SR)}
    notes: dict[str, str] = {}
    try:
        import librosa

        impls["librosa.feature.mfcc"] = lambda w: librosa.feature.mfcc(
            y=w, sr=SR, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP).T
    except ImportError as exc:
        notes["librosa.feature.mfcc"] = f"not installed ({exc})"
    try:
        import python_speech_features as psf

        def make_psf(nfilt: int):
            return lambda w: psf.mfcc(w, samplerate=SR, winlen=N_FFT / SR, winstep=HOP / SR, numcep=N_MFCC,
                                      nfilt=nfilt, nfft=N_FFT, lowfreq=0, highfreq=SR / 2, preemph=0,
                                      ceplifter=0, appendEnergy=False, winfunc=periodic_hann)

        nfilt = 128
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                probe = make_psf(128)(np.random.default_rng(1).standard_normal(WINDOW).astype(np.float32) * 0.1)
            if not np.isfinite(probe).all():
                raise ValueError("non-finite output")
        except Exception:  # noqa: BLE001 - fall back to its default filter count
            nfilt = 26
        impls["python_speech_features.mfcc"] = make_psf(nfilt)
        notes["python_speech_features.mfcc"] = PSF_NOTES.format(nfilt=nfilt)
    except ImportError as exc:
        notes["python_speech_features.mfcc"] = f"not installed ({exc})"
    return impls, notes


# ----------------------------------------------------------------------------- measurements

def stats_ms(ns) -> dict[str, float]:
    a = np.asarray(ns, dtype=np.float64).ravel() / 1e6
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)),
            "best_ms": float(a.min()), "mean_ms": float(a.mean()), "n": int(a.size)}


def batch_stats(ns: list[list[int]]) -> dict[str, float]:
    """``ns[r][w]``: time of repeat r on window w. Headline figures are over windows of the best of the
    repeats of each window (preemption on a busy machine only ever adds time); raw figures are over all calls."""
    a = np.asarray(ns, dtype=np.float64)
    best = a.min(axis=0)
    out = stats_ms(best)
    out["n_windows"], out["repeats"] = int(a.shape[1]), int(a.shape[0])
    raw = stats_ms(a)
    out.update(raw_median_ms=raw["median_ms"], raw_p90_ms=raw["p90_ms"], n=raw["n"])
    return out


def bench_batch(windows: list[np.ndarray], impls: dict[str, Callable], repeat: int, warmup: int) -> dict[str, list[list[int]]]:
    """Per-call times in ns, ``[repeat][window]``; the implementations take turns on every window, in a rotating order."""
    names = list(impls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:  # warm-up: lazy imports, caches, allocator
            for w in windows[:warmup]:
                impls[name](w)
        times: dict[str, list[list[int]]] = {name: [] for name in names}
        perf = time.perf_counter_ns
        gc.collect()
        gc.disable()
        try:
            k = 0
            for _ in range(repeat):
                for name in names:
                    times[name].append([])
                for w in windows:
                    k += 1
                    for name in names[k % len(names):] + names[:k % len(names)]:
                        f = impls[name]
                        t0 = perf()
                        f(w)
                        times[name][-1].append(perf() - t0)
        finally:
            gc.enable()
    return times


def parity(windows: list[np.ndarray], impls: dict[str, Callable]) -> dict[str, dict]:
    """Max abs error against librosa over all windows (psf after aligning its frame i with librosa's i+2)."""
    ref_f = impls.get("librosa.feature.mfcc")
    out: dict[str, dict] = {}
    if ref_f is None:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs = [ref_f(w) for w in windows]
        for name, f in impls.items():
            if name == "librosa.feature.mfcc":
                continue
            max_err, shape, ok = 0.0, None, True
            for w, ref in zip(windows, refs):
                ours = f(w)
                shape = list(ours.shape)
                if ours.shape == ref.shape:
                    max_err = max(max_err, float(np.abs(ours.astype(np.float64) - ref).max()))
                    ok &= bool(np.allclose(ours, ref, rtol=1e-5, atol=1e-3))
                else:
                    n = min(ours.shape[0], ref.shape[0] - 2)
                    max_err = max(max_err, float(np.abs(ours[:n].astype(np.float64) - ref[2:2 + n]).max()))
                    ok = False
            comparable = shape == list(refs[0].shape)
            out[name] = {"max_abs_err": max_err, "shape": shape, "librosa_shape": list(refs[0].shape),
                         "comparable": comparable, "within_contract": ok if comparable else None,
                         "alignment": None if comparable else "own frame i vs librosa frame i+2"}
    return out


def bench_streaming(clips: list[np.ndarray], chunk: int | None, repeat: int, warmup_hops: int = 3) -> dict:
    """Steady-state ms per 1-s hop. ``chunk=None``: one hop-sized push per window; else fixed-size pushes,
    summing the pushes between two windows (what the hop costs in total)."""
    from edge_genre import FeatureConfig, StreamingMFCC

    stream = StreamingMFCC(FeatureConfig(), hop_seconds=1.0)
    hop = stream.hop_samples
    per_hop: list[int] = []
    frames_per_hop: list[int] = []
    perf = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for y in clips:
                stream.reset()
                stream.push(y[:WINDOW])  # first window: all 130 frames, not steady state
                pos, hops, acc = WINDOW, 0, 0
                step = hop if chunk is None else chunk
                before = stream.frames_computed
                while pos + step <= y.size:
                    t0 = perf()
                    out = stream.push(y[pos:pos + step])
                    acc += perf() - t0
                    pos += step
                    if out:
                        hops += 1
                        if hops > warmup_hops:
                            per_hop.append(acc // len(out))
                            frames_per_hop.append((stream.frames_computed - before) // len(out))
                        acc = 0
                        before = stream.frames_computed
    finally:
        gc.enable()
    res = stats_ms(per_hop)
    res.update(hop_samples=hop, hop_seconds=hop / SR, chunk_samples=chunk or hop,
               frames_per_hop=int(np.median(frames_per_hop)) if frames_per_hop else None)
    return res


LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def fresh_rss(audio_path: Path | None, clip: np.ndarray | None = None) -> dict:
    """Peak RSS (MiB) of fresh interpreters: edge_genre load + features, and bare ``import numpy``.

    On Linux a child's ``ru_maxrss`` starts from its parent's RSS at fork time, so the probe is
    started by a small launcher interpreter (no NumPy, ~10 MiB), not by this process.
    ``VmHWM`` (the probe's own peak, unaffected by the parent) is reported alongside.
    """
    parent_kb = rss_kb()
    with tempfile.TemporaryDirectory() as tmp:
        if audio_path is None:
            import soundfile as sf

            audio_path = Path(tmp) / "synthetic.wav"
            sf.write(str(audio_path), clip, SR, subtype="PCM_16")

        # The probes import benchmarks.rss from this checkout.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))

        def run(probe: str, *args: str) -> dict:
            best = None
            for _ in range(3):  # RSS barely varies; take the lowest of three
                proc = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, "-m", f"benchmarks.probes.{probe}",
                                       *args],
                                      capture_output=True, text=True, cwd=tmp, env=env, timeout=300)
                if proc.returncode != 0:
                    raise RuntimeError(f"RSS probe failed: {proc.stderr.strip().splitlines()[-1:]}")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                if best is None or res["maxrss_kb"] < best["maxrss_kb"]:
                    best = res
            return best

        edge = run("front_end_rss", str(audio_path))
        base = run("numpy_rss")
        seconds = edge["samples"] / SR
    mb = lambda kb: None if kb is None else kb / 1024  # noqa: E731
    return {
        "peak_rss_mb": mb(edge["maxrss_kb"]), "vmhwm_mb": mb(edge["vmhwm_kb"]),
        "numpy_only_rss_mb": mb(base["maxrss_kb"]), "numpy_only_vmhwm_mb": mb(base["vmhwm_kb"]),
        "benchmark_rss_at_spawn_mb": mb(parent_kb),
        "clip": str(audio_path) if "synthetic" not in str(audio_path) else "synthetic WAV (temp dir)",
        "clip_seconds": seconds, "heavy_modules": edge["heavy_modules"],
    }


# ----------------------------------------------------------------------------- report

def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
           "system": platform.system(), "cpus": str(os.cpu_count())}
    for mod in ("librosa", "python_speech_features", "soxr", "soundfile"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except ImportError:
            pass
    try:
        from importlib.metadata import version

        out["python_speech_features"] = version("python_speech_features")
        out["edge_genre"] = version("edge-genre")
    except Exception:  # noqa: BLE001
        pass
    return out


def thread_check() -> str:
    try:
        from threadpoolctl import threadpool_info

        pools = {f"{p.get('internal_api')}": p.get("num_threads") for p in threadpool_info()}
        return ", ".join(f"{k}={v}" for k, v in pools.items()) or "no native pools"
    except ImportError:
        return "threadpoolctl not installed (env vars set to 1)"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def format_table(r: dict) -> str:
    lines = []
    v = r["versions"]
    lines.append(f"edge-genre MFCC benchmark: single thread ({r['threads']}); Python {v['python']}, numpy {v['numpy']}"
                 + (f", librosa {v['librosa']}" if "librosa" in v else "")
                 + (f", python_speech_features {v['python_speech_features']}" if "python_speech_features" in v else "")
                 + f"; {v['system']} {v['machine']}, {v['cpus']} CPUs")
    inp = r["input"]
    lines.append(f"input: {inp['windows']} windows of 3 s ({WINDOW} samples -> 130x13) from {inp['clips']} clips of "
                 f"{inp['source']}; {r['repeat']} interleaved repeats ({r['batch']['edge_genre.mfcc']['n']} timed calls each)")
    lines.append("batch: median / p90 over windows of each window's best repeat; 'all-calls' = median of every call. "
                 "streaming: over steady-state hops")
    if r.get("warning"):
        lines.append(f"WARNING: {r['warning']}")
    lines.append("")
    head = (f"{'implementation':<30} {'median ms':>10} {'p90 ms':>8} {'best ms':>8} {'all-calls':>9} {'x edge':>7}  "
            f"{'max|err| vs librosa':<22}")
    lines.append(head)
    lines.append("-" * len(head))
    edge_med = r["batch"]["edge_genre.mfcc"]["median_ms"]
    for name, s in r["batch"].items():
        p = r["parity"].get(name)
        if name == "librosa.feature.mfcc":
            err = "(reference)"
        elif p is None:
            err = "n/a (no librosa)"
        elif p["comparable"]:
            err = f"{p['max_abs_err']:.2g}" + (" (within rtol 1e-5/atol 1e-3)" if p["within_contract"] else " (OUTSIDE contract)")
        else:
            err = f"not comparable: {p['shape'][0]}x{p['shape'][1]} vs {p['librosa_shape'][0]}x{p['librosa_shape'][1]}; aligned {p['max_abs_err']:.3g}"
        lines.append(f"{name:<30} {s['median_ms']:>10.3f} {s['p90_ms']:>8.3f} {s['best_ms']:>8.3f} "
                     f"{s['raw_median_ms']:>9.3f} {s['median_ms'] / edge_med:>6.2f}x  {err}")
    for key, label in (("hop_chunks", "StreamingMFCC.push, 1-s hop"), ("chunks_512", "  same, 512-sample pushes")):
        s = r["streaming"][key]
        lines.append(f"{label:<30} {s['median_ms']:>10.3f} {s['p90_ms']:>8.3f} {s['best_ms']:>8.3f} "
                     f"{s['median_ms']:>9.3f} {s['median_ms'] / edge_med:>6.2f}x  per hop ({s['hop_samples']} samples, "
                     f"{s['frames_per_hop']} frames computed), {s['n']} steady-state hops")
    m = r["memory"]
    lines.append("")
    if m.get("error"):
        lines.append(f"peak RSS: not measured ({m['error']})")
    else:
        hwm = lambda v: "" if v is None else f", VmHWM {v:.1f}"  # noqa: E731
        lines.append(f"peak RSS of a fresh process (import edge_genre, load a {m['clip_seconds']:.1f}-s clip, mfcc + "
                     f"window_features + streaming): ru_maxrss {m['peak_rss_mb']:.1f} MiB{hwm(m['vmhwm_mb'])} MiB")
        lines.append(f"  baseline 'import numpy' alone: ru_maxrss {m['numpy_only_rss_mb']:.1f}{hwm(m['numpy_only_vmhwm_mb'])} MiB; "
                     f"probes started by a small launcher (this process: {m['benchmark_rss_at_spawn_mb'] or float('nan'):.1f} MiB); "
                     f"heavy modules in the child: {', '.join(m['heavy_modules']) or 'none'}")
    t = r["targets"]
    lines.append("")
    lines.append("targets (informational, not asserted):")
    lines.append(f"  batch >= {TARGET_SPEEDUP:g}x faster than librosa   "
                 + (f"{t['speedup_vs_librosa']:.2f}x  [{verdict(t['speedup_met'])}]" if t["speedup_vs_librosa"] else "n/a"))
    lines.append(f"  streaming <= {TARGET_HOP_MS:g} ms per hop         {t['hop_ms']:.3f} ms  [{verdict(t['hop_met'])}]")
    lines.append(f"  peak RSS <= {TARGET_RSS_MB:g} MB                  "
                 + (f"{t['rss_mb']:.1f} MiB  [{verdict(t['rss_met'])}]" if t["rss_mb"] is not None else "n/a"))
    if r["notes"]:
        lines.append("")
        lines.append("notes:")
        for name, note in r["notes"].items():
            lines.extend(textwrap.wrap(f"{name}: {note}", width=110, initial_indent="  ", subsequent_indent="    "))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    # Memory first, while this process is small (a child's ru_maxrss starts at the parent's RSS).
    first = gtzan_clips(args.data, 1)
    try:
        memory = fresh_rss(first[0] if first else None,
                           None if first else synthetic_clip(np.random.default_rng(0), 30.0, kind=0))
    except Exception as exc:  # noqa: BLE001 - report, do not crash the benchmark
        memory = {"error": str(exc), "peak_rss_mb": None}
    clips, names, source, _ = load_input(args.data, args.clips)
    windows = [y[k * WINDOW:(k + 1) * WINDOW] for y in clips for k in range(y.size // WINDOW)]
    windows = [np.ascontiguousarray(w) for w in windows[:args.max_windows]]
    impls, notes = implementations()
    times = bench_batch(windows, impls, args.repeat, warmup=min(5, len(windows)))
    batch = {name: batch_stats(ns) for name, ns in times.items()}
    par = parity(windows, impls)
    streaming = {
        "hop_chunks": bench_streaming(clips, None, args.repeat),
        "chunks_512": bench_streaming(clips, 512, max(1, args.repeat // 2)),
    }
    edge_med = batch["edge_genre.mfcc"]["median_ms"]
    lib = batch.get("librosa.feature.mfcc")
    speedup = lib["median_ms"] / edge_med if lib else None
    hop_ms = streaming["hop_chunks"]["median_ms"]
    rss = memory.get("peak_rss_mb")
    result = {
        "versions": versions(),
        "threads": thread_check(),
        "repeat": args.repeat,
        "input": {"source": source, "clips": len(clips), "clip_names": names, "windows": len(windows)},
        "batch": batch,
        "ratio_vs_edge": {name: s["median_ms"] / edge_med for name, s in batch.items()},
        "parity": par,
        "streaming": streaming,
        "memory": memory,
        "targets": {
            "speedup_vs_librosa": speedup, "speedup_met": None if speedup is None else speedup >= TARGET_SPEEDUP,
            "hop_ms": hop_ms, "hop_met": hop_ms <= TARGET_HOP_MS,
            "rss_mb": rss, "rss_met": None if rss is None else rss <= TARGET_RSS_MB,
        },
        "notes": notes,
    }
    if _NUMPY_WAS_LOADED:
        result["warning"] = "numpy was imported before this module: thread limits may not apply"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help="shared data folder holding gtzan-mini/ (default: $EDGE_GENRE_DATA or ../shared/data)")
    parser.add_argument("--clips", type=int, default=10, help="clips to use, one genre after another (default 10)")
    parser.add_argument("--max-windows", type=int, default=100, help="3-s windows timed per repeat (default 100)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="passes over the windows / clips; batch figures use each window's best pass (default 5)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.clips < 1 or args.max_windows < 1:
        parser.error("--repeat, --clips and --max-windows must be at least 1")
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
