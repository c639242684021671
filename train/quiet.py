"""Keep TensorFlow's start-up and converter chatter off the terminal (``edge-genre train`` without ``--verbose``).

TensorFlow's C++ side writes straight to file descriptor 2 before its logging is configured
("All log messages before absl::InitializeLog() ...", the oneDNN notice, "Could not find cuda
drivers ..."), and the TFLite converter prints its own lines; ``TF_CPP_MIN_LOG_LEVEL`` no longer
reaches all of them. :func:`install` therefore

- raises the Python loggers ``tensorflow`` and ``absl`` to ERROR (retracing warnings and the like);
- runs the first ``import tensorflow`` with descriptor 2 sent to a temporary file, replayed to the
  terminal only if the import fails;
- makes :func:`native_quiet` (used around the TFLite converter) do the same.

Python's own warnings and every error still reach stderr; ``--verbose`` leaves everything as it is.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import tempfile

_enabled = False


def enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def native_quiet(active: bool | None = None, stdout: bool = False):
    """Within the block, output written to descriptor 2 (C++ logs; with ``stdout`` descriptor 1 too)
    goes to a temporary file, replayed to stderr when the block raises.

    Yields a text stream on the real stderr, for progress lines printed inside the block.
    """
    if not (_enabled if active is None else active):
        yield sys.stderr
        return
    fds = (2, 1) if stdout else (2,)
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = {fd: os.dup(fd) for fd in fds}
    except (OSError, ValueError, AttributeError):  # no real descriptors (embedded, pytest capture)
        yield sys.stderr
        return
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1)
    with tempfile.TemporaryFile() as sink:
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        failed = False
        try:
            yield terminal
        except BaseException:
            failed = True
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            for fd, dup in saved.items():
                os.dup2(dup, fd)
                os.close(dup)
            terminal.close()
            if failed:
                sink.seek(0)
                text = sink.read().decode("utf-8", "replace")
                if text.strip():
                    sys.stderr.write(text)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Runs the first import of ``tensorflow`` inside :func:`native_quiet`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            with native_quiet(True):
                original(module)

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Quiet mode for this process (idempotent)."""
    global _enabled
    if _enabled:
        return
    _enabled = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name in ("tensorflow", "absl", "h5py", "tf_keras"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
