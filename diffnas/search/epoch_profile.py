"""Where an epoch's time goes: wall seconds per phase of :meth:`diffnas.search.run.SearchRun.step`.

Phases: ``data`` (batch indexing), ``alpha_step`` (α's forward + backward + clip + Adam),
``weight_step`` (the weights' forward + backward + SGD), ``evaluation`` (``val_acc`` and
``discrete_val_acc`` passes), ``metrics`` (entropies, genotype, Hessian, truth, proxy, early
stopping), and ``writing`` (result parts and checkpoint, timed by the caller with :meth:`lap` after
``step``). ``lap(phase)`` charges the time since the previous lap to ``phase``; on CUDA it first
synchronises the device (only when ``sync`` is on), so asynchronous kernels are charged to the phase
that launched them. Overhead: one ``perf_counter`` call per lap.
"""

from __future__ import annotations

import time

import torch

PHASES = ("data", "alpha_step", "weight_step", "evaluation", "metrics", "writing")


class EpochProfile:
    """Seconds per phase for the current epoch (``current``) and summed over the run (``total``)."""

    def __init__(self, device: torch.device | None = None, sync: bool = False) -> None:
        self.sync = bool(sync) and device is not None and device.type == "cuda"
        self.current: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.total: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.epochs = 0
        self._last = time.perf_counter()

    def start_epoch(self) -> None:
        self.current = dict.fromkeys(PHASES, 0.0)
        self._last = time.perf_counter()

    def start_lap(self) -> None:
        """Restart the clock without charging anything (before a phase timed outside ``step``)."""
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.current[phase] += now - self._last
        self.total[phase] += now - self._last
        self._last = now

    def end_epoch(self) -> None:
        self.epochs += 1

    def format(self, seconds: dict[str, float], title: str) -> str:
        """One line: total seconds, then each phase's seconds and share."""
        whole = sum(seconds.values()) or 1.0
        parts = "  ".join(f"{p} {seconds[p]:.2f}s ({100 * seconds[p] / whole:.0f}%)" for p in PHASES)
        return f"{title}: {sum(seconds.values()):.2f}s  {parts}"
