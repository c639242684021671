"""The README's first command: classify the CC-BY demo clip shipped in demo/, on a fresh checkout."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT

DEMO = REPO_ROOT / "demo" / "vibe_ace.ogg"


def test_demo_clip_ships_with_its_attribution():
    assert DEMO.is_file() and DEMO.stat().st_size < 500_000
    text = (REPO_ROOT / "demo" / "README.md").read_text()
    assert "Kevin MacLeod" in text and "creativecommons.org/licenses/by/3.0" in text


def test_demo_clip_is_the_shared_one(data_dir):
    assert DEMO.read_bytes() == (data_dir / "demo" / "vibe_ace.ogg").read_bytes()


def test_classify_the_demo_clip_prints_one_line_and_nothing_on_stderr():
    res = subprocess.run([sys.executable, "-m", "edge_genre.cli", "classify", str(DEMO)], capture_output=True,
                         text=True, timeout=120, cwd=REPO_ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{DEMO}: ") and res.stdout.count("\n") == 1
    assert res.stderr == ""  # not even LiteRT's 'Created TensorFlow Lite XNNPACK delegate' line
