"""One training run per output folder: refuse to mix two runs, lock the folder while training."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from edge_genre.errors import OutputError

LOCK_NAME = ".edge-genre-train.lock"


def check_run_dir(out: Path, *, resume: bool = False, overwrite: bool = False) -> None:
    """Refuse an ``--out`` that already holds files unless ``--resume`` or ``--overwrite`` says what to do."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a run folder")
    if out.is_dir() and not (resume or overwrite) and any(p.name != LOCK_NAME for p in out.iterdir()):
        raise OutputError(f"--out {out} already holds a run: pass --resume to keep its finished folds, "
                          "--overwrite to replace it, or choose another folder")


@contextlib.contextmanager
def locked_run_dir(out: Path) -> Iterator[Path]:
    """Create ``out`` and hold an exclusive lock on it for the duration: a second run into the same
    folder fails at once instead of mixing its files with the first. A folder created here and
    left empty (the run failed before writing) is removed again."""
    out = Path(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot create run folder {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"--out {out} is in use by another training run (locked); wait for it or "
                              "choose another folder") from None
        yield out
    finally:
        with contextlib.suppress(OSError):
            (out / LOCK_NAME).unlink()
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty
