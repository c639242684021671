"""The runtime path stays light: no TensorFlow, librosa, Keras or SciPy behind ``import edge_genre``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap

import pytest

HEAVY = ("tensorflow", "tf_keras", "keras", "librosa", "scipy", "sklearn", "numba", "audioread", "matplotlib")


def run_fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON line, the heavy modules it loaded."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print(json.dumps({{"heavy": heavy, "n_modules": len(sys.modules)}}))
    """)
    # A neutral working directory: the child imports edge_genre as installed, not from the cwd.
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_and_mfcc_load_no_heavy_modules():
    result = run_fresh("""
        import numpy as np
        import edge_genre
        y = np.random.default_rng(0).standard_normal(66150).astype(np.float32) * 0.1
        assert edge_genre.mfcc(y, 22050).shape == (130, 13)
        assert edge_genre.log_mel(y, 22050).shape == (130, 128)
        assert edge_genre.window_features(y, edge_genre.FeatureConfig()).shape == (130, 13)
        stream = edge_genre.StreamingMFCC(edge_genre.FeatureConfig(), hop_seconds=1.0)
        assert len(stream.push(np.concatenate([y, y]))) == 4
        edge_genre.FeatureConfig.from_json(edge_genre.FeatureConfig().to_json())
    """)
    assert result["heavy"] == [], f"import edge_genre + features pulled in {result['heavy']}"


def test_load_audio_loads_no_heavy_modules(tmp_path):
    sf = pytest.importorskip("soundfile")
    import numpy as np

    path = tmp_path / "a.wav"
    sf.write(str(path), np.zeros(48000, np.float32), 48000)
    result = run_fresh(f"""
        import edge_genre
        y = edge_genre.load_audio({str(path)!r}, sr=22050)
        assert y.size == 22050
        edge_genre.mfcc(y + 0.1, 22050)
    """)
    assert result["heavy"] == [], f"load_audio pulled in {result['heavy']}"


def test_the_check_itself_detects_heavy_imports():
    # Guard against a vacuous test: importing scipy in the child must be seen.
    pytest.importorskip("scipy")
    result = run_fresh("import scipy.fft")
    assert "scipy" in result["heavy"]
