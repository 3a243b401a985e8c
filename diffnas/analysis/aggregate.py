"""Per-config aggregates across seeds, within one phase (a group = phase × config keys).

For each group and metric m, over the group's **finished** runs (status completed or
early_stopped) with a non-missing value x_1..x_n (ordered by config_id, then seed):

- ``m_n`` = n, ``m_mean`` = x̄ = Σ x_i / n, ``m_std`` = sqrt(Σ (x_i − x̄)² / (n − 1)) (NaN for n < 2),
- ``m_ci_low`` / ``m_ci_high``: the percentile-bootstrap CI of the mean (see
  :mod:`diffnas.analysis.bootstrap`: B = ``n_resamples`` resamples, default 2,000, seeded, equal to
  ``scipy.stats.bootstrap(method="percentile")`` with the same seed).

Runs that ASHA stopped, that diverged, errored or never finished (``incomplete``) are counted in
``n_<status>`` columns and are **not** averaged into these means.

Censored epochs (convergence, stabilisation):
- ``converged_fraction`` = #converged / #finished runs (likewise ``stabilised_fraction``);
- ``km_median_convergence_epoch``: Kaplan–Meier median over **all** runs of the group — a run
  stopped early (ASHA, divergence) before its entropy fell under the threshold is right-censored
  at its last epoch, which is exactly the information it carries (see :mod:`diffnas.analysis.survival`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from diffnas.analysis.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_mean_ci,
)
from diffnas.analysis.summary import CENSORED_METRICS, STOPPED_STATUSES, SUMMARY_METRICS
from diffnas.analysis.survival import kaplan_meier_median
from diffnas.results.schema import STATUSES

STAT_SUFFIXES = ("n", "mean", "std", "ci_low", "ci_high")


def aggregate(
    runs: pd.DataFrame,
    keys: Sequence[str],
    *,
    metrics: Sequence[str] = SUMMARY_METRICS,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """One row per ``group_id`` of ``runs`` (see :func:`diffnas.analysis.groups.assign_groups`)."""
    gid = runs["group_id"].to_numpy(dtype=np.int64)
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    first = runs.drop_duplicates("group_id").set_index("group_id").sort_index()
    out = pd.DataFrame({"group_id": np.arange(n_groups)})
    out["phase"] = first["phase"].to_numpy()
    out["group"] = first["group"].to_numpy()
    for key in keys:
        out[key] = first[key].to_numpy()
    out["n_configs"] = runs.groupby("group_id")["config_id"].nunique().reindex(out["group_id"]).to_numpy()
    out["n_runs"] = np.bincount(gid, minlength=n_groups)
    finished = runs["finished"].to_numpy(dtype=bool)
    out["n_finished"] = np.bincount(gid[finished], minlength=n_groups)
    status = runs["status"].astype(str).to_numpy()
    for name in (*STATUSES, *[s for s in STOPPED_STATUSES if s not in STATUSES]):
        out[f"n_{name}"] = np.bincount(gid[status == name], minlength=n_groups)

    fin_gid = np.where(finished, gid, -1)
    for m in metrics:
        if m not in runs:
            continue
        x = pd.to_numeric(runs[m], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        ok = finished & ~np.isnan(x)
        grouped = pd.Series(x[ok]).groupby(gid[ok])
        out[f"{m}_n"] = np.bincount(gid[ok], minlength=n_groups)
        out[f"{m}_mean"] = grouped.mean().reindex(range(n_groups)).to_numpy()
        out[f"{m}_std"] = grouped.std(ddof=1).reindex(range(n_groups)).to_numpy()
        low, high = bootstrap_mean_ci(
            x, fin_gid, n_groups, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
        out[f"{m}_ci_low"], out[f"{m}_ci_high"] = low, high

    for metric, flag in CENSORED_METRICS.items():
        if metric not in runs:
            continue
        event = runs[flag].to_numpy(dtype=bool)
        base = flag + "_fraction"
        with np.errstate(invalid="ignore", divide="ignore"):
            out[base] = np.bincount(gid[finished & event], minlength=n_groups) / out["n_finished"].to_numpy()
        out[f"km_median_{metric}"] = kaplan_meier_median(
            runs[metric].to_numpy(dtype=np.float64), event, gid, n_groups
        )
    if "collapsed" in runs:
        with np.errstate(invalid="ignore", divide="ignore"):
            out["collapsed_fraction"] = (
                np.bincount(gid[finished & runs["collapsed"].to_numpy(dtype=bool)], minlength=n_groups)
                / out["n_finished"].to_numpy()
            )
    return out
