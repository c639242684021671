"""``edge-genre bench``: a thin click shell over :func:`benchmarks.bench.run_benchmark`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge_genre.cli_support import ensure_writable, model_path_of
from edge_genre.errors import OutputError
from edge_genre.model_io import MODEL_CHOICES
from edge_genre.paths import check_distinct_paths

from .bench import run_benchmark
from .common import AUTO, DEFAULT_REPEAT, STAGES
from .report import format_markdown, format_text, write_plot


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
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a latency bar chart (format from the extension: png, svg, pdf ...).")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON object (as --json prints it) to this file.")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress on stderr (by default: a line rewritten in place on a terminal, a line per stage "
                   "otherwise).")
def bench(model: str, float_model: str | None, keras_model: Path | None, threads: int, repeat: int, warmup: int | None,
          data: Path | None, no_data: bool, max_clips: int | None, audio: Path | None, skip: tuple[str, ...],
          as_json: bool, markdown: Path | None, plot: Path | None, json_out: Path | None, quiet: bool) -> None:
    """Latency, memory, size, cold start and accuracy of the int8 model against float TFLite,
    Keras and a TensorFlow + librosa pipeline, with the targets beside the figures.

    Without a data directory everything that needs no dataset runs on synthetic audio;
    librosa, python_speech_features and TensorFlow parts are skipped with a note when those
    packages are missing. Timings are medians of many repetitions: run on a quiet machine.
    """
    # Check the report paths first: a benchmark takes minutes, a bad path must not throw that away.
    inputs = {"the model under test": model_path_of(model), "--audio": audio, "--keras-model": keras_model,
              "--float-model": model_path_of(float_model) if float_model not in (None, "auto") else None}
    check_distinct_paths(inputs, {"--markdown": markdown, "--plot": plot, "--json-out": json_out})
    for path, what in ((markdown, "markdown report"), (plot, "plot"), (json_out, "JSON report")):
        if path is not None:
            ensure_writable(path, what)
    if plot is not None:
        check_plot_format(plot)
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
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(format_text(result))
        for path, what in ((markdown, "markdown report"), (plot, "plot"), (json_out, "JSON report")):
            if path is not None and path.exists():
                click.echo(f"{what} written to {path}")


# What matplotlib's savefig writes when matplotlib cannot be asked (it is optional).
PLOT_FORMATS = ("eps", "jpeg", "jpg", "pdf", "pgf", "png", "ps", "raw", "rgba", "svg", "svgz", "tif", "tiff", "webp")


def plot_formats() -> tuple[str, ...]:
    """File extensions savefig can write here (matplotlib's own list when it is installed)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase

        return tuple(sorted(FigureCanvasBase.get_supported_filetypes()))
    except ImportError:
        return PLOT_FORMATS


def check_plot_format(path: Path) -> None:
    """Refuse, before any work, a --plot path whose extension matplotlib cannot write."""
    ext = path.suffix.lower().lstrip(".")
    formats = plot_formats()
    if ext not in formats:
        raise OutputError(f"--plot {path}: unknown image format {ext or '(no extension)'!r}; "
                          f"use one of {', '.join(formats)}")
