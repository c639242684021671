"""Does ``edge-genre classify`` run at single-thread speed with default settings?

Times ``edge-genre classify`` over a folder of clips (default: the 100 clips of gtzan-mini) in fresh
processes, interleaved, in three configurations:

- ``default``: the environment without any BLAS thread variable (what a user runs);
- ``one thread``: ``OPENBLAS_NUM_THREADS=1`` (the single-thread reference);
- ``pool of N``: ``OPENBLAS_NUM_THREADS=<cores>`` (NumPy's own default, what ``classify`` ran with before
  edge-genre limited BLAS threads itself).

``--load K`` runs K busy-looping processes meanwhile (a Pi running other services). Prints the median
wall time of each and the ratio default / one thread (target: at most 1.2).

    python -m benchmarks.threads_bench [FOLDER] [--repeat 3] [--load 2] [--json-out F]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

from edge_genre.blas import BLAS_THREAD_VARIABLES

DEFAULT_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gtzan-mini"


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 1103515245 + 12345) % 2**31


def time_classify(folder: Path, blas: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES + ("OMP_NUM_THREADS",)}
    if blas is not None:
        env["OPENBLAS_NUM_THREADS"] = blas
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edge_genre.cli", "classify", str(folder), "--json"], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise click.ClickException(f"classify failed: {proc.stderr.strip()[-300:]}")
    return elapsed


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_FOLDER)
@click.option("--repeat", type=click.IntRange(1, 20), default=3, show_default=True, help="Runs of each configuration.")
@click.option("--load", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Busy-looping processes running meanwhile.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write JSON here.")
def main(folder: Path, repeat: int, load: int, json_out: Path | None) -> None:
    """Time 'edge-genre classify FOLDER' with default, single-thread and NumPy-default BLAS threads."""
    from edge_genre.audio import find_audio_files

    clips = len(find_audio_files([folder]))
    cores = os.cpu_count() or 1
    configs = {"default": None, "one thread": "1", f"pool of {cores}": str(cores)}
    times: dict[str, list[float]] = {name: [] for name in configs}
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(load)]
    for b in burners:
        b.start()
    try:
        for i in range(repeat):
            for name, blas in configs.items():
                times[name].append(time_classify(folder, blas))
                click.echo(f"run {i + 1}/{repeat} {name:<12} {times[name][-1]:6.2f} s", err=True)
    finally:
        stop.set()
        for b in burners:
            b.join()
    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = med["default"] / med["one thread"]
    result = {"clips": clips, "folder": str(folder), "cores": cores, "load_processes": load, "repeat": repeat,
              "median_s": med, "all_s": times, "default_over_single": ratio, "target": 1.2, "met": ratio <= 1.2}
    click.echo(f"classify of {clips} clips, {cores} cores, {load} busy processes, median of {repeat}:")
    for name, m in med.items():
        click.echo(f"  {name:<12} {m:7.2f} s  ({m / med['one thread']:.2f}x one thread)")
    click.echo(f"default / one thread = {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})")
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
