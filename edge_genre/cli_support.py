"""Helpers shared by every ``edge-genre`` command line (runtime, ``train``, ``bench``,
``export-firmware``): the one-line failure and its exit status, option types, shared options,
and output checks made before any long work."""

from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

import click
import numpy as np

from .errors import EdgeGenreError
from .exit_codes import EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from .paths import printable

WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}  # the disk, not the user's input


def fail(message: str, status: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error (printable even for file names that are not UTF-8) and exit with ``status``."""
    line = " ".join(printable(message).splitlines())
    try:
        click.echo(f"edge-genre: error: {line}", err=True)
    except OSError:  # stderr itself is gone: the status still tells
        pass
    sys.exit(status)


def stdout_closed() -> NoReturn:
    """The reader of stdout went away (``| head -1``): end quietly, like ``listen`` does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # keep Python from complaining when it flushes at exit
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_OK)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN (which compares false with every bound) and infinities."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if rv is not None and not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv

    def _describe_range(self) -> str:
        if self.min is None and self.max is None:  # click would show "x<=None"
            return "finite"
        return super()._describe_range()


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: the path and the reason, without a traceback."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


def ensure_writable(path: Path, what: str = "output file") -> Path:
    """Fail now, before any long work, if ``path`` cannot be created or overwritten as a file."""
    path = Path(path)
    if path.is_dir():
        fail(f"cannot write {what} {path}: it is a directory")
    if not path.parent.is_dir():
        fail(f"cannot write {what} {path}: directory {path.parent} does not exist")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        fail(f"cannot write {what} {path}: {exc.strerror or exc}")
    if not existed:
        path.unlink(missing_ok=True)
    return path


def write_npy_atomically(out: Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy to exactly ``out`` (no ".npy" appended), all or nothing.

    The data go to a temporary file beside ``out`` that replaces it only once complete, so a full
    disk leaves the previous file intact and no partial one behind.
    """
    import os
    import tempfile

    out = Path(out)
    tmp = None
    try:
        if out.exists() and not out.is_file():  # a device or pipe (/dev/stdout): write into it
            with open(out, "wb") as f:
                np.save(f, array)
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, out.stat().st_mode & 0o777 if out.exists() else 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", EXIT_OUTPUT if exc.errno in WRITE_ERRNOS else EXIT_USAGE)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def ensure_directory(path: Path, what: str = "output directory", create: bool = True) -> Path:
    """Create ``path`` (and its parents) now, or fail with one line if it cannot be a directory.

    With ``create=False`` only an existing non-directory is refused (the command creates it later,
    once its inputs have been checked).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(f"cannot use {path} as {what}: it is a file")
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {what} {path}: {exc.strerror or exc}")
    return path


def model_path_of(model: str | None) -> Path | None:
    """The file behind ``--model`` when it names one (for the output-is-an-input check), else None."""
    if model is None:
        return None
    from .model_io import resolve_model_path

    try:
        return resolve_model_path(model)
    except EdgeGenreError:
        return None  # reported when the model is loaded



music_threshold_option = click.option(
    "--music-threshold", type=click.FloatRange(0.0, 1.0), default=None, metavar="P",
    help='Report "not_music" when the music detector\'s score (0-1, the mean over the clip or the smoothing '
         "windows) is below P. Default: the threshold stored in the model (0.3 or less for the shipped ones); 0 turns it off.")
