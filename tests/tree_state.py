"""A byte-exact fingerprint of a folder tree, to show that a refused command changed nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_state(root: str | Path) -> dict[str, str]:
    """Relative path -> ``dir`` / ``link:<target>`` / sha256 of the bytes, for everything under ``root``."""
    state: dict[str, str] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                state[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                state[rel] = "dir"
            else:
                with open(path, "rb") as fh:
                    state[rel] = hashlib.sha256(fh.read()).hexdigest()
    return state
