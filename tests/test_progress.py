"""Progress on stderr (edge_genre.progress), and one-line hints when an extra is not installed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_genre.progress import Progress, step, track

REPO = Path(__file__).resolve().parent.parent


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_mode_prints_start_stages_and_end_lines(monkeypatch):
    out = io.StringIO()
    with Progress(3, "stages", prefix="edge-genre bench", stream=out) as bar:
        bar.set_description("dsp")
        bar.update(1)
        bar.set_description("inference")
        bar.update(2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "edge-genre bench: stages (3) ..."
    assert lines[1].startswith("edge-genre bench: dsp  0/3") and lines[2].startswith("edge-genre bench: inference  1/3")
    assert lines[-1].startswith("edge-genre bench: inference: done in ")
    assert "\r" not in out.getvalue()


def test_log_mode_is_sparse_and_tty_mode_rewrites_one_line(monkeypatch):
    out = io.StringIO()
    for _ in track(range(500), "work", stream=out, unit="items"):
        pass
    assert len(out.getvalue().splitlines()) == 2  # start and end: fast steps do not flood a log
    tty = FakeTTY()
    for _ in track(range(5), "work", stream=tty):
        pass
    text = tty.getvalue()
    assert text.startswith("\r") and text.count("\n") == 1 and text.endswith("s\n")


def test_disabled_prints_nothing():
    out = FakeTTY()
    with Progress(2, "x", stream=out, enabled=False) as bar:
        bar.update(2)
    step("hello", stream=out, enabled=False)
    assert out.getvalue() == ""


BLOCK_EXTRAS = """
import sys
BLOCK = {"tensorflow", "tf_keras", "keras", "sklearn", "matplotlib", "tqdm", "librosa",
         "python_speech_features", "tflite_micro", "musicnn", "scipy"}
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


@pytest.fixture()
def runtime_only(tmp_path) -> dict[str, str]:
    """An environment in which the training and dev extras cannot be imported (a Pi install)."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(BLOCK_EXTRAS))
    path = os.pathsep.join([str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_training_commands_in_a_runtime_only_install_say_what_to_install(runtime_only, tmp_path):
    import numpy as np
    import soundfile as sf

    for genre in ("blues", "rock"):
        (tmp_path / "gtzan" / "genres_original" / genre).mkdir(parents=True)
        noise = np.random.default_rng(0).standard_normal(4 * 22050).astype(np.float32) * 0.1
        sf.write(str(tmp_path / "gtzan" / "genres_original" / genre / f"{genre}.00000.wav"), noise, 22050)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "edge_genre.cli", *args], capture_output=True, text=True,
                              timeout=120, env=runtime_only, cwd=tmp_path)

    # features need only the runtime; training needs TensorFlow: one line naming the install command
    proc = cli("train", "prepare", "--data", str(tmp_path / "gtzan"), "--out", str(tmp_path / "f"), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    proc = cli("train", "fit", "--features", str(tmp_path / "f"), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edge-genre: error: 'edge-genre train fit' needs the training extras: "
                               "pip install 'edge-genre[train]' (") and lines[0].endswith(" is not installed)")
    # the runtime commands work in the same environment
    proc = cli("classify", str(REPO / "demo" / "vibe_ace.ogg"))
    assert proc.returncode == 0 and proc.stdout.startswith(str(REPO / "demo" / "vibe_ace.ogg") + ": "), proc.stderr


QUIET_CHILD = """
import os, sys
from train import quiet
quiet.install()
with quiet.native_quiet(stdout=True) as terminal:
    os.write(2, b"I0000 chatter from C++\\n")
    os.write(1, b"not on stdout either\\n")
    terminal.write("edge-genre: progress line\\n")
try:
    with quiet.native_quiet():
        os.write(2, b"the reason it failed\\n")
        raise RuntimeError("boom")
except RuntimeError:
    pass
if len(sys.argv) > 1:
    import tensorflow  # its start-up lines (absl, oneDNN, cuda stub) must not reach stderr
print("ok")
"""


@pytest.mark.parametrize("with_tensorflow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_train_quiet_mode_keeps_native_chatter_off_the_terminal(with_tensorflow):
    pytest.importorskip("tensorflow")
    args = [sys.executable, "-c", QUIET_CHILD] + (["tf"] if with_tensorflow else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    # the progress line goes through, the chatter does not; a failing block replays its output
    assert proc.stderr == "edge-genre: progress line\nthe reason it failed\n", proc.stderr
