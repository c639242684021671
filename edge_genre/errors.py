"""Exception types of edge-genre.

Every error a user can cause (bad audio, a foreign model file, a wrong
configuration) is raised as a subclass of :class:`EdgeGenreError` with a
one-line message; the CLI prints that line and exits with the status of
:mod:`edge_genre.exit_codes` (2; 3 for a :class:`DeviceError`, 4 for an
:class:`OutputWriteError`).
"""


class EdgeGenreError(Exception):
    """Base class of all errors raised on purpose by edge-genre."""


class AudioError(EdgeGenreError, ValueError):
    """Audio that cannot be used: unreadable, empty, non-finite, wrong shape or rate."""


class ConfigError(EdgeGenreError, ValueError):
    """A feature configuration that is invalid or does not match the model."""


class ModelError(EdgeGenreError):
    """A model file that is missing, not an edge-genre model, or unsupported."""


class DeviceError(EdgeGenreError):
    """An audio input device that is missing, busy or vanished."""


class OutputError(EdgeGenreError):
    """An output path that cannot be used: it is an input, or it cannot be written."""


class OutputWriteError(EdgeGenreError):
    """Writing results failed while running (a full disk): exit status 4."""
