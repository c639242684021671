"""Soak test of the live pipeline: hours of audio through ``edge-genre listen``'s code path.

Feeds looped clips (``gtzan-mini`` from the shared data folder when present, else
synthetic music-like clips) through :class:`edge_genre.capture.FileSource` as fast
as possible into :class:`edge_genre.listen.LivePipeline`, exactly as ``edge-genre
listen --file ... --no-realtime --loop 0`` does, and reports:

- windows (hops) processed and audio hours;
- resident memory (VmRSS) after warm-up and at the end, a trace every 10 minutes
  of audio and the peak: it must not grow beyond a few MB;
- per-hop cost percentiles (DSP = downmix + resampling + incremental MFCC + RMS
  gate; inference = int8 model), mean per-hop cost against the target (2 ms on
  one core). Costs are the main thread's CPU time by default (``--clock cpu``),
  so other processes on a shared machine do not inflate them; ``--clock wall``
  measures wall-clock latency as ``edge-genre listen`` reports it;
- total CPU time (``resource.getrusage``) and the real-time factor.

Everything runs on one thread (BLAS/OpenMP threads are set to 1 before NumPy
loads; the interpreter gets ``num_threads=1``), as on a Raspberry Pi core.
``--input-rate 48000 --channels 2`` converts the clips first, so the soak also
exercises the downmix and streaming resampler of a typical USB microphone.

Usage::

    python benchmarks/soak.py                      # 1 hour of audio, shipped int8 model
    python benchmarks/soak.py --hours 0.1 --json
    python benchmarks/soak.py --model path/to/model_int8.tflite --input-rate 48000 --channels 2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before NumPy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the checkout (edge_genre, benchmarks) importable
    sys.path.insert(0, str(REPO))

from benchmarks.rss import peak_rss_kb, rss_kb  # noqa: E402
TARGET_MS = 2.0
RSS_GROWTH_LIMIT_MB = 5.0
WARMUP_AUDIO_SECONDS = 120.0  # RSS "start" is taken after this much audio (allocations settled)
TRACE_EVERY_SECONDS = 600.0


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the peak elsewhere)."""
    kb = rss_kb()
    return peak_rss_mb() if kb is None else kb / 1024.0


def peak_rss_mb() -> float:
    """Peak resident set size in MiB (:func:`benchmarks.rss.peak_rss_kb`)."""
    return peak_rss_kb() / 1024.0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def find_clips(data_dir: Path | None, n_clips: int) -> list[Path]:
    """Up to ``n_clips`` GTZAN clips, spread over the genres (round robin), or [] when absent."""
    if data_dir is None:
        env = os.environ.get("EDGE_GENRE_DATA", "").strip()
        data_dir = Path(env) if env else REPO.parent / "shared" / "data"
    root = data_dir / "gtzan-mini" / "genres_original"
    if not root.is_dir():
        return []
    by_genre = [sorted(g.glob("*.wav")) for g in sorted(p for p in root.iterdir() if p.is_dir())]
    by_genre = [g for g in by_genre if g]
    clips, i = [], 0
    while len(clips) < n_clips and any(i < len(g) for g in by_genre):
        clips += [g[i] for g in by_genre if i < len(g)]
        i += 1
    return clips[:n_clips]


def synthetic_clips(folder: Path, n_clips: int, sr: int = 22050, seconds: float = 30.0) -> list[Path]:
    """Music-like clips (notes over noise, with a silent gap) written as 16-bit WAV."""
    import soundfile as sf

    paths = []
    for k in range(n_clips):
        rng = np.random.default_rng(k)
        n = int(seconds * sr)
        t = np.arange(n) / sr
        y = 0.02 * rng.standard_normal(n)
        step = 0.2 + 0.05 * k
        for start in np.arange(0, seconds, step):
            f0 = 55 * 2 ** (rng.integers(0, 48) / 12)
            i0 = int(start * sr)
            seg = t[i0 : i0 + int(0.6 * sr)] - start
            y[i0 : i0 + seg.size] += 0.2 * np.exp(-4 * seg) * np.sin(2 * np.pi * f0 * seg)
        y[int(0.5 * n) : int(0.5 * n) + 4 * sr] = 0.0  # silence: exercises the gate
        path = folder / f"synthetic_{k:02d}.wav"
        sf.write(str(path), np.clip(y, -1, 1).astype(np.float32), sr, subtype="PCM_16")
        paths.append(path)
    return paths


def convert_clips(paths: list[Path], folder: Path, rate: int | None, channels: int | None) -> list[Path]:
    """Copies of the clips at ``rate`` Hz with ``channels`` channels (a USB microphone's format)."""
    import soundfile as sf

    from edge_genre.audio import resample

    out = []
    for i, path in enumerate(paths):
        y, sr = sf.read(str(path), dtype="float32", always_2d=True)
        y = y.mean(axis=1).astype(np.float32)
        if rate and rate != sr:
            y, sr = resample(y, sr, rate), rate
        ch = channels or 1
        if ch > 1:  # slightly different channels, as two capsules would give
            y = np.stack([y * (1.0 - 0.1 * c) for c in range(ch)], axis=1)
        target = folder / f"clip_{i:02d}_{sr}_{ch}.wav"
        sf.write(str(target), y, sr, subtype="PCM_16")
        out.append(target)
    return out


def run(args: argparse.Namespace) -> dict:
    from edge_genre.capture import DEFAULT_BLOCK_SECONDS, FileSource
    from edge_genre.classifier import GenreClassifier
    from edge_genre.listen import LivePipeline

    args.block_seconds = args.block_seconds or DEFAULT_BLOCK_SECONDS
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    with tempfile.TemporaryDirectory(prefix="edge-genre-soak-") as tmp:
        tmp = Path(tmp)
        clips = find_clips(args.data, args.clips)
        origin = "gtzan-mini" if clips else "synthetic"
        if not clips:
            clips = synthetic_clips(tmp, args.clips)
        if args.input_rate or (args.channels and args.channels > 1):
            clips = convert_clips(clips, tmp, args.input_rate, args.channels)

        clf = GenreClassifier(args.model, num_threads=1)
        probe = FileSource(clips, realtime=False)
        block_frames = max(1, round(args.block_seconds * probe.sample_rate))
        source = FileSource(clips, realtime=False, loop=0, block_frames=block_frames)
        clock = time.thread_time if args.clock == "cpu" else time.perf_counter
        pipe = LivePipeline(clf, source, hop_seconds=args.hop, smooth=args.smooth, top_k=3, clock=clock)
        duration = args.hours * 3600.0

        rss_initial = rss_mb()
        rss_start = None
        trace: list[tuple[float, float]] = []  # (audio hours, RSS MB): one point per 10 min of audio, bounded
        next_trace = 0.0
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        cpu_warm = None
        hops_warm = 0
        for _ in pipe.run(duration=duration):
            audio = pipe.audio_seconds
            if rss_start is None and audio >= WARMUP_AUDIO_SECONDS:
                rss_start = rss_mb()
                cpu_warm, hops_warm = cpu_seconds(), pipe.hops
            if audio >= next_trace:
                trace.append((round(audio / 3600.0, 3), round(rss_mb(), 2)))
                next_trace += TRACE_EVERY_SECONDS
        wall = time.perf_counter() - wall0
        cpu_end = cpu_seconds()
        cpu = cpu_end - cpu0
        rss_end = rss_mb()
        trace.append((round(pipe.audio_seconds / 3600.0, 3), round(rss_end, 2)))
        summary = pipe.summary()

    if rss_start is None:  # shorter than the warm-up
        rss_start, cpu_warm, hops_warm = rss_initial, cpu0, 0
    lat = summary["latency_ms"]
    steady_hops = max(1, pipe.hops - hops_warm)
    mean_cost = lat["total"]["mean"]
    result = {
        "model": str(clf.path),
        "backend": clf.backend,
        "quantized": clf.quantized,
        "clips": len(clips),
        "clip_source": origin,
        "input": {"sample_rate": source.sample_rate, "channels": source.channels, "block_frames": block_frames},
        "audio_hours": round(pipe.audio_seconds / 3600.0, 4),
        "windows": pipe.hops,
        "silent_windows": summary["silent_windows"],
        "hop_seconds": summary["hop_seconds"],
        "wall_seconds": round(wall, 2),
        "realtime_factor": round(pipe.audio_seconds / wall, 1) if wall > 0 else None,
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_hop": round(1e3 * cpu / max(1, pipe.hops), 3),
        "cpu_ms_per_hop_steady": round(1e3 * (cpu_end - cpu_warm) / steady_hops, 3) if pipe.hops else None,
        "rss_mb": {"initial": round(rss_initial, 2), "start": round(rss_start, 2), "end": round(rss_end, 2),
                   "growth": round(rss_end - rss_start, 2),
                   "peak": round(max(peak_rss_mb(), rss_end, *(mb for _, mb in trace)), 2)},
        "rss_trace": trace,
        "latency_ms": lat,
        "latency_clock": "thread CPU time" if args.clock == "cpu" else "wall clock",
        "target_ms": args.target_ms,
        "mean_cost_ms": mean_cost,
        "meets_target": bool(mean_cost is not None and mean_cost <= args.target_ms),
        "memory_stable": bool(rss_end - rss_start <= RSS_GROWTH_LIMIT_MB),
        "genres": summary["genres"],
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
    }
    return result


def print_table(r: dict) -> None:
    lat = r["latency_ms"]
    rss = r["rss_mb"]
    rows = [
        ("model", f"{Path(r['model']).name} ({r['backend']}, {'int8' if r['quantized'] else 'float'})"),
        ("input", f"{r['clips']} {r['clip_source']} clips looped, {r['input']['sample_rate']} Hz, "
                  f"{r['input']['channels']} ch, blocks of {r['input']['block_frames']} frames, "
                  f"hop {r['hop_seconds']:.4f} s"),
        ("audio", f"{r['audio_hours']:.3f} h in {r['wall_seconds']:.1f} s wall (x{r['realtime_factor']} real time)"),
        ("windows", f"{r['windows']} ({r['silent_windows']} silent)"),
        ("CPU time", f"{r['cpu_seconds']:.2f} s total, {r['cpu_ms_per_hop']:.3f} ms/hop "
                     f"({r['cpu_ms_per_hop_steady']:.3f} ms/hop after warm-up; includes file decoding)"),
        ("RSS MB", f"initial {rss['initial']:.1f}, start {rss['start']:.1f} (after warm-up), end {rss['end']:.1f}, "
                   f"growth {rss['growth']:+.2f}, peak {rss['peak']:.1f} -> "
                   f"{'stable' if r['memory_stable'] else 'GROWING'}"),
        ("RSS trace", ", ".join(f"{h:g} h {mb:.1f}" for h, mb in r["rss_trace"])),
    ]
    width = max(len(k) for k, _ in rows)
    print("edge-genre soak test")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print()
    print(f"  per-hop cost in ms ({r['latency_clock']})")
    print(f"  {'':<12} {'mean':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    for name in ("dsp", "inference", "total"):
        s = lat[name]
        print(f"  {name:<12} {s['mean']:>7.3f} {s['p50']:>7.3f} {s['p95']:>7.3f} {s['p99']:>7.3f} {s['max']:>7.2f}")
    print()
    verdict = "PASS" if r["meets_target"] else "FAIL"
    print(f"  mean per-hop cost {r['mean_cost_ms']:.3f} ms (DSP + inference) vs target <= {r['target_ms']:g} ms "
          f"on one core: {verdict}")
    m = r["machine"]
    print(f"  machine: {m['machine']}, {m['cpus']} CPUs, load average {m['load_avg_1m']} "
          f"(shared machines inflate wall-clock latencies)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1.0, help="hours of audio to feed (default 1)")
    parser.add_argument("--model", default="int8", help="int8, float or a .tflite path (default int8)")
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default $EDGE_GENRE_DATA or ../shared/data)")
    parser.add_argument("--clips", type=int, default=10, help="clips to loop (default 10, one per genre)")
    parser.add_argument("--input-rate", type=int, default=None, help="convert clips to this rate first (e.g. 48000)")
    parser.add_argument("--channels", type=int, default=None, help="convert clips to this many channels first (e.g. 2)")
    parser.add_argument("--hop", type=float, default=1.0, help="hop in seconds (default 1)")
    parser.add_argument("--smooth", type=int, default=5)
    parser.add_argument("--block-seconds", type=float, default=None,
                        help="seconds per source block (default: the microphone's callback block, 0.05 s)")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS, help="per-hop cost target (default 2 ms)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="measure per-hop cost as thread CPU time (default; robust on shared machines) "
                             "or wall-clock latency")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.hours <= 0:
        parser.error("--hours must be positive")

    from edge_genre.errors import EdgeGenreError

    try:
        result = run(args)
    except EdgeGenreError as exc:
        print(f"soak: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0 if result["memory_stable"] else 1


if __name__ == "__main__":
    sys.exit(main())
