"""Checks on the paths a command reads and writes, shared by every command.

- :func:`require_regular_file`: refuse FIFOs, devices, sockets and directories *before* anything
  opens them (opening a FIFO blocks; reading ``/dev/zero`` never ends).
- :func:`read_bytes_limited`: read a whole file with a size limit.
- :func:`check_distinct_paths`: refuse an output that is one of the inputs or another output,
  before any work.
- :func:`atomic_files`: write a set of files all or nothing (a temporary sibling, then renames).
- :func:`printable`: a path or message that can be printed even when a file name is not valid
  UTF-8 (legal on Linux).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import EdgeGenreError, OutputError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def printable(text: object) -> str:
    """``str(text)`` with undecodable file-name bytes (surrogate escapes) shown as U+FFFD."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def require_regular_file(path: str | os.PathLike, error: type[EdgeGenreError], what: str = "file") -> Path:
    """Return ``path`` if it names a regular file (symlinks followed), else raise ``error``.

    Only ``stat`` is used: nothing is opened, so a FIFO or a device cannot block or stream forever.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        hint = "; give the .tflite file" if stat.S_ISDIR(mode) and what == "model file" else ""
        raise error(f"{path}: is {kind}, not a regular {what}{hint}")
    return path


def open_regular_file(path: str | os.PathLike, error: type[EdgeGenreError], what: str = "file") -> int:
    """A read-only file descriptor of the regular file ``path``.

    Checked with ``stat`` first, then opened without blocking (a FIFO swapped in meanwhile cannot
    hang the open) and checked again on the descriptor itself, so what is read is what was checked.
    File names of any length or encoding work: nothing but the kernel sees the name.
    """
    path = require_regular_file(path, error, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{path}: is not a regular {what}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes_limited(path: str | os.PathLike, limit: int, error: type[EdgeGenreError], what: str = "file") -> bytes:
    """The contents of the regular file ``path``, refused when larger than ``limit`` bytes."""
    fd = open_regular_file(path, error, what)
    try:
        with open(fd, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(f"{path}: larger than {limit // 2**20} MiB; not a {what} this program reads")
    return data


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file (hard links and symlinks included), existing or not."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(os.path.realpath(a)) == os.path.abspath(os.path.realpath(b))


def _inside(path: str | os.PathLike, directory: str | os.PathLike) -> bool:
    p, d = os.path.realpath(path), os.path.realpath(directory)
    return p == d or p.startswith(d.rstrip(os.sep) + os.sep)


def check_distinct_paths(inputs: Mapping[str, str | os.PathLike | None],
                         outputs: Mapping[str, str | os.PathLike | None],
                         output_dirs: Mapping[str, str | os.PathLike | None] | None = None) -> None:
    """Refuse, before any work, an output that would overwrite an input or another output.

    Parameters
    ----------
    inputs, outputs : mapping
        What each path is called in the message (an option name, "the model") -> the path; ``None``
        entries are ignored.
    output_dirs : mapping, optional
        Output folders whose files are replaced: an input inside one is refused too.

    Raises
    ------
    OutputError
        One line naming both roles.
    """
    ins = [(k, v) for k, v in inputs.items() if v is not None]
    outs = [(k, v) for k, v in outputs.items() if v is not None]
    for i, (name, out) in enumerate(outs):
        for in_name, src in ins:
            if same_path(out, src):
                raise OutputError(f"{name} {printable(out)} is {in_name}: writing it would destroy it; choose another path")
        for other_name, other in outs[:i]:
            if same_path(out, other):
                raise OutputError(f"{name} and {other_name} are the same file {printable(out)}; choose two paths")
    for name, folder in (output_dirs or {}).items():
        if folder is None:
            continue
        for in_name, src in ins:
            if _inside(src, folder):
                raise OutputError(f"{name} {printable(folder)} holds {in_name} {printable(src)}, whose files it "
                                  "replaces; choose another folder")


def check_output_dir(out: str | os.PathLike, what: str = "--out") -> Path:
    """Refuse now, before any long work, an output folder that could not be created or written:
    it is a file, or its nearest existing ancestor is not a writable folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} {printable(out)}: it is a file, not a folder")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {printable(out)}: cannot write in {printable(probe)}"
                          + (" (a file)" if probe.exists() and not probe.is_dir() else " (permission denied)"))
    return out


@contextlib.contextmanager
def atomic_files(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Write a set of files into ``out_dir`` all or nothing.

    Yields a temporary folder beside ``out_dir`` (same file system). When the block ends without an
    error, every file in it replaces its namesake in ``out_dir`` by a rename (which needs no space);
    on any error the temporary folder is removed and ``out_dir`` keeps its previous files. A failed
    write names the path and the reason (:class:`OutputError`).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"cannot write into {printable(out)}: it is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"cannot write into {printable(out)}: {exc.strerror or exc}") from None
    try:
        try:
            yield tmp
        except OSError as exc:
            where = exc.filename and Path(exc.filename).name
            raise OutputError(f"cannot write {printable(out / where) if where else printable(out)}: "
                              f"{exc.strerror or exc}; {printable(out)} keeps its previous files") from None
        try:
            out.mkdir(parents=True, exist_ok=True)
            for item in sorted(tmp.iterdir()):
                os.replace(item, out / item.name)
        except OSError as exc:
            raise OutputError(f"cannot write into {printable(out)}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def walk_files(root: str | os.PathLike) -> Iterator[Path]:
    """Every regular file under ``root``, depth first, without recursion (any depth) and without
    following symbolic links to folders (no cycles)."""
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue  # unreadable or vanished folder: nothing to classify there
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    yield Path(entry.path)
            except OSError:
                continue
