"""Ranking a sweep's configs: the one rule that ``sweep status`` and ``sweep confirm`` share.

Given a phase's epoch rows and trial rows:

1. runs whose trial row says ``diverged`` or ``error`` (:data:`FAILED_STATUSES`) are left out, so a
   run that died at epoch 1 cannot pull the rung down to epoch 1 for every config (a config all of
   whose runs failed is not ranked);
2. the rung is the highest epoch that every remaining config reached (max epoch over its runs,
   minimum over configs);
3. a config's score is the mean of the metric over its runs at the rung (NaN and null ignored);
   configs are ordered best first by ``mode`` (``max`` or ``min``), configs without a value last,
   ties by config_id.

Per-axis selection (:func:`select_configs` with ``per``, confirm's ``confirm.per``): the rows are
split by the value of one config axis (``config/<per>``) and steps 2–3 run within each part, so
each value has its own rung (the highest epoch every config *of that value* reached); the ``top_k``
best of every value are kept, values ordered by their best config's score.

Pure Python over row dicts (no Ray, no torch); :func:`sweep_rows` reads them from a results folder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diffnas.results.schema import EPOCHS_DIR, TRIALS_DIR, config_column
from diffnas.sweeps.results_folder import read_rows

__all__ = ["FAILED_STATUSES", "Choice", "Ranked", "confirm_plan", "is_missing", "phase_rows", "rank_phase",
           "rank_rows", "select_configs", "sweep_rows"]

FAILED_STATUSES = frozenset({"diverged", "error"})
"""Trial statuses whose runs are left out of a ranking."""

Ranked = tuple[int, list[tuple[str, float, int]]]
"""(rung epoch, [(config_id, mean metric at the rung, number of runs with a value)]), best first."""


def is_missing(value: Any) -> bool:
    """None or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def rank_rows(rows: Sequence[Mapping[str, Any]], metric: str, mode: str) -> Ranked:
    """Configs of epoch ``rows`` ranked best first (steps 2 and 3 of the module docstring)."""
    if not rows:
        return 0, []
    reach: dict[str, int] = {}
    for r in rows:
        reach[r["config_id"]] = max(reach.get(r["config_id"], 0), int(r["epoch"]))
    rung = min(reach.values())
    values: dict[str, list[float]] = {cid: [] for cid in reach}
    for r in rows:
        if int(r["epoch"]) == rung and not is_missing(r.get(metric)):
            values[r["config_id"]].append(float(r[metric]))
    sign = -1.0 if mode == "max" else 1.0
    scored = [(cid, (sum(v) / len(v)) if v else math.nan, len(v)) for cid, v in values.items()]
    scored.sort(key=lambda t: (math.isnan(t[1]), sign * t[1] if not math.isnan(t[1]) else 0.0, t[0]))
    return rung, scored


def phase_rows(epoch_rows: Iterable[Mapping[str, Any]], trial_rows: Iterable[Mapping[str, Any]],
               sweep: str, phase: str) -> list[Mapping[str, Any]]:
    """The epoch rows of one sweep's ``phase`` without the failed runs (step 1)."""
    failed = {r["trial_id"] for r in trial_rows
              if r.get("sweep") == sweep and r.get("status") in FAILED_STATUSES}
    return [r for r in epoch_rows
            if r.get("sweep") == sweep and r.get("phase") == phase and r.get("trial_id") not in failed]


def rank_phase(epoch_rows: Iterable[Mapping[str, Any]], trial_rows: Iterable[Mapping[str, Any]],
               sweep: str, phase: str, metric: str, mode: str) -> Ranked:
    """The configs of one sweep's ``phase`` ranked best first, failed runs left out (all three steps)."""
    return rank_rows(phase_rows(epoch_rows, trial_rows, sweep, phase), metric, mode)


def sweep_rows(root: str, sweep: str, metric: str,
               extra: Sequence[str] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(epoch rows, trial rows) of ``sweep`` in the results folder ``root`` (the argument order of
    :func:`phase_rows` and :func:`rank_phase`): the columns a ranking reads, the seed, and ``extra`` —
    the one read behind ``sweep status`` and ``sweep confirm``."""
    keep = ("sweep", "phase", "trial_id", "config_id", "seed")
    epochs = read_rows(root, EPOCHS_DIR, (*keep, "epoch", metric, *extra))
    trials = read_rows(root, TRIALS_DIR, (*keep, "status"))
    return [r for r in epochs if r.get("sweep") == sweep], [r for r in trials if r.get("sweep") == sweep]


@dataclass(frozen=True)
class Choice:
    """One config that confirm re-runs: its score at ``rung`` (mean of ``n`` runs) and, with a
    ``per`` axis, the axis value it represents (None otherwise)."""

    config_id: str
    rung: int
    score: float
    n: int
    value: Any = None


def _order_key(score: float, mode: str) -> tuple[bool, float]:
    sign = -1.0 if mode == "max" else 1.0
    return math.isnan(score), sign * score if not math.isnan(score) else 0.0


def select_configs(rows: Sequence[Mapping[str, Any]], metric: str, mode: str, top_k: int,
                   per: str | None = None) -> list[Choice]:
    """The configs confirm re-runs, from (failed-free) epoch ``rows``.

    Without ``per``: the ``top_k`` best of :func:`rank_rows` (one rung for all configs). With
    ``per`` (a config key; rows carry ``config/<per>``): the ``top_k`` best of every value of that
    axis, each value ranked at its own rung (module docstring), values best first (NaN last)."""
    if per is None:
        rung, ranked = rank_rows(rows, metric, mode)
        return [Choice(cid, rung, score, n) for cid, score, n in ranked[:top_k]]
    col = config_column(per)
    parts: dict[str, tuple[Any, list[Mapping[str, Any]]]] = {}
    for r in rows:
        value = r.get(col)
        parts.setdefault(repr(value), (value, []))[1].append(r)
    chosen: list[list[Choice]] = []
    for value, part in parts.values():
        rung, ranked = rank_rows(part, metric, mode)
        chosen.append([Choice(cid, rung, score, n, value) for cid, score, n in ranked[:top_k]])
    chosen.sort(key=lambda c: (*_order_key(c[0].score, mode), repr(c[0].value)))
    return [c for group in chosen for c in group]


def confirm_plan(picks: Sequence[Choice], baseline_config_id: str) -> list[str]:
    """The config ids confirm re-runs: the picks (deduplicated, in order), then the baseline unless
    it is already among them."""
    ids = list(dict.fromkeys(c.config_id for c in picks))
    return ids if baseline_config_id in ids else [*ids, baseline_config_id]
