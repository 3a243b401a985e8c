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

Pure Python over row dicts (no Ray, no torch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["FAILED_STATUSES", "Ranked", "is_missing", "rank_phase", "rank_rows"]

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


def rank_phase(epoch_rows: Iterable[Mapping[str, Any]], trial_rows: Iterable[Mapping[str, Any]],
               sweep: str, phase: str, metric: str, mode: str) -> Ranked:
    """The configs of one sweep's ``phase`` ranked best first, failed runs left out (all three steps)."""
    failed = {r["trial_id"] for r in trial_rows
              if r.get("sweep") == sweep and r.get("status") in FAILED_STATUSES}
    rows = [r for r in epoch_rows
            if r.get("sweep") == sweep and r.get("phase") == phase and r.get("trial_id") not in failed]
    return rank_rows(rows, metric, mode)
