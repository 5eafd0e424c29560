"""A one-line progress bar on stderr (redrawn in place on a terminal, printed once elsewhere)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows ``done/total`` with a bar, a percentage and the rate so far."""

    def __init__(self, total: int, *, label: str = "", width: int = 30, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.width = width
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._interactive = self.stream.isatty()

    def update(self, done: int) -> None:
        """Redraw with ``done`` items finished (terminals only)."""
        if self._interactive:
            self.stream.write("\r" + self._line(done))
            self.stream.flush()

    def finish(self, done: int) -> None:
        """Draw the final state and end the line."""
        prefix = "\r" if self._interactive else ""
        self.stream.write(prefix + self._line(done) + "\n")
        self.stream.flush()

    def _line(self, done: int) -> str:
        fraction = min(done / self.total, 1.0)
        filled = int(self.width * fraction)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        return f"{self.label}[{bar}] {done}/{self.total} {fraction:4.0%}  {done / elapsed:,.0f} tasks/s"
