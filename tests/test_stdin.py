"""``classify -`` and ``listen --file -``: audio piped to standard input (WAV stream or raw PCM)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_fixtures import model_for_tests

sf = pytest.importorskip("soundfile")
REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo" / "vibe_ace.ogg"


@pytest.fixture(scope="module")
def model(request) -> str:
    return model_for_tests(request)


@pytest.fixture(scope="module")
def stereo48k(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """12 s of the demo clip as 48 kHz stereo 16-bit WAV (what a USB microphone gives arecord)."""
    from edge_genre.audio import resample

    y, sr = sf.read(str(DEMO), dtype="float32", frames=12 * 22050)
    y48 = resample(y, sr, 48000)
    stereo = np.stack([y48, 0.5 * y48], axis=1)
    path = tmp_path_factory.mktemp("stdin") / "mic.wav"
    sf.write(str(path), stereo, 48000, subtype="PCM_16")
    pcm = sf.read(str(path), dtype="int16")[0].astype("<i2")  # the very samples of the file
    return path, pcm


def arecord_stream(path: Path) -> bytes:
    """The WAV file as ``arecord -t wav`` writes it to a pipe: the lengths in the header are unknown (max)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"data")
    data[4:8] = struct.pack("<I", 0x7FFFFFFF)
    data[i + 4 : i + 8] = struct.pack("<I", 0x7FFFFFF0)
    return bytes(data)


def run(args, stdin: bytes, model: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_genre.cli", *args[:1], "--model", model, *args[1:]],
                          input=stdin, capture_output=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def hops(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if '"summary"' not in line]


def test_listen_from_an_arecord_wav_stream_equals_the_file(model, stereo48k):
    path, _ = stereo48k
    from_file = hops(run(["listen", "--file", str(path), "--no-realtime", "--json"], b"", model))
    piped = run(["listen", "--file", "-", "--json"], arecord_stream(path), model)
    from_pipe = hops(piped)
    assert len(from_pipe) == len(from_file) == 10
    for a, b in zip(from_pipe, from_file):
        assert (a["t"], a["genre"]) == (b["t"], b["genre"])
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-6)
    assert "standard input (WAV, 48000 Hz, 2 ch)" in piped.stderr.decode()


def test_listen_and_classify_raw_pcm_with_stated_format(model, stereo48k):
    path, pcm = stereo48k
    from_file = hops(run(["listen", "--file", str(path), "--no-realtime", "--json"], b"", model))
    raw = run(["listen", "--file", "-", "--raw", "S16_LE", "--samplerate", "48000", "--channels", "2", "--json"],
              pcm.tobytes(), model)
    assert [h["genre"] for h in hops(raw)] == [h["genre"] for h in from_file]
    whole = run(["classify", str(path), "--json"], b"", model)
    piped = run(["classify", "-", "--json", "--raw", "s16_le", "--samplerate", "48000", "--channels", "2"],
                pcm.tobytes(), model)
    a, b = json.loads(whole.stdout), json.loads(piped.stdout)
    assert b["file"] == "-" and a["genre"] == b["genre"]
    assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-6)
    stream = run(["classify", "-"], arecord_stream(path), model)
    assert stream.returncode == 0 and stream.stdout.decode().startswith(f"-: {a['genre']} ")


@pytest.mark.parametrize("args, stdin, message", [
    (["listen", "--file", "-"], b"\x01\x02" * 4000, "standard input: cannot decode audio (Format not recognised.); "
                                                     "for headerless PCM state it: --raw S16_LE"),
    (["listen", "--file", "-", "--raw", "S16_LE"], b"", "raw PCM (S16_LE) has no header: state its rate and "
                                                         "channel count (--samplerate HZ --channels N)"),
    (["listen", "--file", "-", "--loop", "2"], b"", "standard input can be played only once"),
    (["classify", "-", "--samplerate", "8000"], b"", "--samplerate and --channels need --raw FORMAT"),
    (["classify", "x.wav", "--raw", "S16_LE"], b"", "describe standard input: give - as the path"),
    (["classify", "-"], b"", "standard input: cannot decode audio"),
])
def test_stdin_errors_are_one_line(model, args, stdin, message):
    proc = run(args, stdin, model)
    err = proc.stderr.decode()
    assert proc.returncode in (1, 2) and message in err and "Traceback" not in err, err
