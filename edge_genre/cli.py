"""The ``edge-genre`` command line: a thin shell over the library API.

Errors the user can cause are printed as one line (``edge-genre: error: ...``)
with the exit status of :mod:`edge_genre.exit_codes` (2 for usage and input
errors). Heavy subcommand groups (``train``) are imported only when invoked, so
the runtime commands start fast and never load TensorFlow.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import click
import numpy as np

from . import __version__
from .audio import RAW_FORMATS
from .cli_support import (WRITE_ERRNOS, FiniteFloatRange, describe_os_error, ensure_writable, fail, model_path_of,
                          music_threshold_option, stdout_closed, write_npy_atomically)
from .errors import DeviceError, EdgeGenreError, OutputWriteError
from .exit_codes import EXIT_DEVICE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_OUTPUT, EXIT_PARTIAL, EXIT_USAGE
from .model_io import MODEL_CHOICES
from .paths import check_distinct_paths, printable

RAW_FORMAT_NAMES = tuple(RAW_FORMATS)

# name -> (module, attribute, one-line help) for commands loaded on demand.
LAZY_COMMANDS = {
    "train": ("train.cli", "train", "Desktop training, evaluation and int8 export (needs the [train] extra)."),
    "listen": ("edge_genre.listen_cli", "listen", "Classify live audio from a microphone (or a file) every hop."),
    "bench": ("benchmarks.bench_cli", "bench", "Latency, memory, size and accuracy of the models."),
    "export-firmware": ("firmware_export.cli", "export_firmware", "Write the model and MFCC tables as C sources for TFLite Micro."),
}


# Top-level modules of the optional extras -> the install command that brings them.
TRAIN_INSTALL = "the training extras: pip install 'edge-genre[train]'"
DEV_INSTALL = "the development extras: pip install 'edge-genre[dev]'"
EXTRA_MODULES = {
    **dict.fromkeys(("tensorflow", "tf_keras", "keras", "sklearn", "matplotlib", "tqdm"), TRAIN_INSTALL),
    **dict.fromkeys(("librosa", "python_speech_features", "tflite_micro", "pytest", "scipy"), DEV_INSTALL),
    "musicnn": "the training-time teacher: pip install --no-deps musicnn==0.1.0",
}


def missing_extra(module: str | None) -> str | None:
    """What to install for a module of an optional extra (None: not one of ours)."""
    return EXTRA_MODULES.get((module or "").split(".")[0])


def _command_words() -> str:
    """'edge-genre train fit' from the command line (the subcommand words, without options)."""
    words = ["edge-genre"]
    for arg in sys.argv[1:]:
        if arg.startswith("-"):
            break
        words.append(arg)
        if len(words) == 2 and arg != "train":
            break
        if len(words) == 3:
            break
    return " ".join(words)


def _replace_surrogates(exc: UnicodeError) -> tuple[str | bytes, int]:
    if isinstance(exc, UnicodeEncodeError):
        n = exc.end - exc.start
        # The UTF-8 encoder takes only ASCII text from a handler: U+FFFD as its bytes.
        return ("\ufffd".encode("utf-8") * n if exc.encoding.replace("_", "-").lower() in ("utf-8", "utf8")
                else "?" * n), exc.end
    raise exc


def printable_output() -> None:
    """Let stdout and stderr print file names that are not valid UTF-8 (legal on Linux): their
    undecodable bytes show as U+FFFD instead of failing with "surrogates not allowed"."""
    import codecs

    try:
        codecs.lookup_error("edge-genre-replace")
    except LookupError:
        codecs.register_error("edge-genre-replace", _replace_surrogates)
    for stream in (sys.stdout, sys.stderr):
        try:
            if (getattr(stream, "errors", None) or "strict") in ("strict", "backslashreplace"):
                stream.reconfigure(errors="edge-genre-replace")
        except (AttributeError, ValueError, OSError):
            pass




def checkout_root() -> Path | None:
    """The source checkout this edge_genre was installed from in editable mode (``pip install -e``),
    recognised by the desktop tools beside it; None for an installed wheel."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "train" / "cli.py").is_file() else None


def import_desktop_tool(module_name: str):
    """Import a desktop tool's module (``train``, ``benchmarks``, ``firmware_export``: not in the
    runtime wheel). They live beside ``edge_genre`` in a checkout; an editable install maps only
    ``edge_genre``, so the checkout is put on ``sys.path`` when the tool is not importable already."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        root = checkout_root()
        if exc.name != module_name.split(".")[0] or root is None or str(root) in sys.path:
            raise
        sys.path.insert(0, str(root))
        return importlib.import_module(module_name)


class LazyGroup(click.Group):
    """A click group whose heavy subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands without importing the lazy ones (their help line is registered)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, LAZY_COMMANDS[name][2]))
            else:
                rows.append((name, self.commands[name].get_short_help_str(formatter.width - 20)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module_name, attr, help_text = LAZY_COMMANDS[name]
            if ctx.resilient_parsing:  # shell completion: do not import
                return click.Command(name, help=help_text, short_help=help_text)
            try:
                module = import_desktop_tool(module_name)
            except ImportError as exc:
                missing = getattr(exc, "name", None) or str(exc)
                if missing == module_name.split(".")[0]:
                    fail(f"'edge-genre {name}' is a desktop tool: it runs from a checkout of edge-genre "
                         f"(git clone ...; pip install -e '.[train]'), not from the runtime wheel")
                hint = missing_extra(missing) or (TRAIN_INSTALL if name == "train" else DEV_INSTALL)
                fail(f"'edge-genre {name}' needs {hint} ({missing} is not installed)")
            self.add_command(getattr(module, attr), name)
        return super().get_command(ctx, name)

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Run the CLI; usage errors are one line too (``edge-genre: error: ... (see '... --help')``)."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        printable_output()
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            fail(f"{exc.format_message()}{hint}", EXIT_USAGE)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.exceptions.Abort:  # Ctrl-C outside 'listen' (which ends cleanly by itself)
            click.echo("edge-genre: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            stdout_closed()
        except DeviceError as exc:
            fail(str(exc), EXIT_DEVICE)
        except OutputWriteError as exc:
            fail(str(exc), EXIT_OUTPUT)
        except ModuleNotFoundError as exc:
            hint = missing_extra(exc.name)
            if hint is None:
                raise
            fail(f"'{_command_words()}' needs {hint} ({exc.name.split('.')[0]} is not installed)")
        except EdgeGenreError as exc:
            fail(str(exc))
        except OSError as exc:  # an output path that cannot be written, a disk that is full
            fail(describe_os_error(exc), EXIT_OUTPUT if getattr(exc, "errno", None) in WRITE_ERRNOS else EXIT_USAGE)
        except MemoryError:
            fail("out of memory")
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback on request
            if os.environ.get("EDGE_GENRE_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {str(exc)[:300]}); run again with EDGE_GENRE_DEBUG=1 "
                 "for the traceback and report it", EXIT_INTERNAL)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-genre")
def main() -> None:
    """Real-time music-genre classification for Raspberry-Pi-class devices.

    \b
    Quick start:
      edge-genre classify song.wav            genre of a file with the shipped int8 model
      edge-genre listen                       live genre from the default microphone
      edge-genre info                         what the shipped model is and expects

    \b
    Exit status (every command):
      0  success (also: 'listen' stopped by Ctrl-C/SIGTERM; stdout closed by its reader)
      1  partial failure: some files could not be processed, the others were
      2  usage or input error (bad option, unreadable file or model, unusable output path)
      3  audio device missing, busy or gone
      4  an output could not be written while running (disk full)
      70  internal error (a bug: EDGE_GENRE_DEBUG=1 shows the traceback)
      130  interrupted (Ctrl-C) before the end ('listen' ends cleanly with 0 instead)
    """


MODEL_OPTION = click.option(
    "--model", "-m", default="int8", show_default=True, metavar=MODEL_CHOICES,
    help="Shipped model: int8 (default, 175 KiB reduced CRNN) or large (musicnn backbone, 914 KiB, more accurate "
         "on unseen music, ~24x the time per hop: Pi 4/5), or their float references; or an exported .tflite file.",
)
THREADS_OPTION = click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64), help="Interpreter threads.")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(["mfcc", "logmel"]), default=None,
              help="mfcc (13 coefficients) or logmel (128 bands) over the whole file [default: mfcc].")
@click.option("--model", "-m", default=None, metavar=MODEL_CHOICES,
              help="Instead: exactly what this model sees, its own front end (from the model file) "
                   "on consecutive 3-s windows, shape windows x frames x features.")
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Write the matrix in NumPy .npy format (frames x coefficients) to exactly this path.")
@click.option("--json", "as_json", is_flag=True, help="Print shape and summary statistics as JSON.")
def features(path: Path, kind: str | None, model: str | None, out: Path | None, as_json: bool) -> None:
    """Compute MFCC (or log-mel) features of an audio file with the NumPy front end.

    The file is decoded, downmixed and resampled to 22050 Hz, then analysed with
    n_fft 2048 / hop 512 / 128 mel bands, exactly like librosa.feature.mfcc.
    With --model, the model's own feature configuration is used instead (the
    shipped model: 64 level-centred log-mel bands) window by window, as
    'classify' computes them.
    """
    from .audio import load_audio
    from .config import FeatureConfig
    from .dsp import log_mel, mfcc, window_features

    if model is not None and kind is not None:
        fail("--kind and --model exclude each other: a model brings its own front end")
    check_distinct_paths({"the input audio file": path, "the model": model_path_of(model)}, {"--out": out})
    if out is not None and not (out.exists() and not out.is_file()):  # a device (/dev/stdout) is written into
        ensure_writable(out, "feature file")
    if model is not None:
        from .classifier import window_starts
        from .model_io import read_model_info

        config = read_model_info(model).config
        kind = config.kind
        y = load_audio(path, sr=config.sample_rate)
        seconds = y.size / config.sample_rate  # before padding a short clip to one window
        n = config.window_samples
        y = np.pad(y, (0, max(0, n - y.size)))
        feats = np.stack([window_features(y[i : i + n], config) for i in window_starts(y.size, config)])
    else:
        kind = kind or "mfcc"
        config = FeatureConfig(kind=kind)
        y = load_audio(path, sr=config.sample_rate)
        seconds = y.size / config.sample_rate
        feats = (mfcc if kind == "mfcc" else log_mel)(y, config.sample_rate, config)
    if out is not None:
        write_npy_atomically(out, feats)
    summary = {
        "file": str(path), "kind": kind, "seconds": round(seconds, 3),
        "shape": list(feats.shape),
        "mean": [round(float(v), 3) for v in feats.reshape(-1, feats.shape[-1]).mean(axis=0)],
    }
    if model is not None:
        summary["model"] = str(model)
        summary["feature_config"] = config.to_dict()
    if out is not None:
        summary["out"] = str(out)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        shape = (f"{feats.shape[0]} windows x {feats.shape[1]} frames x {feats.shape[2]}" if feats.ndim == 3
                 else f"{feats.shape[0]} frames x {feats.shape[1]}")
        click.echo(f"{path}: {summary['seconds']} s -> {kind} {shape}"
                   + (f", written to {out}" if out else ""))
        click.echo("mean per coefficient: " + " ".join(f"{v:.1f}" for v in summary["mean"]))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@MODEL_OPTION
@THREADS_OPTION
@click.option("--top-k", "-k", default=1, show_default=True, type=click.IntRange(1, 100), help="Genres to show per file.")
@click.option("--windows", is_flag=True, help="Also show the genre of every 3-s window.")
@click.option("--hop", type=FiniteFloatRange(0, 3600, min_open=True), default=None, metavar="SECONDS",
              help="Window hop (default: consecutive non-overlapping windows). Rounded to whole frames like 'listen'.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file per line on stdout.")
@music_threshold_option
@click.option("--raw", "raw_format", type=click.Choice(RAW_FORMAT_NAMES, case_sensitive=False), default=None, metavar="FORMAT",
              help="Standard input (-) is headerless PCM of this format, named as arecord names it ("
                   + ", ".join(RAW_FORMAT_NAMES) + "); give --samplerate and --channels too.")
@click.option("--samplerate", type=click.IntRange(4000, 384000), default=None, metavar="HZ",
              help="With --raw: the rate of the PCM on standard input.")
@click.option("--channels", type=click.IntRange(1, 32), default=None, help="With --raw: its channel count.")
def classify(paths: tuple[Path, ...], model: str, threads: int, top_k: int, windows: bool,
             hop: float | None, as_json: bool, music_threshold: float | None, raw_format: str | None,
             samplerate: int | None, channels: int | None) -> None:
    """Classify audio files (or directories, searched recursively) by genre.

    Any sample rate and channel count is accepted: audio is downmixed and
    resampled to the model's rate. The clip's genre is the mean of its 3-s
    windows' probabilities; windows quieter than -60 dBFS count as silence.
    Confidences are calibrated (a temperature stored in the model: of songs
    given 70 %, about 70 % are right). Speech, noise, tones and other sounds
    that are not music are reported as "not_music" (the model's music
    detector; see --music-threshold). Clips shorter than 3 s are zero-padded
    (under 1 s they are rejected).
    A file that cannot be read is reported and skipped; the exit status is
    then 1 after the other files have been classified (2 when none could be).
    Files are decoded and classified block by block: memory does not grow
    with a file's length.

    \b
    PATH - reads standard input to its end: a sound file stream
      (sox song.flac -t wav - | edge-genre classify -), or headerless PCM
      with --raw S16_LE --samplerate 48000 --channels 2.
    """
    from .audio import RawFormat, find_audio_files, is_stdin, open_audio, read_stdin
    from .classifier import NOT_MUSIC, SILENCE, GenreClassifier
    from .clipstream import classify_file

    stdin_count = sum(is_stdin(p) for p in paths)
    if stdin_count > 1:
        fail("standard input (-) can be given only once")
    if (raw_format or samplerate or channels) and not stdin_count:
        fail("--raw, --samplerate and --channels describe standard input: give - as the path")
    raw = RawFormat(raw_format, samplerate, channels) if raw_format else None
    if raw is None and (samplerate or channels):
        fail("--samplerate and --channels need --raw FORMAT (a stream with a header states its own)")
    clf = GenreClassifier(model, num_threads=threads, music_threshold=music_threshold)
    files = find_audio_files(list(paths))
    if not files:
        fail("no audio files found in " + ", ".join(map(str, paths)))
    failures = 0
    warned_rates: set[int] = set()
    for path in files:
        try:
            if is_stdin(path):
                result = clf.classify(read_stdin(clf.config.sample_rate, raw), clf.config.sample_rate, hop_seconds=hop)
            else:
                with open_audio(path) as f:  # the loader's checks first: a FIFO or device is never opened
                    _warn_bandwidth(f, path, clf.config, warned_rates)
                result = classify_file(clf, path, hop_seconds=hop)
        except EdgeGenreError as exc:
            failures += 1
            message = str(exc)
            shown = message if message.startswith(str(path)) or is_stdin(path) else f"{path}: {message}"
            click.echo(f"edge-genre: error: {printable(shown)}", err=True)
            continue
        if as_json:
            # JSON escapes the undecodable bytes of a file name (\udcXX); the text lines show U+FFFD.
            click.echo(json.dumps({"file": "-" if is_stdin(path) else str(path), **result.to_dict(windows=True)}))
            continue
        if result.genre == SILENCE:
            ranked = SILENCE
        elif result.genre == NOT_MUSIC:
            ranked = f"{NOT_MUSIC} (music score {result.music_score:.2f})"
        else:
            ranked = ", ".join(f"{g} {p:.0%}" for g, p in result.top_k(top_k))
        click.echo(f"{printable(path)}: {ranked}")
        if windows:
            for w in result.windows:
                extra = "" if w.silent or w.not_music else f" {w.confidence:.0%}"
                click.echo(f"  {w.start_s:7.2f} s  {w.genre}{extra}")
    if failures:
        if len(files) > 1:  # one file: its error line says it all
            click.echo(f"edge-genre: {failures} of {len(files)} files could not be classified", err=True)
        sys.exit(EXIT_USAGE if failures == len(files) else EXIT_PARTIAL)


def _warn_bandwidth(f, path, config, warned_rates: set[int]) -> None:
    """Warn (once per sample rate, on stderr) when a file's rate is too low for the model's band."""
    rate = int(f.samplerate)
    message = config.bandwidth_warning(rate)
    if message and rate not in warned_rates:
        warned_rates.add(rate)
        click.echo(f"edge-genre: warning: {printable(path)}: {message}", err=True)


@main.command()
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def info(model: str, as_json: bool) -> None:
    """Describe a model: backend, size, ops, quantization, labels, feature config."""
    from .classifier import GenreClassifier

    clf = GenreClassifier(model)
    ops = clf.op_names
    desc = {
        "model": str(clf.path),
        "size_bytes": clf.path.stat().st_size,
        "backend": clf.backend,
        "ops": ops,
        "input": clf.input_spec.to_dict(),
        "output": clf.output_spec.to_dict(),
        "labels": list(clf.labels),
        "feature_config": clf.config.to_dict(),
        **{k: v for k, v in clf.info.extra.items() if k not in ("format", "format_version", "music_detector")},
        "calibration": {"temperature": clf.calibration.temperature, "fitted_on": clf.calibration.fitted_on},
        "music_detector": None if clf.music_detector is None else {
            "hidden": clf.music_detector.hidden,
            "threshold": clf.music_detector.threshold, "trained_on": clf.music_detector.trained_on},
    }
    if as_json:
        click.echo(json.dumps(desc, indent=2))
        return
    click.echo(f"model       {desc['model']} ({desc['size_bytes'] / 1024:.1f} KiB, backend {clf.backend})")
    click.echo(f"input       {desc['input']['shape']} {desc['input']['dtype']} scale {desc['input']['scale']:.6g} zero point {desc['input']['zero_point']}")
    click.echo(f"output      {desc['output']['shape']} {desc['output']['dtype']} scale {desc['output']['scale']:.6g} zero point {desc['output']['zero_point']}")
    click.echo(f"ops         {', '.join(ops)}")
    click.echo(f"labels      {', '.join(clf.labels)}")
    cfg = clf.config
    click.echo(f"features    {cfg.kind} {cfg.feature_shape[0]}x{cfg.feature_shape[1]} @ {cfg.sample_rate} Hz, n_fft {cfg.n_fft}, "
               f"hop {cfg.hop_length}, {cfg.n_mels} mels {cfg.fmin:g}-{cfg.mel_fmax:g} Hz, "
               f"floor {'none' if cfg.top_db is None else f'{cfg.top_db:g} dB'}, window {cfg.window_seconds:g} s, "
               f"normalization {cfg.normalization}")
    click.echo(f"calibration temperature {clf.calibration.temperature:g} ({clf.calibration.fitted_on})")
    det = desc["music_detector"]
    click.echo("not music   " + ("no detector in this model" if det is None else
                                 f"detector threshold {det['threshold']:.3f} ({det['trained_on']})"))
    for key in ("architecture", "trained_on", "split"):
        if desc.get(key):
            click.echo(f"{key:<11} {desc[key]}")
    if desc.get("held_out_clips"):
        # artist-grouped splits (train/splits.py PROTOCOLS) hold out whole artists, not just songs
        whom = "songs by artists never heard" if desc.get("split") in ("artist", "artist-holdout", "filtered") \
            else "clips never seen"
        click.echo(f"held out    {len(desc['held_out_clips'])} {whom} in training: {', '.join(desc['held_out_clips'])}")


if __name__ == "__main__":  # pragma: no cover
    main()
