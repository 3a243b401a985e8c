"""Where a result came from, for a paper's methods section: software versions, the device, the precision.

One trial row carries ``diffnas_version`` (and ``diffnas_commit`` where the package runs from a git
checkout), ``torch_version``, ``cuda_version`` and ``cudnn_version`` (null on a CPU-only torch),
``device_name`` (the GPU's name, or the CPU's model name from /proc/cpuinfo where there is one) and
``amp`` (``perf.amp``: off, bf16 or fp16).
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from typing import Any

import torch

import diffnas


@functools.lru_cache(maxsize=1)
def source_commit() -> str | None:
    """The git commit the diffnas package is imported from, where it sits in a git checkout; else None."""
    folder = os.path.dirname(os.path.abspath(diffnas.__file__))
    try:
        out = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


@functools.lru_cache(maxsize=1)
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The name of ``device``: the GPU's (``torch.cuda.get_device_name``) or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return _cpu_name()


def provenance(device: torch.device, amp: str) -> dict[str, Any]:
    """The provenance columns of a trial row run on ``device`` with ``perf.amp`` = ``amp``."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "diffnas_version": diffnas.__version__,
        "diffnas_commit": source_commit(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": str(cudnn) if cudnn is not None else None,
        "device_name": device_name(device),
        "amp": amp,
    }
