"""A real full disk for the tests: a small tmpfs mounted under the test's tmp_path, filled on demand.

``small_disk(folder, size)`` mounts a tmpfs of ``size`` (``"8m"``) on ``folder`` and unmounts it on
the way out (lazily, if something still holds it). It needs root (CI runs as root); elsewhere the
test is skipped, and under CI (``CI`` set and true) it fails instead, as a missing ``weed`` binary
does in ``tests/conftest.py``. ``fill(path)`` writes ``path`` until the disk refuses a byte (ENOSPC)
and returns how much it wrote; deleting ``path`` frees that space again.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_root() -> None:
    """Skip (or, under CI, fail) unless this process may mount a tmpfs."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail("mounting a tmpfs needs root, and CI is set: run the suite as root")
    pytest.skip("mounting a tmpfs (a real full disk) needs root")


@contextmanager
def small_disk(folder: Path, size: str = "8m") -> Iterator[Path]:
    require_root()
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"cannot mount a tmpfs under CI: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(path: Path, chunk: int = 1 << 16) -> int:
    """Write ``path`` until its disk is full; the bytes written."""
    written = 0
    block = b"\0" * chunk
    with open(path, "wb", buffering=0) as fh:
        while chunk:
            try:
                written += fh.write(block[:chunk])
            except OSError as err:
                if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                chunk //= 2  # the last pages: smaller writes until not one byte fits
    return written


def fill_when(ready: Callable[[], bool], path: Path, timeout_s: float = 120.0) -> threading.Thread:
    """A thread that fills ``path``'s disk as soon as ``ready()`` holds (polled every 20 ms)."""

    def run() -> None:
        deadline = time.monotonic() + timeout_s
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        fill(path)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
