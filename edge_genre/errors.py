"""Exception types of edge-genre.

Every error a user can cause (bad audio, a foreign model file, a wrong
configuration) is raised as a subclass of :class:`EdgeGenreError` with a
one-line message; the CLI prints that line and exits with status 2.
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
