"""``edge-genre bench``: a thin click shell over :func:`benchmarks.bench.run_benchmark`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge_genre.cli import ensure_writable
from edge_genre.model_io import MODEL_CHOICES

from .bench import AUTO, DEFAULT_REPEAT, STAGES, format_markdown, format_text, run_benchmark, write_plot


@click.command("bench")
@click.option("--model", "-m", default="int8", show_default=True, metavar=MODEL_CHOICES,
              help="Model under test: a shipped model (int8 = default, large = musicnn backbone) or an exported .tflite.")
@click.option("--float-model", default=None, metavar="float|PATH",
              help="Float reference model [default: the shipped float model, or the *float* sibling of an *int8* file].")
@click.option("--keras-model", type=click.Path(path_type=Path), default=None,
              help="A model.keras, or a training run directory holding one (needs TensorFlow).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Interpreter threads; also the BLAS/TF thread limit (1 = Raspberry-Pi profile).")
@click.option("--repeat", default=DEFAULT_REPEAT, show_default=True, type=click.IntRange(1, 100000),
              help="Timed repetitions per latency figure (after warm-up).")
@click.option("--warmup", default=None, type=click.IntRange(0, 100000), help="Untimed calls first [default: max(3, repeat/10)].")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="GTZAN directory for accuracy [default: $EDGE_GENRE_DATA or ../shared/data when present].")
@click.option("--no-data", is_flag=True, help="Skip accuracy even when a data directory is found.")
@click.option("--max-clips", type=click.IntRange(1, 100000), default=None, help="Evaluate at most this many (held-out) clips.")
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Audio file as the latency input instead of the synthetic 30-s signal.")
@click.option("--skip", multiple=True, type=click.Choice(STAGES), help="Leave out a part (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: benchmarks/BENCH_KEYS.md).")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a markdown report.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a latency bar chart (PNG).")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress on stderr (by default: a line rewritten in place on a terminal, a line per stage "
                   "otherwise).")
def bench(model: str, float_model: str | None, keras_model: Path | None, threads: int, repeat: int, warmup: int | None,
          data: Path | None, no_data: bool, max_clips: int | None, audio: Path | None, skip: tuple[str, ...],
          as_json: bool, markdown: Path | None, plot: Path | None, quiet: bool) -> None:
    """Latency, memory, size, cold start and accuracy of the int8 model against float TFLite,
    Keras and a TensorFlow + librosa pipeline, with the targets beside the figures.

    Without a data directory everything that needs no dataset runs on synthetic audio;
    librosa, python_speech_features and TensorFlow parts are skipped with a note when those
    packages are missing. Timings are medians of many repetitions: run on a quiet machine.
    """
    # Check the report paths first: a benchmark takes minutes, a bad path must not throw that away.
    for path, what in ((markdown, "markdown report"), (plot, "plot")):
        if path is not None:
            ensure_writable(path, what)
    result = run_benchmark(
        model, float_model=float_model or AUTO, keras_model=keras_model, threads=threads, repeat=repeat,
        warmup=warmup, data=None if no_data else (data if data is not None else AUTO), max_clips=max_clips,
        audio=audio, skip=skip, progress=not quiet,
    )
    if markdown is not None:
        markdown.write_text(format_markdown(result))
    if plot is not None:
        message = write_plot(result, plot)
        if message:
            result["notes"].append(message)
            click.echo(f"edge-genre bench: {message}", err=True)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(format_text(result))
        for path, what in ((markdown, "markdown report"), (plot, "plot")):
            if path is not None and path.exists():
                click.echo(f"{what} written to {path}")
