"""Reading audio files: decode, scale, downmix and resample to the model's rate.

Matches ``librosa.load(path, sr=sr)``: libsndfile decoding (integer PCM scaled
to [-1, 1)), mean downmix, soxr "HQ" resampling.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .config import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from .dsp import all_finite
from .errors import AudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".au", ".snd", ".aiff", ".aif", ".mp3")
STDIN = "-"  # the path that means "standard input" (a WAV/FLAC/... stream, or raw PCM with RawFormat)
# Raw PCM sample formats, named as arecord -f names them -> (libsndfile subtype, endianness).
RAW_FORMATS = {
    "S16_LE": ("PCM_16", "LITTLE"), "S16_BE": ("PCM_16", "BIG"),
    "S24_3LE": ("PCM_24", "LITTLE"), "S24_3BE": ("PCM_24", "BIG"),
    "S32_LE": ("PCM_32", "LITTLE"), "S32_BE": ("PCM_32", "BIG"),
    "U8": ("PCM_U8", "FILE"), "S8": ("PCM_S8", "FILE"),
    "FLOAT_LE": ("FLOAT", "LITTLE"), "FLOAT_BE": ("FLOAT", "BIG"),
}
__all__ = ["MAX_SAMPLE_RATE", "MIN_SAMPLE_RATE", "RAW_FORMATS", "RawFormat", "STDIN", "find_audio_files", "is_stdin",
           "load_audio", "read_stdin"]


def check_sample_rate(sr: int, *, what: str = "sample rate") -> int:
    """Return ``sr`` as int if it is a plausible audio rate, else raise :class:`AudioError`."""
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(f"unsupported {what} {sr!r}: expected an integer from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")
    return int(sr)


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average the channels of ``(frames, channels)`` audio; 1-D input is returned as is."""
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise AudioError(f"audio must be 1-D or (frames, channels), got shape {y.shape}")
    if y.shape[1] == 1:
        return np.ascontiguousarray(y[:, 0])
    # librosa.to_mono's expression (mean in the input dtype), so results agree bit for bit.
    return np.mean(y.T, axis=0)


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono float audio with soxr (HQ), as ``librosa.resample(res_type='soxr_hq')``."""
    check_sample_rate(sr_in, what="input sample rate")
    check_sample_rate(sr_out, what="target sample rate")
    if sr_in == sr_out:
        return y
    import soxr

    out = soxr.resample(y, sr_in, sr_out, quality="HQ").astype(y.dtype, copy=False)
    # librosa fixes the length to ceil(n * ratio); do the same so both agree sample for sample.
    n_out = int(np.ceil(y.size * sr_out / sr_in))
    if out.size < n_out:
        out = np.pad(out, (0, n_out - out.size))
    return out[:n_out]


class RawFormat:
    """How to read headerless PCM: arecord's format name (:data:`RAW_FORMATS`), rate and channels."""

    def __init__(self, format: str, sample_rate: int | None, channels: int | None) -> None:
        name = str(format).upper()
        if name not in RAW_FORMATS:
            raise AudioError(f"unknown raw PCM format {format!r}: one of {', '.join(RAW_FORMATS)}")
        if sample_rate is None or channels is None:
            raise AudioError(f"raw PCM ({name}) has no header: state its rate and channel count "
                             "(--samplerate HZ --channels N)")
        self.format, self.channels = name, int(channels)
        self.sample_rate = check_sample_rate(int(sample_rate), what="raw PCM sample rate")
        if self.channels < 1:
            raise AudioError(f"raw PCM needs at least one channel, got {channels}")

    def __repr__(self) -> str:
        return f"RawFormat({self.format}, {self.sample_rate} Hz, {self.channels} ch)"


def is_stdin(path: str | os.PathLike) -> bool:
    """True for the path ``-`` (standard input)."""
    return str(path) == STDIN


def open_stdin(raw: RawFormat | None = None, fd: int | None = None):
    """A ``soundfile.SoundFile`` reading standard input (a pipe is fine: read sequentially).

    Without ``raw`` the stream must carry a header libsndfile recognises (WAV as ``arecord -t wav``
    writes it, with an unknown length, FLAC, AU ...); with ``raw`` it is headerless PCM.
    Standard input itself is left open.
    """
    import soundfile as sf

    fd = (0 if fd is None else fd)
    if os.isatty(fd):
        raise AudioError("standard input is a terminal, not audio: pipe a stream into it "
                         "(arecord -f S16_LE -r 48000 -c 2 -t wav | edge-genre listen --file -)")
    try:
        if raw is None:
            return sf.SoundFile(fd, closefd=False)
        subtype, endian = RAW_FORMATS[raw.format]
        return sf.SoundFile(fd, samplerate=raw.sample_rate, channels=raw.channels, subtype=subtype,
                            endian=endian, format="RAW", closefd=False)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unreadable"
        hint = "" if raw is not None else ("; for headerless PCM state it: --raw S16_LE --samplerate HZ --channels N")
        raise AudioError(f"standard input: cannot decode audio ({reason}){hint}") from None


def read_stdin(sr: int = 22050, raw: RawFormat | None = None) -> np.ndarray:
    """All of standard input as mono float32 at ``sr`` Hz (see :func:`open_stdin`)."""
    check_sample_rate(sr, what="target sample rate")
    with open_stdin(raw) as f:
        # A pipe cannot be asked for its length (arecord declares none): read blocks to the end.
        blocks = list(decode_blocks(f, "standard input", sr, check_length=False))
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


BLOCK_FRAMES = 1 << 16  # native frames decoded at a time: memory does not grow with the file's length


def open_audio(path: str | os.PathLike):
    """Open ``path`` with libsndfile after the checks every reader shares.

    Refused without blocking: anything but a regular file (a FIFO would block, a device never
    ends), an empty file. Then a container whose header declares more audio than the file holds
    (:func:`check_container_complete`). libsndfile reads the checked file descriptor, so names of
    any length or encoding (not UTF-8 is legal on Linux) work. Returns the open
    ``soundfile.SoundFile`` (it closes the descriptor).
    """
    import soundfile as sf

    from .paths import open_regular_file

    path = Path(path)
    fd = open_regular_file(path, AudioError, "audio file")
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise AudioError(f"{path}: file is empty")
        with open(fd, "rb", closefd=False) as head:
            check_container_complete(path, head, size)
        os.lseek(fd, 0, os.SEEK_SET)
        # libsndfile owns (and closes, also when opening fails) a duplicate of the checked descriptor.
        with _quiet():
            f = sf.SoundFile(os.dup(fd), closefd=True)
        try:
            check_header_log(path, f)
        except AudioError:
            f.close()
            raise
        return f
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(f"{path}: cannot decode audio ({_reason(exc)})") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


_LOG_TRUNCATED = re.compile(r"truncated|file length|should be (\d+)", re.IGNORECASE)
_LOG_FRAMES = re.compile(r"^\s*Frames\s*:\s*(\d+)\s*$", re.MULTILINE)
_LOG_MATRIX = re.compile(r"Rows\s*:\s*(\d+)\s+Cols\s*:\s*(\d+)")


def check_header_log(path: str | os.PathLike, f) -> None:
    """Raise if libsndfile's own account of the header (``SoundFile.extra_info``) says the file is
    cut short: a "truncated" note (MAT4, VOC ...), a data chunk that "should be" smaller than
    declared, or a declared frame count (AVR, MPC2K, AIFF, MAT5 matrices) above what the file holds.
    Containers whose header declares no length (IRCAM, PAF, PVF, OGG) cannot be checked."""
    try:
        log = f.extra_info or ""
    except Exception:  # noqa: BLE001 - the log is advisory
        return
    for match in _LOG_TRUNCATED.finditer(log):
        line = log[log.rfind("\n", 0, match.start()) + 1 : log.find("\n", match.end()) % (len(log) + 1)]
        if match.group(1) is not None:  # "data : 529200 (should be 352785)": only audio chunks count
            declared = re.match(r"\s*(data|SSND)\s*:\s*(\d+)", line)
            if not declared or int(match.group(1)) >= int(declared.group(2)):
                continue
        raise AudioError(f"{path}: truncated (libsndfile: {' '.join(line.split()).strip('* ')})")
    declared = [int(n) for n in _LOG_FRAMES.findall(log)]
    matrices = _LOG_MATRIX.findall(log)
    if matrices:  # MATLAB files: the last matrix holds the audio, channels x frames (or frames x channels)
        rows, cols = map(int, matrices[-1])
        if min(rows, cols) == f.channels:
            declared.append(max(rows, cols))
    if declared and max(declared) > f.frames:
        raise AudioError(f"{path}: truncated (header declares {max(declared)} frames, the file holds {f.frames})")


def _reason(exc: BaseException) -> str:
    return str(exc).split(":")[-1].strip() or "unreadable"


def _quiet():
    """Native decoders (libmpg123) print warnings on fd 2: keep them out of the one-line errors."""
    from .model_io import native_stderr_silenced

    return native_stderr_silenced()


def check_frames_read(path: str | os.PathLike, declared: int, read: int) -> None:
    """Raise if fewer frames could be decoded than the file's header declares (a cut-off file)."""
    if 0 < declared < 2**62 and read < declared:
        raise AudioError(f"{path}: truncated (header declares {declared} frames, {read} could be read)")


def read_blocks(f, path: str | os.PathLike, block_frames: int = BLOCK_FRAMES, check_length: bool = True):
    """``(frames, channels)`` float32 blocks of the open file ``f`` until its end, then (with
    ``check_length``) checks that the header's frame count was reached. Decoding errors are
    :class:`AudioError`."""
    import soundfile as sf

    declared, read = f.frames, 0
    while True:
        try:
            with _quiet():
                block = f.read(block_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioError(f"{path}: cannot decode audio ({_reason(exc)})") from None
        if block.shape[0] == 0:
            break
        read += block.shape[0]
        yield block
    if check_length:
        check_frames_read(path, declared, read)


def iter_audio(path: str | os.PathLike, sr: int = 22050, block_frames: int = BLOCK_FRAMES):
    """Decode ``path`` block by block as mono float32 at ``sr`` Hz.

    The concatenated blocks equal :func:`load_audio` sample for sample (mean downmix, streaming
    soxr HQ resampling, length ``ceil(frames * sr / native rate)``), in memory that does not
    grow with the file's length. Errors (:class:`AudioError`) may come after some blocks.
    """
    path = Path(path)
    check_sample_rate(sr, what="target sample rate")
    with open_audio(path) as f:
        yield from decode_blocks(f, path, sr, block_frames)


def decode_blocks(f, name: str | os.PathLike, sr: int, block_frames: int = BLOCK_FRAMES, check_length: bool = True):
    """Mono float32 blocks at ``sr`` Hz of the open ``soundfile.SoundFile`` ``f`` (a file or standard
    input, ``name`` in the errors): checked, downmixed and resampled as :func:`iter_audio` describes."""
    native_sr = f.samplerate
    check_sample_rate(native_sr, what=f"sample rate of {name}")
    resampler = None
    if native_sr != sr:
        import soxr

        resampler = soxr.ResampleStream(native_sr, sr, 1, dtype="float32", quality="HQ")
    frames = emitted = 0
    # Blocks of at most BLOCK_FRAMES * 2 samples whatever the channel count (libsndfile allows 1024).
    block_frames = max(1, min(block_frames, BLOCK_FRAMES * 2 // max(1, f.channels)))
    for block in read_blocks(f, name, block_frames, check_length):
        if not all_finite(block):
            raise AudioError(f"{name}: contains NaN or infinite samples")
        frames += block.shape[0]
        mono = to_mono(block)
        if resampler is not None:
            mono = resampler.resample_chunk(mono, last=False)
        if mono.size:
            emitted += mono.size
            yield mono
    if frames == 0:
        raise AudioError(f"{name}: contains no audio samples")
    if resampler is not None:
        # librosa fixes the length to ceil(n * ratio): the same here, so both agree sample for sample.
        n_out = int(np.ceil(frames * sr / native_sr))
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        tail = tail[: max(0, n_out - emitted)]
        emitted += tail.size
        if emitted < n_out:
            tail = np.concatenate([tail, np.zeros(n_out - emitted, dtype=np.float32)])
        if tail.size:
            yield tail
        # (emitted can only exceed n_out by what soxr delays, which the flush above trims)


def load_audio(path: str | os.PathLike, sr: int = 22050) -> np.ndarray:
    """Read an audio file as mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : str or PathLike
        WAV, FLAC, OGG, AU/SND, AIFF, W64, RF64 (and MP3 where libsndfile supports it).
    sr : int
        Target sample rate; the file is resampled with soxr if it differs.

    Raises
    ------
    AudioError
        Not a regular file, unreadable, empty, truncated or non-finite audio, or an unsupported rate.
    """
    blocks = list(iter_audio(path, sr))
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
_W64_DATA = b"data\xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"


def _declared_audio_bytes(f, size: int) -> tuple[int, int, str] | None:
    """``(declared, present, container)`` byte counts of the audio data of a RIFF/WAVE, RF64/BW64,
    Wave64, AIFF/AIFF-C, NIST SPHERE or AU file (``f`` open at 0); ``None`` for other formats or
    when the header declares no length (streams written without seeking)."""
    head = f.read(16)
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        ds64 = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, clen = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if cid == b"ds64":
                ds64 = int.from_bytes(f.read(16)[8:16], "little")  # riff size, then data size
            if cid == b"data":
                if clen == 0xFFFFFFFF:
                    clen = ds64 if head[:4] != b"RIFF" and ds64 else 0
                return (clen, size - pos - 8, "WAV" if head[:4] == b"RIFF" else head[:4].decode()) if clen else None
            pos += 8 + clen + (clen & 1)
        return None
    if head[:16] == _W64_RIFF:
        pos = 40  # riff GUID, size, wave GUID
        while pos + 24 <= size:
            f.seek(pos)
            chunk = f.read(24)
            clen = int.from_bytes(chunk[16:24], "little")  # includes the 24-byte header
            if chunk[:16] == _W64_DATA:
                return (clen - 24, size - pos - 24, "W64") if clen > 24 else None
            if clen < 24:
                return None
            pos += (clen + 7) // 8 * 8
        return None
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, clen = chunk[:4], int.from_bytes(chunk[4:8], "big")
            if cid == b"SSND":
                return (clen, size - pos - 8, "AIFF") if clen else None
            pos += 8 + clen + (clen & 1)
        return None
    if head[:8] == b"NIST_1A\n":
        f.seek(0)
        header = f.read(4096).split(b"end_head", 1)[0].decode("ascii", "replace").split("\n")
        fields = {}
        for line in header[2:]:
            parts = line.split()
            if len(parts) == 3 and parts[1][:2] in ("-i", "-s") and parts[2].isdigit():
                fields[parts[0]] = int(parts[2])
        try:
            header_bytes = int(header[1])
            declared = fields["sample_count"] * fields.get("channel_count", 1) * fields["sample_n_bytes"]
        except (IndexError, KeyError, ValueError):
            return None
        return (declared, size - header_bytes, "NIST") if declared else None
    if len(head) >= 12 and head[:4] == b".snd":
        offset, length = int.from_bytes(head[4:8], "big"), int.from_bytes(head[8:12], "big")
        return None if length == 0xFFFFFFFF or not length else (length, size - offset, "AU")
    return None


def check_container_complete(path: str | os.PathLike, f=None, size: int | None = None) -> None:
    """Raise if a container's audio data is shorter than its header declares.

    libsndfile silently reads what is there (for WAV, RF64, W64, AIFF, NIST and AU alike), which would
    classify a cut-off download as if it were whole. ``f`` (binary, seekable) and ``size`` read an
    already open file instead of ``path``. A file that cannot be read is an :class:`AudioError` too.
    """
    path = Path(path)
    try:
        if f is None:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                found = _declared_audio_bytes(fh, size)
        else:
            f.seek(0)
            found = _declared_audio_bytes(f, size if size is not None else os.fstat(f.fileno()).st_size)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if found is not None:
        declared, present, container = found
        if present < declared:
            raise AudioError(f"{path}: truncated {container} file (audio data declared {declared} bytes, "
                             f"{max(present, 0)} present)")


def find_audio_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files and directories (searched at any depth) into a sorted list of audio files.

    Files given explicitly are kept whatever their extension; directories
    contribute regular files with a known audio extension (symbolic links to
    folders are not followed, so a link cycle cannot loop).
    """
    from .paths import walk_files

    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(q for q in walk_files(p) if q.suffix.lower() in AUDIO_EXTENSIONS))
        else:
            found.append(p)
    return found
