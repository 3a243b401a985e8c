"""Clipping of α's gradient (total L2 norm over all α tensors).

* ``none``:      g unchanged.
* ``fixed``:     g ← g · min(1, c / ||g||).
* ``adaptive``:  the threshold follows the recent history of gradient norms:
  τ_t = k · median(||g_{t−W}||, …, ||g_{t−1}||) over the last W *unclipped* norms; then
  g ← g · min(1, τ_t / ||g_t||). With an empty history (the first step) nothing is clipped.
  ||g_t|| (before clipping) is appended to the history after each step.

A clipper has state (the history), saved with the run for bit-for-bit resume.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from diffnas.registry import Registry


@dataclass
class ClipResult:
    norm: float  # total norm before clipping
    clipped: bool
    threshold: float | None


def total_norm(grads: Iterable[torch.Tensor | None]) -> float:
    """sqrt(Σ ||g_i||²) over the non-None gradients."""
    squares = [g.detach().pow(2).sum() for g in grads if g is not None]
    if not squares:
        return 0.0
    return float(torch.stack(squares).sum().sqrt())


def _scale_(params: list[torch.Tensor], factor: float) -> None:
    for p in params:
        if p.grad is not None:
            p.grad.mul_(factor)


class Clipper:
    """Base: no clipping."""

    def __init__(self, value: float = 1.0, window: int = 20) -> None:
        if not value > 0:
            raise ValueError(f"clip.value: must be > 0, got {value!r}")
        if window < 1:
            raise ValueError(f"clip.window: must be >= 1, got {window!r}")
        self.value = float(value)
        self.window = int(window)

    def threshold(self) -> float | None:
        return None

    def clip_(self, params: Iterable[torch.Tensor]) -> ClipResult:
        params = list(params)
        norm = total_norm(p.grad for p in params)
        tau = self.threshold()
        clipped = tau is not None and norm > tau
        if clipped:
            _scale_(params, tau / norm)
        self.observe(norm)
        return ClipResult(norm=norm, clipped=bool(clipped), threshold=tau)

    def observe(self, norm: float) -> None:
        """Record a raw norm (used by history-based rules)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


CLIPPERS: Registry[type[Clipper]] = Registry("clip.mode")


@CLIPPERS.register("none")
class NoClip(Clipper):
    """g unchanged."""


@CLIPPERS.register("fixed")
class FixedClip(Clipper):
    """||g|| ≤ c."""

    def threshold(self) -> float | None:
        return self.value


@CLIPPERS.register("adaptive")
class AdaptiveClip(Clipper):
    """τ_t = k · median of the last W raw gradient norms (k = ``value``)."""

    def __init__(self, value: float = 2.0, window: int = 20) -> None:
        super().__init__(value, window)
        self.history: deque[float] = deque(maxlen=self.window)

    def threshold(self) -> float | None:
        if not self.history:
            return None
        ordered = sorted(self.history)
        n = len(ordered)
        median = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
        return self.value * median

    def observe(self, norm: float) -> None:
        self.history.append(float(norm))

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque(state.get("history", []), maxlen=self.window)


CLIPPERS.check_builtins()  # every name diffnas.names lists is implemented

def build_clipper(mode: str, value: float = 1.0, window: int = 20) -> Clipper:
    return CLIPPERS.get(mode)(value=value, window=window)
