"""``edge-genre listen``: the command-line shell around :class:`edge_genre.listen.LivePipeline`."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import stat
import sys
from pathlib import Path

import click

from .audio import RAW_FORMATS
from .cli_support import FiniteFloatRange, music_threshold_option
from .errors import EdgeGenreError, OutputWriteError
from .model_io import MODEL_CHOICES

RAW_FORMAT_NAMES = tuple(RAW_FORMATS)

LISTEN_HELP = """Classify live audio from a microphone (or a file) every hop.

\b
Every hop (default 1 s, rounded to whole frames: 0.9985 s) the newest 3-s
window is classified and one line is printed: the genre smoothed over the
last --smooth windows (mean of their probabilities), the --top-k genres with
confidences, and the cost of the hop split into DSP ms (downmix, resampling,
MFCC) and inference ms.

\b
Silence: a window whose RMS (DC offset removed) is below -60 dBFS is
reported as "silence", never as a genre, and skips the model; silent windows
do not enter the smoothing mean. Confidences are calibrated (a temperature
stored in the model). Not music: when the mean music score of the smoothing
windows is below the model's detector threshold (or --music-threshold P),
"not_music" is reported (speech, TV talk, noise, tones...). --threshold P:
when the smoothed confidence of the best genre is below P, "uncertain" is
reported instead (0 = off; what a threshold costs in answered songs is in
docs/trust.md).

\b
The microphone is opened at its native rate and channel count (e.g. 48 kHz
stereo); audio is downmixed and resampled to the model's rate (soxr HQ,
streaming). Input overflows are counted, never fatal; a vanished device ends
the run with an error (exit 3; a usage or input error is exit 2). Ctrl-C or
SIGTERM end the run cleanly (exit 0) with a summary on stderr: run time,
windows, genre histogram, overflows and p50/p95/p99 latencies. When stdout
cannot be written (a full disk) the run ends (exit 4) with the summary on
stderr; stdout keeps whole lines only.

\b
--json: one JSON object per hop on stdout and nothing else there:
  {"t": end of the window in stream seconds, "genre": smoothed genre or
   "silence"/"not_music"/"uncertain", "confidence", "probabilities":
   {label: p}, "dsp_ms", "inference_ms", "silent", "not_music",
   "music_score" (smoothed; null without a detector), "uncertain",
   "window_start_s", "window": {"genre", "confidence", "music_score",
   "level_dbfs"} (this window alone,
   as 'classify --windows'), "top_k": [[label, p], ...], "smoothed_over",
   "overflows", "hop", "unix_time"}
and, as the last line when the run ends, {"summary": {...}} (with --mqtt its
"mqtt" holds the broker, states published and connections). Status lines
and the human-readable summary go to stderr.

\b
--file PATH classifies a file through the same pipeline: in real time like a
microphone (--realtime, default) or as fast as possible (--no-realtime),
--loop N times (0 = forever). With --smooth 1 its windows equal
'edge-genre classify --windows --hop H' on the same file (for files of at
least one window: classify zero-pads shorter clips, listen waits for 3 s).
--file - reads a stream from standard input, at the writer's pace:
  arecord -f S16_LE -r 48000 -c 2 -t wav | edge-genre listen --file -
headerless PCM needs its format stated: --raw S16_LE --samplerate 48000 --channels 2.

\b
--mqtt mqtt[s]://[user:pass@]host[:port][/prefix] (or $EDGE_GENRE_MQTT) also
publishes the smoothed state to an MQTT broker with Home Assistant discovery:
retained JSON on <prefix>/<node>/state ({"state": genre or silence/uncertain/...,
"genre", "confidence", "top_k", ...}) when the state changes and at least every
--mqtt-interval seconds, availability "online"/"offline" (last will) on
<prefix>/<node>/availability, and sensors under homeassistant/sensor/<node>/.
Default prefix "edge-genre", node the host name. The broker never holds up
listening: it reconnects in the background (1 s doubling to 60 s) and a refused
login is reported once on stderr while classification goes on. Keep the
password in a file (--mqtt-credentials, mode 600: username=... and
password=... lines), not in the URL.
"""


def _print_devices(as_json: bool) -> None:
    from .capture import list_input_devices

    devices = list_input_devices()
    if as_json:
        click.echo(json.dumps({"input_devices": devices}))
        return
    if not devices:
        click.echo("no audio input devices found (plug in a USB microphone; check with 'arecord -l')")
        return
    click.echo("input devices ('*' = default; use --device INDEX or a part of the name):")
    for d in devices:
        mark = "*" if d["default"] else " "
        click.echo(f"{mark} {d['index']:>3}  {d['name']}  ({d['hostapi']}, {d['input_channels']} ch, "
                   f"{d['default_samplerate']} Hz)")


def _mqtt_settings(url: str | None, credentials: Path | None, ca: Path | None, node: str | None,
                   interval: float, discovery_prefix: str):
    """The broker settings from the options (None without --mqtt); bad ones fail before listening starts."""
    if not url:
        ctx = click.get_current_context()
        given = [name for name in ("mqtt_credentials", "mqtt_ca", "mqtt_node")
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:  # from the environment alone (an env file with the URL commented out) they are ignored
            names = ", ".join("--" + n.replace("_", "-") for n in given)
            raise click.UsageError(f"{names} {'needs' if len(given) == 1 else 'need'} --mqtt URL")
        return None
    from .mqtt import MqttSettings, node_id

    settings = MqttSettings.from_url(url, node=node_id(node), interval=interval,
                                     discovery_prefix=discovery_prefix.strip("/") or "homeassistant")
    if settings.password is not None:
        click.echo("edge-genre: warning: the MQTT password is part of the URL, which other users can see in "
                   "the process list; use --mqtt-credentials FILE", err=True)
    if credentials is not None:
        settings.read_credentials(credentials)
    if ca is not None:
        if not settings.tls:
            raise click.UsageError("--mqtt-ca applies to mqtts:// URLs")
        if not ca.is_file():
            raise click.UsageError(f"--mqtt-ca {ca}: no such file")
        settings.ca_file = ca
    return settings


class _LineOut:
    """Whole lines to stdout: a line that cannot be written completely is taken back.

    On a regular file (``StandardOutput=append:``) a short write on a full disk is truncated
    away, so every line of the file parses. Without a real file descriptor (tests, embedding)
    lines go through ``click.echo``.
    """

    def __init__(self) -> None:
        self.fd: int | None = None
        self.regular = self.append = False
        try:
            fd = sys.stdout.fileno()
            self.regular = stat.S_ISREG(os.fstat(fd).st_mode)
            self.append = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)
            self.fd = fd
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            self.fd = None

    def write(self, line: str) -> None:
        if self.fd is None:
            click.echo(line)
            return
        data = (line + "\n").encode("utf-8", "surrogateescape")
        fd = self.fd
        start = None
        if self.regular:
            start = os.fstat(fd).st_size if self.append else os.lseek(fd, 0, os.SEEK_CUR)
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
        except BrokenPipeError:
            raise
        except OSError as exc:
            if done and start is not None:
                try:
                    os.ftruncate(fd, start)
                    if not self.append:
                        os.lseek(fd, start, os.SEEK_SET)
                except OSError:
                    pass
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            raise OutputWriteError(f"cannot write results to stdout: {reason}") from None


class _Signals:
    """SIGINT/SIGTERM/SIGHUP ask the pipeline to stop; a second SIGINT raises KeyboardInterrupt."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        if self.pipeline.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.pipeline.stop(signal.Signals(signum).name)

    def __enter__(self) -> "_Signals":
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@click.command("listen", help=LISTEN_HELP, context_settings={"max_content_width": 100})
@click.option("--model", "-m", default="int8", show_default=True, metavar=MODEL_CHOICES,
              help="Shipped model: int8 (default reduced CRNN) or large (musicnn backbone: more accurate on unseen "
                   "music, for Pi 4/5), or their float references; or an exported .tflite file.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64), help="Interpreter threads.")
@click.option("--device", "-d", default=None, metavar="NAME|INDEX",
              help="Input device: index or part of its name (default: the system's default input).")
@click.option("--list-devices", is_flag=True, help="List the input devices and exit.")
@click.option("--samplerate", type=click.IntRange(4000, 384000), default=None, metavar="HZ",
              help="Capture rate (default: the device's native rate); with --raw: the rate of standard input.")
@click.option("--channels", type=click.IntRange(1, 32), default=None, help="Capture channels (default: device's, at most 2); with --raw: those of standard input.")
@click.option("--hop", type=FiniteFloatRange(min=0.001, max=3600), default=1.0, show_default=True, metavar="SECONDS",
              help="Time between windows (rounded to whole frames).")
@click.option("--smooth", type=click.IntRange(1, 3600), default=5, show_default=True, metavar="N",
              help="Average probabilities over the last N windows (1 = off).")
@click.option("--top-k", "-k", type=click.IntRange(1, 100), default=3, show_default=True, metavar="K",
              help="Genres shown per hop.")
@click.option("--threshold", type=FiniteFloatRange(0.0, 1.0), default=0.0, show_default=True, metavar="P",
              help='Report "uncertain" when the smoothed confidence is below P.')
@music_threshold_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hop on stdout (see above).")
@click.option("--duration", type=FiniteFloatRange(min=0.0, max=1e9, min_open=True), default=None, metavar="SECONDS",
              help="Stop after this many seconds (audio seconds; for a microphone also wall-clock).")
@click.option("--file", "files", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Classify a file instead of the microphone (repeat for a playlist).")
@click.option("--realtime/--no-realtime", default=True, show_default=True,
              help="With --file: pace the file like a live input, or run as fast as possible.")
@click.option("--loop", type=click.IntRange(0, None), default=1, show_default=True, metavar="N",
              help="With --file: play it N times (0 = forever).")
@click.option("--raw", "raw_format", type=click.Choice(RAW_FORMAT_NAMES, case_sensitive=False), default=None, metavar="FORMAT",
              help="With --file -: standard input is headerless PCM of this format, named as arecord names it ("
                   + ", ".join(RAW_FORMAT_NAMES) + "); give --samplerate and --channels too.")
@click.option("--mqtt", "mqtt_url", envvar="EDGE_GENRE_MQTT", default=None, metavar="URL",
              help="Also publish to this MQTT broker, mqtt[s]://[user:pass@]host[:port][/prefix], with Home "
                   "Assistant discovery (see above) [env EDGE_GENRE_MQTT].")
@click.option("--mqtt-credentials", envvar="EDGE_GENRE_MQTT_CREDENTIALS", default=None, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="File with 'username=...' and 'password=...' lines, not readable by other users "
                   "[env EDGE_GENRE_MQTT_CREDENTIALS].")
@click.option("--mqtt-ca", envvar="EDGE_GENRE_MQTT_CA", default=None, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificate for mqtts:// (default: the system's) [env EDGE_GENRE_MQTT_CA].")
@click.option("--mqtt-node", envvar="EDGE_GENRE_MQTT_NODE", default=None, metavar="ID",
              help="Node id in topics and Home Assistant (default: the host name) [env EDGE_GENRE_MQTT_NODE].")
@click.option("--mqtt-interval", type=click.FloatRange(0, 86400), default=10.0, show_default=True,
              metavar="SECONDS", help="Publish an unchanged state at most this often (0 = every hop); a change "
                                      "is published at once.")
@click.option("--mqtt-discovery-prefix", default="homeassistant", show_default=True, metavar="PREFIX",
              help="Home Assistant's discovery prefix.")
def listen(model: str, threads: int, device: str | None, list_devices: bool, samplerate: int | None,
           channels: int | None, hop: float, smooth: int, top_k: int, threshold: float, music_threshold: float | None,
           as_json: bool, duration: float | None, files: tuple[Path, ...], realtime: bool, loop: int,
           raw_format: str | None, mqtt_url: str | None, mqtt_credentials: Path | None, mqtt_ca: Path | None,
           mqtt_node: str | None, mqtt_interval: float, mqtt_discovery_prefix: str) -> None:
    if list_devices:
        _print_devices(as_json)
        return
    stdin = [f for f in files if str(f) == "-"]
    if stdin and len(files) > 1:
        raise click.UsageError("--file - (standard input) cannot be combined with other files")
    if raw_format and not stdin:
        raise click.UsageError("--raw describes standard input: use it with --file -")
    if files and not raw_format and (device is not None or samplerate or channels):
        raise click.UsageError("--device, --samplerate and --channels apply to the microphone (or to --raw "
                               "standard input), not to --file")
    if raw_format and device is not None:
        raise click.UsageError("--device applies to the microphone, not to --file -")
    if stdin and loop != 1:
        raise click.UsageError("standard input can be played only once (--loop 1)")

    from .capture import FileSource, MicrophoneSource, StdinSource
    from .classifier import GenreClassifier
    from .listen import LivePipeline, format_hop, format_summary

    settings = _mqtt_settings(mqtt_url, mqtt_credentials, mqtt_ca, mqtt_node, mqtt_interval, mqtt_discovery_prefix)
    # The source first: a missing microphone is reported before the model is loaded.
    if stdin:
        from .audio import RawFormat

        source = StdinSource(RawFormat(raw_format, samplerate, channels) if raw_format else None)
    elif files:
        source = FileSource(list(files), realtime=realtime, loop=loop)
    else:
        source = MicrophoneSource(device, sample_rate=samplerate, channels=channels)
    clf = GenreClassifier(model, num_threads=threads, music_threshold=music_threshold)
    pipeline = LivePipeline(clf, source, hop_seconds=hop, smooth=smooth, top_k=top_k, threshold=threshold)
    cfg = clf.config
    click.echo(
        f"edge-genre: listening to {source.description} -> {cfg.sample_rate} Hz mono; model {clf.path.name} "
        f"({clf.backend}); window {cfg.window_seconds:g} s, hop {pipeline.hop_seconds:.4f} s "
        f"({pipeline.stream.hop_frames} frames), smoothing {smooth}; Ctrl-C to stop",
        err=True,
    )
    bandwidth = cfg.bandwidth_warning(source.sample_rate)
    if bandwidth:
        click.echo(f"edge-genre: warning: {source.description}: {bandwidth}", err=True)

    publisher = None
    if settings is not None:
        from . import __version__
        from .mqtt import MqttPublisher

        publisher = MqttPublisher(settings, log=lambda line: click.echo(f"edge-genre: {line}", err=True),
                                  model=clf.path.name, version=__version__).start()
        click.echo(f"edge-genre: publishing to {settings.describe()}", err=True)

    error: BaseException | None = None
    broken_pipe = False
    out = _LineOut()
    with _Signals(pipeline):
        try:
            for result in pipeline.run(duration=duration):
                if publisher is not None:
                    publisher.publish(result)
                if as_json:
                    out.write(json.dumps(result.to_dict(pipeline.labels)))
                else:
                    out.write(format_hop(result, show_top=top_k > 1))
        except KeyboardInterrupt:
            pipeline.stop_reason = pipeline.stop_reason or "interrupted"
        except BrokenPipeError:
            broken_pipe = True  # the reader of stdout went away (e.g. '| head'): stop quietly
            pipeline.stop_reason = "stdout closed"
        except EdgeGenreError as exc:
            error = exc
            if isinstance(exc, OutputWriteError):
                pipeline.stop_reason = str(exc)
        finally:
            if publisher is not None:
                publisher.close()
    summary = pipeline.summary()
    if publisher is not None:
        summary["mqtt"] = publisher.stats()
    if broken_pipe:
        # Keep Python from complaining about the closed pipe when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    elif as_json and not isinstance(error, OutputWriteError):
        try:
            out.write(json.dumps({"summary": summary}))
        except OutputWriteError as exc:
            error = exc
    click.echo(format_summary(summary), err=True)
    if publisher is not None:
        m = summary["mqtt"]
        click.echo(f"edge-genre: mqtt     {m['published']} states published, {m['connections']} connection"
                   f"{'s' if m['connections'] != 1 else ''} to {m['broker']}", err=True)
    if error is not None:
        raise error
