"""Kaplan–Meier estimates for right-censored epochs (convergence, stabilisation), vectorised by group.

Each run contributes a time t (the epoch of the event, or its last epoch when the event never
happened) and an event flag δ (1 = event observed, 0 = censored at t). Within a group, at each
distinct time t_i with d_i events and n_i runs still at risk (runs with t ≥ t_i; a run censored at
t_i is still at risk at t_i), the survival function is

    S(t) = Π_{t_i ≤ t} (1 − d_i / n_i).

The Kaplan–Meier median is the smallest t_i with S(t_i) ≤ 0.5; it is undefined (NaN, reported as
"not reached") when S stays above 0.5, e.g. when fewer than half the runs converged before being
censored. All groups are computed together with grouped cumulative products — no loop per group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def kaplan_meier(time: np.ndarray, event: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    """The KM table: one row per (group, distinct time) with ``at_risk``, ``events``, ``survival``."""
    frame = pd.DataFrame(
        {
            "group": np.asarray(groups, dtype=np.int64),
            "time": np.asarray(time, dtype=np.float64),
            "event": np.asarray(event, dtype=bool).astype(np.int64),
        }
    )
    frame = frame[~np.isnan(frame["time"].to_numpy())]
    table = (
        frame.groupby(["group", "time"], sort=True)
        .agg(events=("event", "sum"), total=("event", "size"))
        .reset_index()
    )
    group_size = table.groupby("group")["total"].transform("sum")
    removed_before = table.groupby("group")["total"].cumsum() - table["total"]
    table["at_risk"] = group_size - removed_before
    factor = 1.0 - table["events"] / table["at_risk"]
    table["survival"] = factor.groupby(table["group"]).cumprod()
    return table[["group", "time", "at_risk", "events", "survival"]]


def kaplan_meier_median(time: np.ndarray, event: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """KM median per group code 0..n_groups-1: smallest time with S(t) ≤ 0.5, else NaN."""
    table = kaplan_meier(time, event, groups)
    reached = table[table["survival"] <= 0.5 + 1e-12]  # tolerate rounding of the product
    first = reached.groupby("group")["time"].min()
    out = np.full(n_groups, np.nan)
    out[first.index.to_numpy(dtype=np.int64)] = first.to_numpy(dtype=np.float64)
    return out
