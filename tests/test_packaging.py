"""The wheel a Pi installs holds the runtime only; the desktop tools run from a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from conftest import REPO_ROOT


def test_the_wheel_holds_edge_genre_only(tmp_path):
    # pip builds it as a user would (an isolated build environment from the package registry)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(tmp_path), str(REPO_ROOT)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("edge_genre-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"edge_genre", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "edge_genre/models/genre_crnn_int8.tflite" in names and "edge_genre/models/MODEL_CARD.md" in names


def test_desktop_tools_are_not_importable_as_top_level_packages_outside_the_checkout(tmp_path):
    """'import train' in a user's program elsewhere must not resolve to us; 'edge-genre train'
    still finds the tools beside edge_genre in this (editable) checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import importlib.util as u, json; print(json.dumps([u.find_spec(m) is None for m in " \
           "('train', 'benchmarks', 'firmware_export')]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         check=True).stdout
    assert out.strip() == "[true, true, true]"
    proc = subprocess.run([sys.executable, "-m", "edge_genre.cli", "train", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0 and "Desktop training" in proc.stdout, proc.stderr
