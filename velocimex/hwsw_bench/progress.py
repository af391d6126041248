"""A plain stderr progress bar (no dependency): one line per stage, redrawn in place."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stage: str, total: int, stream: TextIO | None = None) -> None:
        self.stage = stage
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        # Redrawing on every call would cost more than the per-message work being timed.
        if now - self._last_draw >= 0.2:
            self._draw()

    def _draw(self, end: str = "") -> None:
        self._last_draw = time.monotonic()
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(30 * frac)
        elapsed = self._last_draw - self._start
        self.stream.write(
            f"\r[bench] {self.stage:<28} [{bar:<30}] {100 * frac:5.1f}% {elapsed:6.1f} s{end}"
        )
        self.stream.flush()

    def close(self) -> None:
        self.done = self.total
        self._draw(end="\n")
