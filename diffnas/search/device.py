"""Where a search runs: a config's ``device`` value resolved to a torch device of this process."""

from __future__ import annotations

import torch

from diffnas.errors import InputError


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available (the device Ray or CUDA_VISIBLE_DEVICES exposes), else cpu;
    ``cuda:N`` an exact GPU of this process (a Ray trial's assignment)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("device", "cuda requested but no CUDA device is available; allowed here: auto, cpu")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda:") and name[5:].isdigit():
        if not torch.cuda.is_available() or int(name[5:]) >= torch.cuda.device_count():
            raise InputError("device", f"{name} is not a CUDA device of this process")
        return torch.device(name)
    raise InputError("device", f"unknown {name!r}; allowed: auto, cpu, cuda")
