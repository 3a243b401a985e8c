"""The best cell a run saw: the epoch whose ``metric`` is best, recorded beside the final cell.

Over a run's epoch records r_1..r_T with finite m_t = r_t[metric], the best epoch is
t* = argmax_t m_t (``mode`` max) or argmin_t m_t (min), the earliest on ties; records without a
finite value never count, so a run that diverged keeps the best cell it saw before. The trial
columns are ``best_genotype`` = genotype at t*, ``best_truth_acc`` = its ``truth_acc`` (NaN when
no truth table is known), ``best_epoch`` = t*, ``best_by`` = the metric's name.

Which epochs compete is the rule (``best_cell.rule``):

* ``late`` (default): a run *drifted* when the whole run's best by the metric, t*, beats the best of its
  last half (epochs T - max(1, floor(T/2)) + 1 .. T), t_L, by more than ``tolerance``
  (``best_cell.tolerance``, 5 %) of its magnitude: m_{t*} > m_{t_L} + tolerance * |m_{t*}| (max; mirrored
  for min). A drifted run hands back t*; a settled one hands back, among its last half's cells, the best
  by ``chooser`` (``best_cell.chooser``, a zero-cost proxy of the cell; default synflow, which ranks good
  cells better than the NASWOT of ``proxy_score``: docs/proxies.md), or t_L without a chooser. On the
  NB201 study's 207 runs (``python studies/nb201/tables.py --handback --chooser synflow
  studies/nb201/results/nb201_stud*``) it hands back 92.18 against 89.96 for the final cell, 90.27
  against 84.51 on the 79 runs that drifted a point or more, and 93.83 against 93.71 on the 101 runs
  whose final cell was already >= 93 (without the chooser: 92.24, 90.43, 93.75; the whole-run best:
  92.24, 90.83, 93.52): the chooser is kept for the settled runs, where a hand-back rule risks losing to
  the final cell;
* ``all``: t* over the whole run (the rule before ``late``).

The metric is the config's ``best_cell.metric`` (an epoch column; default ``proxy_score``, the
ranking metric calibrated against NAS-Bench-201 truth, see docs/search.md). When no record has a
finite value of it (the proxy turned off), ``fallback`` (``discrete_val_acc``) picks instead and
``best_by`` says so. A guard that stops a collapsing run therefore still hands the user the best
architecture the search passed through.

Pure Python: no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def best_index(records: Sequence[Mapping[str, Any]], metric: str, mode: str = "max") -> int | None:
    """Index of the best record by ``metric`` (earliest on ties), or None when no value is finite."""
    best: int | None = None
    for i, record in enumerate(records):
        value = record.get(metric)
        if not _finite(value):
            continue
        if best is None:
            best = i
            continue
        current = records[best][metric]
        if (value > current) if mode == "max" else (value < current):
            best = i
    return best


FALLBACK = "discrete_val_acc"


RULES = ("late", "all")


def late_index(records: Sequence[Mapping[str, Any]], metric: str, mode: str = "max", tolerance: float = 0.05,
               chooser: Callable[[str], float] | None = None) -> int | None:
    """The ``late`` rule's epoch index (see the module docstring): the whole run's best when the run drifted,
    else the last half's best by ``chooser(genotype)`` (higher is better; earliest on ties; records without a
    finite metric value never compete) or by the metric; None when no value is finite."""
    best = best_index(records, metric, mode)
    if best is None:
        return None
    start = len(records) - max(1, len(records) // 2)
    late = best_index(records[start:], metric, mode)
    if late is None:
        return best
    late += start
    top, mine = float(records[best][metric]), float(records[late][metric])
    margin = tolerance * abs(top)
    if (top > mine + margin) if mode == "max" else (top < mine - margin):
        return best  # drifted
    if chooser is None:
        return late
    scores = {i: chooser(records[i]["genotype"]) for i in range(start, len(records))
              if _finite(records[i].get(metric)) and records[i].get("genotype")}
    scored = [i for i, v in scores.items() if _finite(v)]
    return max(scored, key=lambda i: (scores[i], -i)) if scored else late


def best_cell(records: Sequence[Mapping[str, Any]], metric: str, mode: str = "max",
              fallback: str | None = FALLBACK, rule: str = "late", tolerance: float = 0.05,
              chooser: Callable[[str], float] | None = None, chooser_name: str = "") -> dict[str, Any]:
    """The trial columns ``best_genotype``, ``best_truth_acc``, ``best_epoch``, ``best_by`` (the metric, and for
    the ``late`` rule ``", late half"`` and ``" by <chooser_name>"`` when ``chooser`` is given)."""
    if rule not in RULES:
        raise ValueError(f"best_cell.rule: unknown {rule!r}; allowed: {', '.join(RULES)}")

    def pick(metric: str, mode: str) -> int | None:
        if rule == "late":
            return late_index(records, metric, mode, tolerance, chooser)
        return best_index(records, metric, mode)

    i = pick(metric, mode)
    if i is None and fallback is not None and fallback != metric:
        metric, mode = fallback, "max"
        i = pick(metric, mode)
    by = metric
    if rule == "late":
        by += ", late half" + (f" by {chooser_name or 'chooser'}" if chooser is not None else "")
    if i is None:
        return {"best_genotype": None, "best_truth_acc": math.nan, "best_epoch": None, "best_by": by}
    r = records[i]
    truth = r.get("truth_acc")
    return {"best_genotype": r.get("genotype"), "best_truth_acc": float(truth) if _finite(truth) else math.nan,
            "best_epoch": int(r.get("epoch", i + 1)), "best_by": by}


def window_mean(op_probs: Sequence[Sequence[float]], n_ops: int, window: int) -> list[list[float]]:
    """The *mean* op distribution of the last ``window`` epochs, one row per edge: with π_t the (edges × ops)
    op probabilities of epoch t of T, π̄[e, o] = (1/K) Σ_{t=T−K+1..T} π_t[e, o], K = min(window, T).
    ``op_probs`` holds each epoch's probabilities flattened edge-major (the ``op_probs`` column)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not op_probs:
        raise ValueError("window_mean_choice needs at least one epoch")
    last = [list(map(float, p)) for p in op_probs[-window:]]
    n = len(last[0])
    if n % n_ops or any(len(p) != n for p in last):
        raise ValueError(f"op_probs rows must all have a multiple of n_ops={n_ops} entries")
    mean = [sum(p[i] for p in last) / len(last) for i in range(n)]
    return [mean[e * n_ops:(e + 1) * n_ops] for e in range(n // n_ops)]


def window_mean_choice(op_probs: Sequence[Sequence[float]], n_ops: int, window: int) -> list[int]:
    """The op per edge of the cell discretised from :func:`window_mean` (α averaging, as SWA averages
    weights): choice_e = argmax_o π̄[e, o], the lowest op index on ties; window 1 is the final epoch's argmax."""
    return [max(range(n_ops), key=lambda o, r=r: (r[o], -o)) for r in window_mean(op_probs, n_ops, window)]
