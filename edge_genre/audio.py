"""Reading audio files: decode, scale, downmix and resample to the model's rate.

Matches ``librosa.load(path, sr=sr)``: libsndfile decoding (integer PCM scaled
to [-1, 1)), mean downmix, soxr "HQ" resampling.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dsp import all_finite
from .errors import AudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".au", ".snd", ".aiff", ".aif", ".mp3")
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 384000
STDIN = "-"  # the path that means "standard input" (a WAV/FLAC/... stream, or raw PCM with RawFormat)
# Raw PCM sample formats, named as arecord -f names them -> (libsndfile subtype, endianness).
RAW_FORMATS = {
    "S16_LE": ("PCM_16", "LITTLE"), "S16_BE": ("PCM_16", "BIG"),
    "S24_3LE": ("PCM_24", "LITTLE"), "S24_3BE": ("PCM_24", "BIG"),
    "S32_LE": ("PCM_32", "LITTLE"), "S32_BE": ("PCM_32", "BIG"),
    "U8": ("PCM_U8", "FILE"), "S8": ("PCM_S8", "FILE"),
    "FLOAT_LE": ("FLOAT", "LITTLE"), "FLOAT_BE": ("FLOAT", "BIG"),
}


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
    import soundfile as sf

    blocks = []
    with open_stdin(raw) as f:
        native_sr = f.samplerate
        try:
            while True:  # a pipe cannot be asked for its length: read blocks to the end
                block = f.read(65536, dtype="float32", always_2d=True)
                if not block.shape[0]:
                    break
                blocks.append(block)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioError(f"standard input: cannot decode audio ({exc})") from None
    y = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
    if y.shape[0] == 0:
        raise AudioError("standard input: contains no audio samples")
    if not all_finite(y):
        raise AudioError("standard input: contains NaN or infinite samples")
    check_sample_rate(native_sr, what="sample rate of standard input")
    return resample(to_mono(y), native_sr, sr)


def load_audio(path: str | os.PathLike, sr: int = 22050) -> np.ndarray:
    """Read an audio file as mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : str or PathLike
        WAV, FLAC, OGG, AU/SND, AIFF (and MP3 where libsndfile supports it).
    sr : int
        Target sample rate; the file is resampled with soxr if it differs.

    Raises
    ------
    AudioError
        Missing, unreadable, empty, truncated or non-finite audio, or an unsupported rate.
    """
    import soundfile as sf

    path = Path(path)
    check_sample_rate(sr, what="target sample rate")
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    try:
        if path.stat().st_size == 0:
            raise AudioError(f"{path}: file is empty")
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    check_wav_complete(path)
    try:
        with sf.SoundFile(str(path)) as f:
            native_sr, declared = f.samplerate, f.frames
            y = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unreadable"
        raise AudioError(f"{path}: cannot decode audio ({reason})") from None
    if y.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples")
    if 0 < declared < 2**62 and y.shape[0] < declared:
        raise AudioError(f"{path}: truncated (header declares {declared} frames, {y.shape[0]} could be read)")
    if not all_finite(y):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    check_sample_rate(native_sr, what=f"sample rate of {path}")
    return resample(to_mono(y), native_sr, sr)


def check_wav_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk is shorter than its header declares.

    libsndfile silently reads what is there, which would hide a cut-off download. A file that
    cannot be read at all is an :class:`AudioError` too.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return
            size = path.stat().st_size
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                chunk_id, chunk_len = chunk[:4], int.from_bytes(chunk[4:8], "little")
                if chunk_id == b"data":
                    available = size - pos - 8
                    if chunk_len not in (0, 0xFFFFFFFF) and available < chunk_len:
                        raise AudioError(
                            f"{path}: truncated WAV file (data chunk declares {chunk_len} bytes, {available} present)"
                        )
                    return
                pos += 8 + chunk_len + (chunk_len & 1)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc})") from None


def find_audio_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files and directories (recursively) into a sorted list of audio files.

    Files given explicitly are kept whatever their extension; directories
    contribute files with a known audio extension.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTENSIONS))
        else:
            found.append(p)
    return found
