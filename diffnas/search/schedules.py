"""Temperature schedules: T as a function of progress p = i / (N − 1), i = 0 … N − 1.

N counts epochs (``per: epoch``) or optimisation steps (``per: step``). Every schedule gives
T = t0 at i = 0 and T = t_min exactly at i = N − 1:

* ``constant``:     T = t0
* ``linear``:       T = t0 + (t_min − t0)·p
* ``exponential``:  T = t0·(t_min / t0)^p                       (geometric)
* ``cosine``:       T = t_min + (t0 − t_min)·(1 + cos(πp)) / 2
* ``step``:         K levels, level k = min(⌊pK⌋, K − 1), T = t0·(t_min / t0)^(k / (K − 1))

(The compounding rule T ← T·(1 − e/E) reaches the floor early and is deliberately not used.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from diffnas.registry import Registry

ScheduleFn = Callable[[float, float, float, int], float]
SCHEDULES: Registry[ScheduleFn] = Registry("temperature.schedule")


@SCHEDULES.register("constant")
def constant(p: float, t0: float, t_min: float, n_steps: int) -> float:
    return t0


@SCHEDULES.register("linear")
def linear(p: float, t0: float, t_min: float, n_steps: int) -> float:
    return t0 + (t_min - t0) * p


@SCHEDULES.register("exponential")
def exponential(p: float, t0: float, t_min: float, n_steps: int) -> float:
    return t0 * (t_min / t0) ** p


@SCHEDULES.register("cosine")
def cosine(p: float, t0: float, t_min: float, n_steps: int) -> float:
    return t_min + (t0 - t_min) * (1.0 + math.cos(math.pi * p)) / 2.0


@SCHEDULES.register("step")
def step(p: float, t0: float, t_min: float, n_steps: int) -> float:
    level = min(int(math.floor(p * n_steps)), n_steps - 1)
    return t0 * (t_min / t0) ** (level / (n_steps - 1))


SCHEDULES.check_builtins()  # every name diffnas.names lists is implemented

@dataclass(frozen=True)
class TemperatureSchedule:
    """A named schedule over ``total`` points (epochs or steps)."""

    name: str
    t0: float
    t_min: float
    total: int
    n_steps: int = 4

    def __post_init__(self) -> None:
        SCHEDULES.get(self.name)  # raises ValueError naming the allowed schedules
        for label, value in (("t0", self.t0), ("t_min", self.t_min)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"temperature.{label}: must be a finite number > 0, got {value!r}")
        if self.name != "constant" and self.t_min > self.t0:  # constant ignores t_min
            raise ValueError(f"temperature.t_min: must be <= t0 ({self.t0}), got {self.t_min}")
        if self.total < 1:
            raise ValueError(f"total: must be >= 1, got {self.total}")
        if self.n_steps < 2:
            raise ValueError(f"temperature.n_steps: must be >= 2, got {self.n_steps}")

    def progress(self, index: int) -> float:
        """p = i / (N − 1), clamped to [0, 1]; p = 0 when N = 1."""
        if self.total == 1:
            return 0.0
        return min(max(index / (self.total - 1), 0.0), 1.0)

    def value(self, index: int) -> float:
        """Temperature at point ``index`` (0-based)."""
        p = self.progress(index)
        if p >= 1.0:
            return self.t_min if self.name != "constant" else self.t0
        return SCHEDULES.get(self.name)(p, self.t0, self.t_min, self.n_steps)
