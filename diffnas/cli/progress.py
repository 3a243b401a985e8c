"""A dependency-free progress line: redrawn in place on a terminal, one line per update otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(done, **fields)`` shows ``[####....] done/total  key value ...  elapsed``."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 24,
                 enabled: bool = True) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int, **fields: object) -> None:
        if not self.enabled:
            return
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        parts = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        line = f"{self.label}[{bar}] {done}/{self.total}  {parts}  {time.perf_counter() - self.start:.1f}s"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
