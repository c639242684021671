"""Shared pytest fixtures of edge-genre.

Data fixtures
-------------
``data_dir``
    The shared data folder (``$EDGE_GENRE_DATA``, default ``<repo>/../shared/data``).
``gtzan_mini``
    ``<data_dir>/gtzan-mini/genres_original`` (``<genre>/<genre>.000NN.wav``).
``gtzan_wavs``
    Sorted list of every ``*.wav`` under ``gtzan_mini``.

When the data is absent these fixtures SKIP the test with the reason, unless
``EDGE_GENRE_REQUIRE_DATA=1`` (CI with data mounted), where they FAIL it. Any
test that uses one of them is marked ``data`` automatically, so ``-m "not
data"`` deselects it; mark tests that find data some other way by hand.

Nothing from the data folder may be copied into the repository: tests write
their own small fixtures under ``tmp_path`` (see ``write_audio``).

Other fixtures
--------------
``rng``
    A ``numpy.random.Generator`` seeded from the test's node id: reproducible,
    yet different for every test (and every parametrisation).
``write_audio``
    ``write_audio(name, data, sr, subtype=None, format=None) -> Path`` writes a
    sound file under ``tmp_path`` with soundfile.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DATA_ENV = "EDGE_GENRE_DATA"
REQUIRE_ENV = "EDGE_GENRE_REQUIRE_DATA"
DATA_FIXTURES = frozenset({"data_dir", "gtzan_mini", "gtzan_wavs"})


def data_required() -> bool:
    """True when missing data must fail tests instead of skipping them."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def configured_data_dir() -> Path:
    """The data folder the environment points at (it may not exist)."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_DATA_DIR


def missing_data(reason: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
    """Skip the current test because data is absent, or fail it if data is required."""
    if data_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires the data)", pytrace=False)
    pytest.skip(f"{reason}; set {DATA_ENV} to the shared data folder to run this test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a data fixture with ``data``."""
    for item in items:
        if DATA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


def pytest_report_header(config: pytest.Config) -> str:
    root = configured_data_dir()
    state = "found" if root.is_dir() else "MISSING"
    return f"edge-genre data: {root} ({state}; {REQUIRE_ENV}={'1' if data_required() else '0'})"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Path of the shared data folder; skips (or fails, if required) when it is absent."""
    root = configured_data_dir()
    if not root.is_dir():
        missing_data(f"shared data folder {root} not found")
    return root.resolve()


@pytest.fixture(scope="session")
def gtzan_mini(data_dir: Path) -> Path:
    """Path of ``gtzan-mini/genres_original`` inside the data folder."""
    root = data_dir / "gtzan-mini" / "genres_original"
    if not root.is_dir():
        missing_data(f"GTZAN subset {root} not found")
    if not any(root.glob("*/*.wav")):
        missing_data(f"GTZAN subset {root} holds no <genre>/*.wav files")
    return root


@pytest.fixture(scope="session")
def gtzan_wavs(gtzan_mini: Path) -> list[Path]:
    """Every clip of the GTZAN subset, sorted by genre then id."""
    return sorted(gtzan_mini.glob("*/*.wav"))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """Random generator with a seed derived from the test id (stable across runs)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def write_audio(tmp_path: Path):
    """Factory writing a sound file under ``tmp_path``; returns its path."""
    import soundfile as sf

    def write(name: str, data: np.ndarray, sr: int, subtype: str | None = None, format: str | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), data, sr, subtype=subtype, format=format)
        return path

    return write
