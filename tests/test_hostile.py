"""Hostile input (issue 22): no hang, no traceback, no overwritten file, no unbounded memory.

One test (or one parametrized family) per class of failure; each drives the shared mechanism
through the CLI where a user would, so a new input of the same class takes the same path.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge_genre.cli import main
from edge_genre.exit_codes import EXIT_OK, EXIT_OUTPUT, EXIT_PARTIAL, EXIT_USAGE

sf = pytest.importorskip("soundfile")

ROOT = Path(__file__).resolve().parents[1]
SR = 22050


def invoke(*args):
    return CliRunner().invoke(main, [a if isinstance(a, bytes) else str(a) for a in args])


def assert_one_line_error(result, match: str, status: int = EXIT_USAGE) -> None:
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert match in lines[0], lines[0]


def run_cli(*args, timeout: float = 60, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The real program in a subprocess (native stderr, signals, a hang becomes a timeout)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run([sys.executable, "-m", "edge_genre.cli", *map(os.fsdecode, args)], capture_output=True,
                          timeout=timeout, env=env, cwd=ROOT, **kwargs)


@pytest.fixture
def music(write_audio, rng):
    t = np.arange(6 * SR) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    return write_audio("music.wav", y.astype(np.float32), SR, subtype="PCM_16")


# --------------------------------------------------------------------------- hangs and memory


@pytest.mark.parametrize("command", [("classify", "{p}"), ("listen", "--file", "{p}", "--no-realtime"),
                                     ("features", "{p}"), ("info", "--model", "{p}"),
                                     ("classify", "--model", "{p}", "{audio}")])
def test_a_fifo_is_refused_without_opening_it(tmp_path, music, command):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    args = [part.format(p=fifo, audio=music) for part in command]
    res = run_cli(*args, timeout=60)  # before the fix: blocks forever in open()
    assert res.returncode == EXIT_USAGE, res.stderr
    err = res.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "FIFO" in err[0] and "not a regular" in err[0], err


def test_a_device_is_not_read_as_a_model():
    res = run_cli("info", "--model", "/dev/zero", timeout=60)  # before: read forever
    assert res.returncode == EXIT_USAGE
    assert res.stderr.decode().strip() == "edge-genre: error: /dev/zero: is a character device, not a regular model file"


def test_models_are_read_with_a_size_limit(tmp_path, monkeypatch):
    from edge_genre import model_io
    from edge_genre.errors import ModelError

    big = tmp_path / "big.tflite"
    big.write_bytes(b"\0" * 4096)
    monkeypatch.setattr(model_io, "MAX_MODEL_BYTES", 1024)
    with pytest.raises(ModelError, match="larger than"):
        model_io.read_model_info(big)


def _model_with_metadata(tmp_path: Path, monkeypatch, raw: str | None = None, **changes) -> Path:
    """The shipped int8 model with its edge_genre metadata replaced (``raw`` JSON, or ``changes``)."""
    pytest.importorskip("tensorflow")
    from edge_genre.model_io import read_model_info, resolve_model_path
    from train import export as export_mod

    base = resolve_model_path("int8")
    info = read_model_info(base)
    meta = {"format": "edge-genre-model", "format_version": 1, "labels": list(info.labels),
            "feature_config": info.config.to_dict()}
    for key, value in changes.items():
        if key in info.config.to_dict():
            meta["feature_config"][key] = value
        else:
            meta[key] = value
    if raw is not None:
        monkeypatch.setattr(export_mod.json, "dumps", lambda *a, **k: raw)
    data = export_mod.add_metadata(base.read_bytes(), meta)
    monkeypatch.undo()
    path = tmp_path / "hostile.tflite"
    path.write_bytes(data)
    return path


HOSTILE_CONFIGS = {
    "huge n_fft": ({"n_fft": 2**26}, "n_fft must be at most"),
    "millions of mels": ({"n_mels": 3_000_000, "n_mfcc": 13}, "n_mels must be at most"),
    "window of 3e7 s": ({"window_seconds": 3e7}, "window_seconds must be"),
    "rate the loader refuses": ({"sample_rate": 10**9}, "sample_rate must be"),
    "empty mel filters": ({"n_fft": 128, "hop_length": 64, "n_mels": 128}, "mel bands contain no FFT bin"),
    "frames": ({"hop_length": 16, "n_fft": 256, "window_seconds": 10.0}, "frames; at most"),
    "overlap": ({"hop_length": 1, "n_fft": 4096}, "may be at most 32 hops"),
    "window samples": ({"window_seconds": 59.0, "sample_rate": 96000, "hop_length": 2048}, "samples; at most"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_sizes_from_metadata_are_validated_when_a_model_loads(tmp_path, monkeypatch, music, case):
    changes, message = HOSTILE_CONFIGS[case]
    model = _model_with_metadata(tmp_path, monkeypatch, **changes)
    for args in (("info", "--model", model), ("classify", "--model", model, music),
                 ("listen", "--model", model, "--file", music, "--no-realtime"),
                 ("features", music, "--model", model), ("export-firmware", "--model", model, "--out", tmp_path / "fw")):
        res = invoke(*args)
        assert_one_line_error(res, message)
    assert not (tmp_path / "fw").exists()


@pytest.mark.parametrize("raw, message", [
    ('{"format": "edge-genre-model", "x": ' + "[" * 100000 + "]" * 100000 + "}", "nested too deeply"),
    ('{"format": "edge-genre-model", "format_version": 1, "x": ' + "9" * 5000 + "}", "not usable JSON"),
    ('{"format": "edge-genre-model", "format_version": 1, "labels": ["a"], "feature_config": {"n_fft": '
     + "9" * 4000 + "}}", "n_fft must be at most"),
    ('{"format": "edge-genre-model", "format_version": 1, "labels": ["a"], "feature_config": {"fmin": 1e999}}',
     "finite number"),
    ('{"format": "edge-genre-model", "format_version": 1, "labels": ["a"], "feature_config": {"n_fft": "x"}}',
     "positive integer"),
])
def test_any_bad_metadata_is_a_one_line_model_error(tmp_path, monkeypatch, raw, message):
    model = _model_with_metadata(tmp_path, monkeypatch, raw=raw)
    assert_one_line_error(invoke("info", "--model", model), message)


@pytest.mark.parametrize("label", ["silence", "Uncertain", " silence"])
def test_reserved_labels_are_refused_at_load(tmp_path, monkeypatch, label):
    from edge_genre.model_io import read_model_info

    labels = list(read_model_info("int8").labels)
    labels[3] = label
    model = _model_with_metadata(tmp_path, monkeypatch, labels=labels)
    assert_one_line_error(invoke("info", "--model", model), "is reserved")


def test_listen_memory_is_bounded_by_the_window_whatever_the_hop(music):
    from edge_genre.capture import ArraySource
    from edge_genre.classifier import GenreClassifier
    from edge_genre.listen import LivePipeline
    from edge_genre.streaming import StreamingMFCC

    clf = GenreClassifier("int8")
    sizes = {}
    for hop in (3.0, 60.0, 3600.0):
        stream = StreamingMFCC(clf.config, hop)
        pipe = LivePipeline(clf, ArraySource(np.zeros((1, 1), np.float32), 48000), hop_seconds=hop)
        sizes[hop] = stream._buffer.nbytes + stream._cache.nbytes + pipe._ring.data.nbytes
    assert sizes[3600.0] == sizes[60.0] <= 1.01 * sizes[3.0] < 3_000_000, sizes  # before: 1.9 GB for 3600 s


def test_listen_windows_with_a_hop_longer_than_the_window_match_classify(write_audio, rng):
    from edge_genre.capture import FileSource
    from edge_genre.classifier import GenreClassifier
    from edge_genre.listen import LivePipeline

    y = (0.2 * rng.standard_normal(40 * 44100)).astype(np.float32)
    path = write_audio("long.wav", y, 44100, subtype="FLOAT")
    clf = GenreClassifier("int8")
    hops = list(LivePipeline(clf, FileSource(path, realtime=False), hop_seconds=7.0, smooth=1).run())
    from edge_genre.audio import load_audio

    ref = clf.classify(load_audio(path, clf.config.sample_rate), clf.config.sample_rate, hop_seconds=7.0)
    assert [h.window.start_s for h in hops] == [w.start_s for w in ref.windows]
    for h, w in zip(hops, ref.windows):
        np.testing.assert_allclose(h.window.probabilities, w.probabilities, atol=0.02)


def test_classify_streams_files_block_by_block_with_identical_results(write_audio, rng, monkeypatch):
    from edge_genre import audio
    from edge_genre.classifier import GenreClassifier
    from edge_genre.clipstream import classify_file

    y = (0.2 * rng.standard_normal((int(20.3 * 48000), 2))).astype(np.float32)
    path = write_audio("stereo48k.wav", y, 48000, subtype="FLOAT")
    clf = GenreClassifier("int8")
    # the whole-file reference: decode, downmix, resample at once (the former load_audio)
    whole = audio.resample(audio.to_mono(sf.read(str(path), dtype="float32", always_2d=True)[0]), 48000, SR)
    for hop in (None, 1.0, 4.5):
        ref = clf.classify(whole, SR, hop_seconds=hop)
        monkeypatch.setattr(audio, "BLOCK_FRAMES", 5000)  # many blocks, none a multiple of anything
        got = classify_file(clf, path, hop_seconds=hop)
        assert [w.start_s for w in got.windows] == [w.start_s for w in ref.windows]
        np.testing.assert_array_equal(got.probabilities, ref.probabilities)
    blocks = list(audio.iter_audio(path, SR, block_frames=5000))
    assert max(b.size for b in blocks) < 5000  # memory per block, not per file
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_classify_memory_does_not_grow_with_the_file(tmp_path):
    """Peak RSS of 'classify' on 10 min of 48 kHz stereo stays near that of 1 min (before: 2.4 GB/h)."""
    rng = np.random.default_rng(0)
    peaks = {}
    for minutes in (1, 10):
        path = tmp_path / f"{minutes}.wav"
        with sf.SoundFile(str(path), "w", 48000, 2, subtype="PCM_16") as f:
            for _ in range(minutes):
                f.write((0.1 * rng.standard_normal((48000 * 60, 2))).astype(np.float32))
        code = ("import resource, sys; from edge_genre.cli import main\n"
                "try:\n    main(['classify', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        peaks[minutes] = int(out.stdout.strip().splitlines()[-1]) / 1024  # MB
        path.unlink()
    assert peaks[10] < peaks[1] + 40, peaks  # 10 min of float32 stereo alone would be 230 MB


def test_deep_directory_trees_are_searched_without_recursion(tmp_path, music):
    deep = tmp_path / "tree"
    bottom = os.path.join(deep, *["d"] * 1100)
    for i in range(1, 1101):  # os.makedirs is itself recursive
        os.mkdir(os.path.join(deep, *["d"] * i) if i > 1 else (deep.mkdir() or os.path.join(deep, "d")))
    shutil.copy(music, os.path.join(bottom, "song.wav"))
    os.symlink(deep, deep / "loop")  # a link cycle is not followed
    try:
        res = invoke("classify", deep)
        assert res.exit_code == 0, res.output
        assert len(res.stdout.strip().splitlines()) == 1 and "song.wav" in res.stdout
    finally:  # shutil.rmtree (pytest's clean-up) is recursive too: take the tree down level by level
        os.unlink(os.path.join(bottom, "song.wav"))
        for i in range(1100, 0, -1):
            os.rmdir(os.path.join(deep, *["d"] * i))


def test_an_unknown_plot_format_is_refused_before_the_benchmark(tmp_path, monkeypatch):
    def never(*a, **k):
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr("benchmarks.bench_cli.run_benchmark", never)
    assert_one_line_error(invoke("bench", "--plot", tmp_path / "out.xyz"), "unknown image format 'xyz'")


# --------------------------------------------------------------------------- lost or damaged files


@pytest.fixture
def model_copy(tmp_path):
    from edge_genre.model_io import resolve_model_path

    path = tmp_path / "model.tflite"
    shutil.copy(resolve_model_path("int8"), path)
    return path


@pytest.mark.parametrize("option", ["--markdown", "--plot", "--json-out"])
def test_bench_never_writes_over_the_model_it_benchmarks(model_copy, monkeypatch, option):
    monkeypatch.setattr("benchmarks.bench_cli.run_benchmark", lambda *a, **k: pytest.fail("the benchmark ran"))
    before = model_copy.read_bytes()
    link = model_copy.parent / "alias.png"
    os.link(model_copy, link)  # the same file under another name is the same file
    for target in (model_copy, link):
        assert_one_line_error(invoke("bench", "--model", model_copy, option, target), "is the model under test")
    assert model_copy.read_bytes() == before


def test_bench_refuses_two_outputs_on_one_file(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.bench_cli.run_benchmark", lambda *a, **k: pytest.fail("the benchmark ran"))
    out = tmp_path / "r.md"
    assert_one_line_error(invoke("bench", "--markdown", out, "--json-out", out), "are the same file")


def test_export_firmware_never_writes_over_its_model(model_copy, tmp_path):
    before = model_copy.read_bytes()
    assert invoke("export-firmware", "--model", model_copy, "--out", model_copy).exit_code == EXIT_USAGE
    hidden = tmp_path / "fw"
    hidden.mkdir()
    inside = hidden / "model_data.h"
    shutil.copy(model_copy, inside)
    assert_one_line_error(invoke("export-firmware", "--model", inside, "--out", hidden), "is the input model")
    assert model_copy.read_bytes() == before and inside.read_bytes() == before


def test_train_prepare_never_writes_over_an_input_clip(tmp_path, write_audio, rng):
    for genre in ("blues", "rock"):
        write_audio(f"data/genres_original/{genre}/{genre}.00000.wav",
                    (0.1 * rng.standard_normal(4 * SR)).astype(np.float32), SR)
    clip = tmp_path / "data/genres_original/rock/rock.00000.wav"
    before = clip.read_bytes()
    res = invoke("train", "prepare", "--data", tmp_path / "data", "--out", tmp_path / "f", "--paper-json", clip)
    assert_one_line_error(res, "is input clip rock.00000.wav")
    res = invoke("train", "prepare", "--data", tmp_path / "data", "--out", tmp_path / "f.npz",
                 "--paper-json", tmp_path / "f.npz")
    assert_one_line_error(res, "are the same file")
    assert clip.read_bytes() == before


def test_train_compare_never_writes_over_a_runs_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    metrics = run / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.5, "track_accuracy": 0.5, "config": {"model": "crnn"}}))
    before = metrics.read_text()
    assert_one_line_error(invoke("train", "compare", run, "--markdown", metrics), "is")
    assert metrics.read_text() == before


def test_export_firmware_is_all_or_nothing_on_a_full_disk(tmp_path, monkeypatch):
    out = tmp_path / "fw"
    assert invoke("export-firmware", "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = Path.write_text

    def full_disk(self, text, *a, **k):
        if self.name == "labels.h":
            raise OSError(28, "No space left on device", str(self))
        return real(self, text, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_disk)
    res = invoke("export-firmware", "--out", out, "--test-windows", "3")
    assert_one_line_error(res, "No space left on device")
    assert "labels.h" in res.stderr and "keeps its previous files" in res.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]  # no temporary folder left


def test_train_fit_refuses_an_existing_run_and_locks_its_folder(tmp_path):
    from edge_genre.errors import OutputError
    from train.rundir import check_run_dir, locked_run_dir

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    res = invoke("train", "fit", "--features", tmp_path / "nothing", "--out", run)
    assert_one_line_error(res, "already holds a run")  # before the features are even read
    check_run_dir(run, resume=True)
    check_run_dir(run, overwrite=True)
    with locked_run_dir(run):
        with pytest.raises(OutputError, match="in use by another training run"):
            with locked_run_dir(run):
                pass
    with locked_run_dir(run):  # released
        pass
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        with locked_run_dir(fresh):
            raise RuntimeError("failed before writing")
    assert not fresh.exists()  # an empty folder it created is not left behind


def test_listen_writes_whole_lines_on_a_full_disk_and_still_summarizes(tmp_path, music):
    out = tmp_path / "hops.jsonl"

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2500, 2500))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    with open(out, "w") as f:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        res = subprocess.run([sys.executable, "-m", "edge_genre.cli", "listen", "--file", str(music), "--no-realtime",
                              "--json", "--loop", "4"], stdout=f, stderr=subprocess.PIPE, text=True,
                             preexec_fn=small_disk, timeout=120, env=env, cwd=ROOT)
    assert res.returncode == EXIT_OUTPUT, res.stderr
    text = out.read_text()
    assert text and text.endswith("\n")
    assert all("genre" in json.loads(line) for line in text.splitlines())  # every line whole
    assert "windows classified" in res.stderr and "p95" in res.stderr  # the summary reached stderr
    assert res.stderr.strip().splitlines()[-1].startswith("edge-genre: error: cannot write results to stdout")


def test_features_out_into_a_missing_folder_fails_before_the_work(music, tmp_path, monkeypatch):
    monkeypatch.setattr("edge_genre.audio.iter_audio", lambda *a, **k: pytest.fail("audio was decoded"))
    assert_one_line_error(invoke("features", music, "--out", tmp_path / "no" / "x.npy"), "does not exist")


# --------------------------------------------------------------------------- wrong answers


def test_a_dc_offset_alone_is_silence(write_audio, rng):
    y = (0.05 + 1e-5 * rng.standard_normal(6 * SR)).astype(np.float32)  # -26 dBFS of DC, -100 dBFS of hiss
    path = write_audio("dc.wav", y, SR, subtype="FLOAT")
    res = invoke("classify", path, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["genre"] == "silence"
    res = invoke("listen", "--file", path, "--no-realtime", "--json")
    hops = [json.loads(line) for line in res.stdout.splitlines()][:-1]
    assert hops and all(h["silent"] for h in hops)


def test_music_on_a_dc_offset_is_not_silence(write_audio, rng):
    from edge_genre.classifier import rms_dbfs

    y = 0.5 + 0.1 * rng.standard_normal(SR)
    assert rms_dbfs(y) == pytest.approx(-20, abs=0.3)


# Every container whose header declares the audio's length (in its own parser or in libsndfile's
# header log); IRCAM, PAF, PVF and OGG declare none, so a cut-off file cannot be told from a short one.
CONTAINERS = [("AIFF", "truncated AIFF file"), ("AU", "truncated AU file"), ("W64", "truncated W64 file"),
              ("RF64", "truncated RF64 file"), ("WAV", "truncated WAV file"), ("WAVEX", "truncated WAV file"),
              ("NIST", "truncated NIST file"), ("VOC", "truncated"), ("MAT4", "truncated"), ("MAT5", "truncated"),
              ("AVR", "truncated"), ("MPC2K", "truncated"), ("CAF", "malformed")]


@pytest.mark.parametrize("fmt, message", CONTAINERS)
def test_truncated_containers_are_refused_by_classify_and_listen_alike(tmp_path, rng, fmt, message):
    path = tmp_path / f"cut.{fmt.lower()}"
    signal_ = (0.1 * rng.standard_normal((8 * SR, 2))).astype(np.float32)
    sf.write(str(path), signal_, SR, format=fmt, subtype="PCM_16")
    assert invoke("classify", path).exit_code == 0  # whole, it is fine
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    for args in (("classify", path), ("listen", "--file", path, "--no-realtime"), ("features", path)):
        assert_one_line_error(invoke(*args), message)


def test_a_truncated_mp3_is_refused_by_listen_too(tmp_path, rng):
    path = tmp_path / "cut.mp3"
    try:
        sf.write(str(path), (0.1 * rng.standard_normal((8 * SR, 2))).astype(np.float32), SR, format="MP3")
    except (sf.LibsndfileError, ValueError, TypeError):
        pytest.skip("this libsndfile writes no MP3")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    for args in (("classify", path), ("listen", "--file", path, "--no-realtime")):
        res = run_cli(*args)
        assert res.returncode == EXIT_USAGE, res.stderr
        err = res.stderr.decode().strip().splitlines()
        assert "truncated" in err[-1] and not any("Xing" in line for line in err), err  # no decoder chatter


def test_file_names_that_are_not_utf8_are_classified(tmp_path, music):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9 \xff.wav")
    shutil.copy(music, name)
    res = run_cli(b"classify", name)
    assert res.returncode == EXIT_OK, res.stderr
    assert "caf\ufffd \ufffd.wav: " in res.stdout.decode() and not res.stderr
    res = run_cli(b"classify", os.fsencode(tmp_path), b"--json")
    assert res.returncode == EXIT_OK and all(json.loads(line)["genre"] for line in res.stdout.splitlines())
    res = run_cli(b"listen", b"--file", name, b"--no-realtime", b"--json")
    assert res.returncode == EXIT_OK, res.stderr
    strict = {"PYTHONIOENCODING": "utf-8:strict"}  # a UTF-8 locale's stdout, not C.UTF-8's surrogateescape
    for args in ((b"features", name), (b"classify", name, b"--windows"), (b"listen", b"--file", name, b"--no-realtime"),
                 (b"classify", name + b".missing")):
        res = run_cli(*args, env=strict)
        assert b"Traceback" not in res.stderr and b"surrogates" not in res.stderr, res.stderr
        assert res.returncode == (EXIT_USAGE if args[-1].endswith(b".missing") else EXIT_OK), res.stderr
        assert "caf\ufffd" in (res.stdout + res.stderr).decode("utf-8"), res.stdout


def test_listen_loop_checks_the_file_again_when_it_changes(tmp_path, write_audio, rng):
    from edge_genre.capture import FileSource
    from edge_genre.errors import AudioError

    path = write_audio("a.wav", (0.1 * rng.standard_normal(SR)).astype(np.float32), SR)
    source = FileSource(path, realtime=False, loop=3)
    blocks = iter(source)
    n = 0
    with pytest.raises(AudioError, match="changed to 44100 Hz"):
        for _ in blocks:
            n += 1
            if n == 3:  # during the first play: the file is replaced
                sf.write(str(path), np.zeros(44100, np.float32), 44100)
    data = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    write_audio("a.wav", data, SR)
    source = FileSource(path, realtime=False, loop=2)
    with pytest.raises(AudioError, match="truncated"):
        for i, _ in enumerate(source):
            if i == 1:
                whole = path.read_bytes()
                path.write_bytes(whole[: len(whole) // 2])


@pytest.mark.parametrize("args", [
    ("listen", "--duration", "nan"), ("listen", "--hop", "nan"), ("listen", "--threshold", "nan"),
    ("classify", "--hop", "nan", "x.wav"),
    ("train", "fit", "--features", "x", "--out", "y", "--lr", "nan"),
    ("train", "fit", "--features", "x", "--out", "y", "--lr", "-0.1"),
    ("train", "fit", "--features", "x", "--out", "y", "--distill-embedding", "nan"),
    ("train", "sweep", "--features", "x", "--out", "y", "--lrs", "abc"),
    ("train", "sweep", "--features", "x", "--out", "y", "--lrs", "0.1,-1"),
    ("train", "sweep", "--features", "x", "--out", "y", "--lrs", "0.1,inf"),
    ("train", "prepare", "--data", "x", "--out", "y", "--fmax", "nan"),
])
def test_bad_numbers_are_usage_errors(args):
    res = invoke(*args)
    assert_one_line_error(res, "edge-genre: error: ")  # usage errors are one line too, with a --help hint
    assert "--help" in res.stderr


def _tiny_cache(tmp_path: Path, x: np.ndarray) -> Path:
    from edge_genre.config import FeatureConfig
    from train.dataset import FeatureSet

    config = FeatureConfig()
    fs = FeatureSet(x.astype(np.float32), np.array([0, 1, 0, 1][: len(x)]), np.array(["a", "b", "c", "d"][: len(x)]),
                    ("blues", "rock"), config)
    return fs.save(tmp_path / "features.npz")


def test_train_checks_clusters_and_nan_features_before_training(tmp_path):
    shape = (4, *__import__("edge_genre.config", fromlist=["FeatureConfig"]).FeatureConfig().feature_shape)
    good = _tiny_cache(tmp_path, np.zeros(shape))
    res = invoke("train", "kmeans", "--features", good, "--out", tmp_path / "k", "--clusters", "5", "--no-plot")
    assert_one_line_error(res, "--clusters 5 for 4 windows")
    x = np.zeros(shape)
    x[2, 5, 3] = np.nan
    (tmp_path / "bad").mkdir()
    bad = _tiny_cache(tmp_path / "bad", x)
    res = invoke("train", "fit", "--features", bad, "--out", tmp_path / "run", "--epochs", "1")
    assert_one_line_error(res, "1 windows hold NaN or infinite features")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- clean output


def test_a_clean_run_prints_nothing_on_stderr_and_an_error_one_line(music, tmp_path):
    res = run_cli("classify", music)
    assert res.returncode == EXIT_OK and res.stderr == b"", res.stderr
    res = run_cli("info")
    assert res.returncode == EXIT_OK and res.stderr == b"", res.stderr
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    res = run_cli("classify", "--model", bad, music)
    assert res.returncode == EXIT_USAGE and len(res.stderr.decode().strip().splitlines()) == 1, res.stderr


def test_exit_status_policy(music, tmp_path):
    missing = tmp_path / "missing.wav"
    assert invoke("classify", music).exit_code == EXIT_OK
    assert invoke("classify", music, missing).exit_code == EXIT_PARTIAL  # some files failed
    assert_one_line_error(invoke("classify", missing), "no such file", EXIT_USAGE)  # nothing could be done
    assert invoke("classify", "--top-k", "0", music).exit_code == EXIT_USAGE
    assert "Exit status" in invoke("--help").output and "3  audio device" in invoke("--help").output


def test_classify_into_a_closed_pipe_ends_quietly(tmp_path, music):
    for i in range(6):
        shutil.copy(music, tmp_path / f"{i}.wav")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(f"{sys.executable} -m edge_genre.cli classify {tmp_path} | head -1", shell=True,
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
                         executable="/bin/bash")
    assert len(res.stdout.strip().splitlines()) == 1
    assert res.stderr == "", res.stderr


def test_the_systemd_unit_is_hardened_and_does_not_restart_a_usage_error():
    unit = (ROOT / "deploy" / "edge-genre.service").read_text()
    settings = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    assert settings["RestartPreventExitStatus"] == ["2"]
    assert settings["CapabilityBoundingSet"] == [""]
    assert settings["DevicePolicy"] == ["closed"] and settings["DeviceAllow"] == ["char-alsa rw"]
    assert set(settings["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert settings["IPAddressDeny"] == ["any"] and settings["UMask"] == ["0077"]
    for key in ("ProtectKernelLogs", "ProtectClock", "RestrictNamespaces", "NoNewPrivileges"):
        assert settings[key] == ["yes"], key
    assert "@system-service" in settings["SystemCallFilter"]
    analyze = shutil.which("systemd-analyze")
    if analyze:
        res = subprocess.run([analyze, "security", "--offline=true", str(ROOT / "deploy" / "edge-genre.service")],
                             capture_output=True, text=True, timeout=60)
        score = [line for line in res.stdout.splitlines() if "Overall exposure level" in line]
        if score:
            assert float(score[0].split(":")[1].split()[0]) <= 2.0, score


@pytest.mark.parametrize("field, value", [("held_out_clips", 5), ("held_out_clips", [1, 2]), ("xnnpack", "no"),
                                          ("architecture", {"a": 1}), ("labels", ["rock", "rock"]),
                                          ("labels", ["a\nb"]), ("labels", [""])])
def test_descriptive_metadata_of_the_wrong_type_is_a_model_error(tmp_path, monkeypatch, field, value):
    model = _model_with_metadata(tmp_path, monkeypatch, **{field: value})
    res = invoke("info", "--model", model)
    assert res.exit_code == EXIT_USAGE and len(res.stderr.strip().splitlines()) == 1, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)


def test_export_firmware_checks_its_output_folder_before_the_work(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr("firmware_export.export._open_model", lambda *a: pytest.fail("the export ran"))
    assert_one_line_error(invoke("export-firmware", "--out", blocker / "fw"), "cannot write in")


def test_an_unexpected_exception_is_one_line_with_its_own_status(monkeypatch):
    from edge_genre.exit_codes import EXIT_INTERNAL

    def boom(*a, **k):
        raise ValueError("something nobody foresaw")

    monkeypatch.setattr("edge_genre.classifier.GenreClassifier.__init__", boom)
    assert_one_line_error(invoke("info"), "internal error (ValueError: something nobody foresaw)", EXIT_INTERNAL)
    monkeypatch.setenv("EDGE_GENRE_DEBUG", "1")
    assert isinstance(invoke("info").exception, ValueError)
