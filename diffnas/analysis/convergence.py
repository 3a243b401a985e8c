"""Convergence criteria: when has a run *settled*? A registry; the report's ``--convergence`` picks one.

Each criterion marks, per epoch row e of a run, whether the run counts as settled at e; the run's
convergence epoch is the first such epoch, and a run that never settles is **censored** at its last
observed epoch (``converged = False``; Kaplan–Meier in the aggregates). NaN never counts as settled.
With H_e = ``entropy_norm`` (softmax(α), temperature-free, ÷ log #ops) and
Ĥ_e = ``entropy_eff`` / log #ops (the entropy of the distribution the sampler actually draws from
at the epoch's temperature, normalised the same way; log #ops = ``entropy`` / ``entropy_norm``):

* ``entropy_drop`` (**default**, threshold δ = 0.5): 1 − Ĥ_e / Ĥ_1 ≥ δ — the sampler's own
  distribution has lost a fraction δ of the entropy it had after the first epoch (δ = 0.5: its
  entropy "half-life"). Scale-free, so one δ serves every space, op count and temperature range;
  it fires where runs do settle (a falling temperature that sharpens what is sampled counts, as it
  changes what the search trains).
* ``entropy_eff`` (threshold τ = 0.3): Ĥ_e < τ — the sampled distribution is concentrated.
* ``entropy`` (threshold τ = 0.3): H_e < τ — the source material's definition on softmax(α). With the usual
  α learning rates softmax(α) barely moves (H stays at 0.9–0.98 on NB201), so under this criterion
  nearly every run is censored.
* ``genotype`` (window W, ``--window``, default 3): the argmax genotype has been unchanged for W
  consecutive epochs (the stabilisation epoch, :func:`diffnas.analysis.summary.unchanged_streak`).

Why the default: users ask "from which epoch on does this sampler commit to an architecture?".
The effective distribution answers it for every sampler (softmax's own α hardly sharpens, so the
seed's ``entropy`` criterion reads "never" for all of them), a relative drop needs no per-space
threshold, and ``genotype`` is already reported as the stabilisation epoch beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Inputs:
    """Per-row arrays of the sorted epochs frame (rows grouped by run, epochs ascending)."""

    entropy_norm: np.ndarray
    entropy_eff_norm: np.ndarray
    starts: np.ndarray  # first row of each run
    run_index: np.ndarray  # per row: index of its run in ``starts``
    genotype_streak: np.ndarray  # per row: consecutive epochs with an unchanged genotype


@dataclass(frozen=True)
class Criterion:
    """A convergence rule: ``settled(inputs, threshold, window)`` → bool per row."""

    name: str
    default_threshold: float | None
    describe: Callable[[float | None, int], str]
    settled: Callable[[Inputs, float | None, int], np.ndarray]


def _below(x: np.ndarray, t: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(x, nan=np.inf) < t


def _drop(inp: Inputs, delta: float | None, window: int) -> np.ndarray:
    first = inp.entropy_eff_norm[inp.starts][inp.run_index]
    with np.errstate(invalid="ignore", divide="ignore"):
        drop = 1.0 - inp.entropy_eff_norm / first
    return np.nan_to_num(drop, nan=-np.inf) >= float(delta)  # type: ignore[arg-type]


CRITERIA: dict[str, Criterion] = {
    "entropy_drop": Criterion(
        "entropy_drop", 0.5,
        lambda t, w: f"first epoch at which the sampler's effective entropy (entropy_eff, normalised by log "
                     f"#ops) has dropped by at least {t:g} of its value after epoch 1 (1 − Ĥ_e/Ĥ_1 ≥ {t:g})",
        _drop),
    "entropy_eff": Criterion(
        "entropy_eff", 0.3,
        lambda t, w: f"first epoch with the sampler's effective entropy entropy_eff / log #ops < {t:g}",
        lambda inp, t, w: _below(inp.entropy_eff_norm, float(t))),  # type: ignore[arg-type]
    "entropy": Criterion(
        "entropy", 0.3,
        lambda t, w: f"first epoch with entropy_norm (softmax(α), temperature-free) < {t:g}",
        lambda inp, t, w: _below(inp.entropy_norm, float(t))),  # type: ignore[arg-type]
    "genotype": Criterion(
        "genotype", None,
        lambda t, w: f"first epoch at which the argmax genotype has been unchanged for {w} consecutive epochs",
        lambda inp, t, w: inp.genotype_streak >= w),
}
DEFAULT_CRITERION = "entropy_drop"


def effective_entropy_norm(epochs: pd.DataFrame) -> np.ndarray:
    """``entropy_eff`` ÷ log #ops, with log #ops = ``entropy`` / ``entropy_norm`` per row (NaN when unknown)."""
    def col(name: str) -> np.ndarray:
        if name not in epochs:
            return np.full(len(epochs), np.nan)
        return pd.to_numeric(epochs[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    eff, ent, norm = col("entropy_eff"), col("entropy"), col("entropy_norm")
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ops = np.where(norm > 0, ent / norm, np.nan)
        return eff / log_ops


def threshold_for(name: str, threshold: float | None) -> float | None:
    """The threshold a criterion uses: the given one, else the criterion's default."""
    crit = CRITERIA[name]
    return crit.default_threshold if threshold is None else threshold
