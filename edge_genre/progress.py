"""Progress of long steps on stderr, with no dependency (a Pi install has no tqdm).

The rule, the same for every command (``bench``, ``train ...``):

- progress goes to **stderr**, never to stdout (which keeps its JSON / tables);
- on a **terminal**, one line rewritten in place: ``prefix: what  12/40  30%  1.2/s  ETA 23 s``;
- **elsewhere** (a pipe, a log file, CI, the journal) plain lines: one when the step starts, one at
  most every :data:`LOG_EVERY_SECONDS`, and one when it ends, with its duration;
- ``enabled=False`` (the commands' ``--quiet``, where it means "no progress at all", e.g. ``bench
  --quiet``) prints nothing. In ``train`` commands ``--quiet`` drops the per-epoch bars only: the
  steps (features, augmentation, folds, export) still report, so a long run always shows life.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

LOG_EVERY_SECONDS = 10.0


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Progress:
    """A counter over ``total`` items (or an open-ended step when ``total`` is None); see the module rule."""

    def __init__(self, total: int | None, desc: str, *, prefix: str = "edge-genre", enabled: bool = True,
                 unit: str = "", stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.total, self.desc, self.prefix, self.unit = total, desc, prefix, unit
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        self.n = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._closed = False
        self._width = 0
        if enabled and not tty:
            self._line(f"{desc}" + (f" ({total} {unit})".replace(" )", ")") if total else "") + " ...")
        self._draw(force=True)
        self._last = time.monotonic()

    def _line(self, text: str) -> None:
        try:
            self.stream.write(f"{self.prefix}: {text}\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def _status(self) -> str:
        elapsed = time.monotonic() - self.t0
        parts = [self.desc]
        if self.total:
            parts.append(f"{self.n}/{self.total}{(' ' + self.unit) if self.unit else ''}  {self.n / self.total:4.0%}")
        elif self.n:
            parts.append(f"{self.n}{(' ' + self.unit) if self.unit else ''}")
        if self.n and elapsed > 0:
            rate = self.n / elapsed
            if self.total and rate > 0:
                parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        parts.append(_duration(elapsed))
        return "  ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if self.tty:
            if not force and now - self._last < 0.2:
                return
            text = f"{self.prefix}: {self._status()}"
            pad = max(0, self._width - len(text))
            self._width = len(text)
            try:
                self.stream.write("\r" + text + " " * pad)
                self.stream.flush()
            except (OSError, ValueError):
                self.enabled = False
        elif not force and now - self._last >= LOG_EVERY_SECONDS:
            self._line(self._status())
        else:
            return
        self._last = now

    def update(self, n: int = 1) -> None:
        self.n += n
        self._draw()

    def set_description(self, desc: str) -> None:
        """A new stage of the step: redrawn on a terminal, one line elsewhere (stages are few)."""
        self.desc = desc
        if self.enabled and not self.tty and not self._closed:
            self._line(self._status())
            self._last = time.monotonic()
        else:
            self._draw(force=True)

    def close(self, message: str | None = None) -> None:
        """End the step: a final line ``desc: done in 12 s`` (or ``message``)."""
        if self._closed:
            return
        if self.enabled:
            text = f"{self.desc}: {message or 'done'} in {_duration(time.monotonic() - self.t0)}"
            if self.tty:
                try:
                    self.stream.write("\r" + " " * self._width + "\r")
                except (OSError, ValueError):
                    pass
            self._line(text)
        self._closed = True

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        self.close(None if exc_type is None else "stopped")


def track(iterable: Iterable, desc: str, total: int | None = None, **kwargs: Any) -> Iterator:
    """Iterate ``iterable`` with a :class:`Progress` (``total`` defaults to ``len(iterable)``)."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, desc, **kwargs) as bar:
        for item in iterable:
            yield item
            bar.update(1)


def step(message: str, *, prefix: str = "edge-genre", enabled: bool = True, stream: TextIO | None = None) -> None:
    """One progress line on stderr (a step starting)."""
    if enabled:
        try:
            out = stream if stream is not None else sys.stderr
            out.write(f"{prefix}: {message}\n")
            out.flush()
        except (OSError, ValueError):
            pass
