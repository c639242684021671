"""Audio sources for live classification: a microphone (PortAudio) or a file.

A source delivers audio at its *native* rate and channel count, the way the
hardware produces it; the pipeline (:mod:`edge_genre.listen`) downmixes and
resamples. Every source is a context manager and an iterable of
``(block, overflow)`` pairs:

``block``
    float32 array of shape ``(frames, channels)`` at :attr:`sample_rate`. It may
    be empty: a live source yields an empty block about every
    :data:`HEARTBEAT_SECONDS` while no audio arrives, so the consumer can check
    its stop flag and time limit.
``overflow``
    The number of input overflows since the previous block (0 when none; the
    value is truthy exactly when audio was lost before this block).

Sources:

- :class:`MicrophoneSource`: ``sounddevice.InputStream`` at the device's default
  rate and channel count (at most 2). The PortAudio callback only copies into a
  preallocated ring buffer; when it is full the block is dropped and counted,
  the callback never blocks. The consumer gets silence in place of the lost
  frames (at most :data:`MAX_GAP_SECONDS` per gap), so the stream clock keeps
  pace with the wall clock. ``sounddevice`` is imported lazily, so machines
  without PortAudio can still classify files.
- :class:`FileSource`: one or more files read block by block, paced in real time
  (like a microphone) or as fast as possible, played ``loop`` times (0 = forever).
- :class:`StdinSource`: a stream on standard input (``arecord -t wav | edge-genre listen --file -``),
  a sound file format libsndfile reads sequentially, or raw PCM of a stated format.
- :class:`ArraySource`: an in-memory signal or an iterable of blocks (tests, embedding).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .audio import RawFormat, check_sample_rate, open_audio, open_stdin, read_blocks
from .errors import AudioError, DeviceError

HEARTBEAT_SECONDS = 0.1  # a live source yields at least this often (empty blocks while idle)
DEFAULT_BLOCK_SECONDS = 0.05  # PortAudio callback block length
DEFAULT_BUFFER_SECONDS = 5.0  # ring buffer between the PortAudio thread and the main thread
DEFAULT_STALL_SECONDS = 5.0  # no callback for this long means the device has gone
MAX_GAP_SECONDS = 60.0  # silence put in for one run of dropped blocks, at most (longer gaps shift the clock)
MAX_CHANNELS = 2  # capture at most this many channels (PipeWire/Pulse "devices" offer dozens)
PORTAUDIO_HINT = "install PortAudio: sudo apt install libportaudio2"


class AudioSource:
    """Base class: a context manager yielding ``(block, overflow)`` at a native rate and channel count."""

    sample_rate: int
    channels: int
    realtime: bool = False  # True when audio arrives at the pace of a clock (microphone, paced file)
    description: str = "audio"

    def open(self) -> None:
        """Acquire the device or file; called by ``__enter__``."""

    def close(self) -> None:
        """Release everything; safe to call twice."""

    def stats(self) -> dict[str, Any]:
        """Counters of this source (overflows, dropped frames ...), for the run summary."""
        return {}

    def position(self) -> tuple[str, float] | None:
        """Where the last block came from, ``(file, seconds into it)``, for error messages; ``None`` if unknown."""
        return None

    def __enter__(self) -> "AudioSource":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:  # pragma: no cover - abstract
        raise NotImplementedError


def _as_block(block: np.ndarray, channels: int) -> np.ndarray:
    block = np.asarray(block)
    if block.ndim == 1:
        block = block[:, np.newaxis]
    if block.ndim != 2 or block.shape[1] != channels:
        raise AudioError(f"audio block must have shape (frames, {channels}), got {block.shape}")
    if not np.issubdtype(block.dtype, np.floating):
        raise AudioError(f"audio blocks must be floating point, got dtype {block.dtype}")
    return block.astype(np.float32, copy=False)


class ArraySource(AudioSource):
    """Audio from memory: a whole signal cut into blocks, or an iterable of blocks.

    Parameters
    ----------
    data : array or iterable
        A signal ``(frames,)`` / ``(frames, channels)``, or an iterable yielding blocks or
        ``(block, overflow)`` pairs (it may raise, e.g. :class:`DeviceError`, to simulate a
        failing device).
    sample_rate, channels : int
        The native format of the blocks.
    block_frames : int or callable
        Block size when ``data`` is a signal (a callable gets the block number).
    """

    def __init__(self, data: np.ndarray | Iterable, sample_rate: int, channels: int = 1,
                 block_frames: int | Any = 1024, realtime: bool = False, description: str = "array") -> None:
        self.sample_rate = check_sample_rate(sample_rate, what="source sample rate")
        self.channels = int(channels)
        self.data, self.block_frames, self.realtime, self.description = data, block_frames, realtime, description

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        if isinstance(self.data, np.ndarray):
            signal = _as_block(self.data, self.channels)
            pos, i = 0, 0
            while pos < signal.shape[0]:
                n = self.block_frames(i) if callable(self.block_frames) else self.block_frames
                yield signal[pos : pos + n], 0
                pos, i = pos + n, i + 1
            return
        for item in self.data:
            block, overflow = item if isinstance(item, tuple) else (item, 0)
            yield _as_block(block, self.channels), int(overflow)


class FileSource(AudioSource):
    """Audio files read block by block at their native rate and channel count.

    Parameters
    ----------
    paths : path or list of paths
        Files played one after the other (all must share rate and channel count).
    realtime : bool
        Pace blocks like a live microphone (sleep until each block "has been recorded");
        otherwise deliver them as fast as the consumer takes them.
    loop : int
        Times to play the list; 0 plays forever.
    block_frames : int
        Frames per block.
    """

    def __init__(self, paths: str | os.PathLike | list, realtime: bool = True, loop: int = 1,
                 block_frames: int = 1024) -> None:
        self.paths = [Path(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
        if not self.paths:
            raise AudioError("no audio files given")
        if loop < 0:
            raise AudioError(f"loop must be 0 (forever) or a positive count, got {loop}")
        if block_frames < 1:
            raise AudioError(f"block_frames must be positive, got {block_frames}")
        self.realtime, self.loop, self.block_frames = bool(realtime), int(loop), int(block_frames)
        formats = set()
        for path in self.paths:
            formats.add(self._probe(path))
        if len(formats) > 1:
            raise AudioError(f"the files differ in sample rate or channel count: {sorted(formats)}")
        rate, self.channels = formats.pop()
        self.sample_rate = check_sample_rate(rate, what=f"sample rate of {self.paths[0]}")
        names = self.paths[0].name if len(self.paths) == 1 else f"{len(self.paths)} files"
        self.description = f"{names} ({self.sample_rate} Hz, {self.channels} ch{', real time' if realtime else ''})"
        self.frames_read = 0
        self._position: tuple[str, float] | None = None

    @staticmethod
    def _probe(path: Path) -> tuple[int, int]:
        """(rate, channels) of ``path`` after the loader's checks (regular file, not empty, not cut off)."""
        with open_audio(path) as f:
            if f.frames == 0:
                raise AudioError(f"{path}: contains no audio samples")
            return f.samplerate, f.channels

    def position(self) -> tuple[str, float] | None:
        return self._position

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        t0 = time.monotonic()
        play = 0
        while self.loop == 0 or play < self.loop:
            for path in self.paths:
                # The file may have been replaced since the previous play: the same checks again,
                # and the stream's format may not change under the pipeline.
                f = open_audio(path)
                with f:
                    if (f.samplerate, f.channels) != (self.sample_rate, self.channels):
                        raise AudioError(f"{path}: changed to {f.samplerate} Hz, {f.channels} ch while playing "
                                         f"(the stream is {self.sample_rate} Hz, {self.channels} ch)")
                    for block in read_blocks(f, path, self.block_frames):
                        self._position = (str(path), f.tell() / self.sample_rate)
                        self.frames_read += block.shape[0]
                        if self.realtime:
                            # The block has "been recorded" once its last frame's time has passed.
                            delay = t0 + self.frames_read / self.sample_rate - time.monotonic()
                            while delay > 0:
                                time.sleep(min(delay, HEARTBEAT_SECONDS))
                                delay = t0 + self.frames_read / self.sample_rate - time.monotonic()
                        yield block, 0
            play += 1


class StdinSource(AudioSource):
    """Audio piped to standard input, read block by block as it arrives.

    A WAV stream with an unknown length (``arecord -f S16_LE -r 48000 -c 2 -t wav``), FLAC, AU ...
    (anything libsndfile reads without seeking), or headerless PCM described by ``raw``. The
    stream is played once; its pace is the writer's (a recorder delivers it in real time). The
    header is read when the source is created, so a stream that is not audio fails at once.
    """

    def __init__(self, raw: RawFormat | None = None, block_frames: int = 1024, fd: int = 0) -> None:
        self.raw, self.block_frames = raw, int(block_frames)
        self._file = open_stdin(raw, fd=fd)
        self.sample_rate = check_sample_rate(int(self._file.samplerate), what="sample rate of standard input")
        self.channels = int(self._file.channels)
        kind = raw.format if raw is not None else self._file.format
        self.description = f"standard input ({kind}, {self.sample_rate} Hz, {self.channels} ch)"
        self.frames_read = 0

    def position(self) -> tuple[str, float] | None:
        return ("standard input", self.frames_read / self.sample_rate)

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except Exception:  # noqa: BLE001 - closing must not fail
                pass

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        import soundfile as sf

        if self._file is None:
            raise AudioError("standard input was already read to its end (it cannot be played twice)")
        while True:
            try:
                block = self._file.read(self.block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
                raise AudioError(f"standard input: cannot decode audio ({exc})") from None
            if block.shape[0] == 0:
                return
            self.frames_read += block.shape[0]
            yield block, 0


# --------------------------------------------------------------------------- microphone


def import_sounddevice():
    """The ``sounddevice`` module, or :class:`DeviceError` with an install hint when PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise DeviceError(f"PortAudio is not available ({exc}); {PORTAUDIO_HINT}") from None
    except ImportError as exc:
        raise DeviceError(f"the sounddevice package is not installed ({exc}); pip install sounddevice") from None
    return sounddevice


def _portaudio_error(sd) -> tuple[type[BaseException], ...]:
    return tuple(e for e in (getattr(sd, "PortAudioError", None),) if isinstance(e, type)) or (Exception,)


def list_input_devices(sd=None) -> list[dict[str, Any]]:
    """Input-capable devices: index, name, host API, input channels, default rate, default flag."""
    sd = sd or import_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except _portaudio_error(sd) as exc:
        raise DeviceError(f"cannot list audio devices ({exc})") from None
    default = _default_input_index(sd)
    out = []
    for index, dev in enumerate(devices):
        if int(dev.get("max_input_channels", 0)) < 1:
            continue
        api = dev.get("hostapi")
        api_name = hostapis[api]["name"] if isinstance(api, int) and 0 <= api < len(hostapis) else str(api)
        out.append({
            "index": int(dev.get("index", index)),
            "name": str(dev["name"]),
            "hostapi": api_name,
            "input_channels": int(dev["max_input_channels"]),
            "default_samplerate": int(round(float(dev["default_samplerate"]))),
            "default": int(dev.get("index", index)) == default,
        })
    return out


def _default_input_index(sd) -> int | None:
    try:
        default = sd.default.device  # an (input, output) pair
        index = int(default[0] if hasattr(default, "__getitem__") else default)
    except (TypeError, ValueError, IndexError, AttributeError):
        return None
    if index < 0:
        try:  # PortAudio's own default input
            index = int(sd.query_devices(kind="input")["index"])
        except Exception:  # noqa: BLE001 - any failure means "no default input"
            return None
    return index


def resolve_input_device(device: str | int | None, sd=None) -> dict[str, Any]:
    """The input device named by index, by (part of) its name, or the default one.

    Raises :class:`DeviceError` with the list of inputs when nothing (or more than
    one device) matches, or when the machine has no input device at all.
    """
    inputs = list_input_devices(sd)
    if not inputs:
        raise DeviceError("no audio input device found: plug in a USB microphone (check with 'arecord -l')")
    listing = "; ".join(f"{d['index']}: {d['name']}" for d in inputs)
    if device is None or (isinstance(device, str) and device.strip() == ""):
        for d in inputs:
            if d["default"]:
                return d
        return inputs[0]
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        for d in inputs:
            if d["index"] == index:
                return d
        raise DeviceError(f"no input device with index {index} (inputs: {listing})")
    needle = str(device).strip().lower()
    exact = [d for d in inputs if d["name"].lower() == needle]
    matches = exact or [d for d in inputs if needle in d["name"].lower()]
    if not matches:
        raise DeviceError(f"no input device matches '{device}' (inputs: {listing})")
    if len(matches) > 1:
        names = "; ".join(f"{d['index']}: {d['name']}" for d in matches)
        raise DeviceError(f"'{device}' matches several input devices ({names}); give the index")
    return matches[0]


class _Ring:
    """Single-producer single-consumer ring of audio frames, preallocated.

    The producer (PortAudio thread) only advances ``written`` and the consumer
    (main thread) only advances ``read``; both are plain ints, updated after the
    data is in place, so no lock is needed under the GIL.
    """

    def __init__(self, capacity: int, channels: int) -> None:
        self.data = np.zeros((capacity, channels), dtype=np.float32)
        self.capacity = capacity
        self.written = 0  # frames ever written (producer)
        self.read = 0  # frames ever read (consumer)

    def free(self) -> int:
        return self.capacity - (self.written - self.read)

    def write(self, frames: np.ndarray) -> bool:
        n = frames.shape[0]
        if n > self.free():
            return False
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self.data[start : start + first] = frames[:first]
        if first < n:
            self.data[: n - first] = frames[first:]
        self.written += n
        return True

    def read_available(self) -> np.ndarray:
        n = self.written - self.read
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        if first == n:
            out = self.data[start : start + n].copy()
        else:
            out = np.concatenate([self.data[start:], self.data[: n - first]])
        self.read += n
        return out


class MicrophoneSource(AudioSource):
    """Live input from a PortAudio device at its native rate and channel count.

    Parameters
    ----------
    device : str, int or None
        Index or (part of the) name of the input device; ``None`` is the default input.
    sample_rate, channels : int, optional
        Override the device's default rate / channel count (at most 2 by default).
    block_seconds : float
        Length of the blocks PortAudio hands to the callback.
    buffer_seconds : float
        Capacity of the ring buffer between the callback and the consumer. When the
        consumer falls this far behind, new blocks are dropped and counted.
    stall_seconds : float
        No audio for this long while the stream should be running means the device
        vanished: iteration raises :class:`DeviceError`.
    """

    realtime = True

    def __init__(self, device: str | int | None = None, sample_rate: int | None = None,
                 channels: int | None = None, block_seconds: float = DEFAULT_BLOCK_SECONDS,
                 buffer_seconds: float = DEFAULT_BUFFER_SECONDS, stall_seconds: float = DEFAULT_STALL_SECONDS) -> None:
        self._sd = import_sounddevice()
        self.device_info = resolve_input_device(device, self._sd)
        self.device = self.device_info["index"]
        self.sample_rate = check_sample_rate(int(sample_rate or self.device_info["default_samplerate"]),
                                             what="device sample rate")
        self.channels = int(channels or min(self.device_info["input_channels"], MAX_CHANNELS))
        self.block_frames = max(1, int(round(block_seconds * self.sample_rate)))
        self.buffer_frames = max(2 * self.block_frames, int(round(buffer_seconds * self.sample_rate)))
        self.stall_seconds = float(stall_seconds)
        self.description = (f"'{self.device_info['name']}' (device {self.device}, {self.sample_rate} Hz, "
                            f"{self.channels} ch)")
        self._stream = None
        self._ring: _Ring | None = None
        self._ready = threading.Event()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.overflows = 0  # overflow events: PortAudio input overflows plus blocks dropped here
        self.portaudio_overflows = 0
        self.dropped_blocks = 0
        self.dropped_frames = 0
        self.filled_frames = 0  # zero frames handed to the consumer in place of dropped ones
        self._gaps: list[list[int]] = []  # [ring position, frames] of dropped runs, appended by the callback
        self.callbacks = 0
        self._finished = False
        self._last_callback = time.monotonic()

    # Runs in PortAudio's thread: copy and return, nothing else.
    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ARG002
        self.callbacks += 1
        self._last_callback = time.monotonic()
        if status and getattr(status, "input_overflow", False):
            self.portaudio_overflows += 1
            self.overflows += 1
        if not self._ring.write(indata):
            self.dropped_blocks += 1
            self.dropped_frames += frames
            self.overflows += 1
            # While the ring is full nothing is written, so consecutive drops share one position.
            gaps, at = self._gaps, self._ring.written
            if gaps and gaps[-1][0] == at:
                gaps[-1][1] += frames
            else:
                gaps.append([at, frames])
        self._ready.set()

    def _finished_callback(self) -> None:
        self._finished = True
        self._ready.set()

    def open(self) -> None:
        sd = self._sd
        errors = _portaudio_error(sd)
        try:
            sd.check_input_settings(device=self.device, channels=self.channels, dtype="float32",
                                    samplerate=self.sample_rate)
        except errors as exc:
            raise DeviceError(f"input device {self.description} does not accept this format ({exc})") from None
        except ValueError as exc:
            raise DeviceError(f"input device {self.description}: {exc}") from None
        self._reset_counters()
        self._ring = _Ring(self.buffer_frames, self.channels)
        self._ready.clear()
        try:
            self._stream = sd.InputStream(
                device=self.device, samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                blocksize=self.block_frames, latency="high", callback=self._callback,
                finished_callback=self._finished_callback,
            )
            self._stream.start()
        except errors as exc:
            self.close()
            raise DeviceError(f"cannot open input device {self.description} ({exc})") from None
        self._last_callback = time.monotonic()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        for action in (stream.abort, stream.close):
            try:
                action()
            except Exception:  # noqa: BLE001 - the device may already be gone; closing must not fail
                pass

    def stats(self) -> dict[str, Any]:
        return {"overflows": self.overflows, "portaudio_overflows": self.portaudio_overflows,
                "dropped_blocks": self.dropped_blocks, "dropped_frames": self.dropped_frames,
                "filled_frames": self.filled_frames}

    def _take_gap(self, upto: int) -> int:
        """Frames dropped at ring position ``upto`` (the end of what was just read), now handed out.

        A run of drops happens while the ring is full, i.e. right after everything written so
        far; one recorded after the consumer's snapshot of ``written`` belongs to the next read.
        """
        gaps, lost = self._gaps, 0
        while gaps and gaps[0][0] <= upto:
            lost += gaps.pop(0)[1]
        return lost

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        if self._stream is None:
            raise DeviceError("the microphone source is not open (use it as a context manager)")
        seen_overflows = 0
        empty = np.zeros((0, self.channels), dtype=np.float32)
        while True:
            self._ready.wait(HEARTBEAT_SECONDS)
            self._ready.clear()
            ring = self._ring
            block = ring.read_available() if ring.written != ring.read else empty
            lost = self._take_gap(ring.read)
            if lost:
                fill = min(lost, int(MAX_GAP_SECONDS * self.sample_rate))
                self.filled_frames += fill
                block = np.concatenate([block, np.zeros((fill, self.channels), dtype=np.float32)])
            overflows = self.overflows
            new_overflows, seen_overflows = overflows - seen_overflows, overflows
            if block.shape[0] or new_overflows:
                yield block, new_overflows
                continue
            stream = self._stream
            if stream is None:
                return  # closed by the consumer
            try:
                active = stream.active and not self._finished
            except _portaudio_error(self._sd) as exc:  # PortAudio reports the stream as broken
                raise DeviceError(f"the audio stream from {self.description} failed ({exc})") from None
            if not active:
                raise DeviceError(f"the audio stream from {self.description} stopped unexpectedly "
                                  "(device unplugged or taken by another program?)")
            silent_for = time.monotonic() - self._last_callback
            if silent_for > self.stall_seconds:
                raise DeviceError(f"no audio from {self.description} for {silent_for:.1f} s "
                                  "(device unplugged?)")
            yield empty, 0
