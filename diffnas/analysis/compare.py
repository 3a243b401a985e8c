"""Comparison of every config (group) against the baseline config, within one phase, and ranking.

For metric m, a config's finished runs x_1..x_n and the baseline's y_1..y_k:

- difference d = x̄ − ȳ with a percentile-bootstrap CI (independent resampling of both samples,
  B = ``n_resamples``, seeded; equals ``scipy.stats.bootstrap((x, y), mean diff,
  method="percentile")`` — see :mod:`diffnas.analysis.bootstrap`);
- **Welch's t test** (unequal variances, two-sided):
  t = d / sqrt(s_x²/n + s_y²/k), ν = (s_x²/n + s_y²/k)² / ((s_x²/n)²/(n−1) + (s_y²/k)²/(k−1)),
  p = 2·(1 − F_t(|t|; ν)), computed by ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``
  (= ``scipy.stats.ttest_ind(x, y, equal_var=False)``; two constant samples give t = ±∞, p = 0);
- **Holm correction** across the configs compared on the same metric: with the m_c p-values
  sorted p_(1) ≤ … ≤ p_(m_c), p̃_(i) = max_{j ≤ i} min(1, (m_c − j + 1)·p_(j));
  ``significant`` = p̃ < α (0.05).

Convergence epoch (censored) is compared with the **log-rank test** (``scipy.stats.logrank``) on
all runs of both groups; its "difference" is the difference of Kaplan–Meier medians (no CI), and
its p-values are Holm-corrected like the others.

Rank table: configs ordered by the mean of the rank metric (descending for mode ``max``), ties
share the lowest rank.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from diffnas.analysis.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_diff_ci,
)
from diffnas.analysis.summary import HEADLINE_METRICS

ALPHA = 0.05
TEST_NAME = "Welch's t (two-sided), Holm-corrected"
LOGRANK_NAME = "log-rank, Holm-corrected"


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs are left out of the family and stay NaN)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def welch(mean_x: np.ndarray, var_x: np.ndarray, n_x: np.ndarray,
          mean_y: float, var_y: float, n_y: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's t statistic, degrees of freedom and two-sided p-value (vectorised over configs).

    t and p are ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``; ν is the
    Welch–Satterthwaite formula of the module docstring with scipy's convention (ν = 1 where it is
    0/0, i.e. both samples constant), which scipy uses for p but does not return."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind_from_stats(mean_x, np.sqrt(var_x), n_x, mean_y, np.sqrt(var_y), n_y,
                                         equal_var=False)
        a = var_x / n_x
        b = var_y / np.float64(n_y)  # a baseline without a finite value (n_y = 0): NaN, not an error
        df = (a + b) ** 2 / (a ** 2 / (n_x - 1) + b ** 2 / (n_y - 1))
    df = np.where(np.isnan(df) & ~np.isnan(np.asarray(res.statistic, dtype=np.float64)), 1.0, df)
    return np.asarray(res.statistic, dtype=np.float64), df, np.asarray(res.pvalue, dtype=np.float64)


def compare_to_baseline(
    runs: pd.DataFrame,
    baseline_id: int,
    *,
    metrics: Sequence[str] = HEADLINE_METRICS,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """One row per (config, metric) for every group of ``runs`` (one phase) except the baseline."""
    gid = runs["group_id"].to_numpy(dtype=np.int64)
    n_groups = int(gid.max()) + 1
    labels = runs.drop_duplicates("group_id").set_index("group_id")["group"]
    others = np.array(sorted(set(gid.tolist()) - {baseline_id}), dtype=np.int64)
    finished = runs["finished"].to_numpy(dtype=bool)
    frames = []
    for m in metrics:
        if m not in runs:
            continue
        x = pd.to_numeric(runs[m], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        ok = finished & ~np.isnan(x)
        y = x[ok & (gid == baseline_id)]
        grouped = pd.Series(x[ok]).groupby(gid[ok])
        mean = grouped.mean().reindex(range(n_groups)).to_numpy()
        var = grouped.var(ddof=1).reindex(range(n_groups)).to_numpy()
        n = np.bincount(gid[ok], minlength=n_groups).astype(np.float64)
        y_mean = float(np.mean(y)) if y.size else np.nan
        y_var = float(np.var(y, ddof=1)) if y.size > 1 else np.nan
        t, df, p = welch(mean[others], var[others], n[others], y_mean, y_var, y.size)
        low, high = bootstrap_diff_ci(
            x, np.where(ok, gid, -1), n_groups, y,
            n_resamples=n_resamples, confidence=confidence, seed=seed,
        )
        frames.append(pd.DataFrame({
            "group_id": others, "group": labels.reindex(others).to_numpy(), "metric": m,
            "test": TEST_NAME, "n": n[others].astype(np.int64), "n_baseline": y.size,
            "mean": mean[others], "baseline_mean": y_mean, "diff": mean[others] - y_mean,
            "diff_ci_low": low[others], "diff_ci_high": high[others],
            "statistic": t, "df": df, "p_value": p, "p_holm": holm(p),
        }))
    if "convergence_epoch" in runs and others.size:
        frames.append(_logrank(runs, gid, baseline_id, others, labels))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["significant"] = out["p_holm"] < ALPHA
    return out


def _logrank(runs: pd.DataFrame, gid: np.ndarray, baseline_id: int, others: np.ndarray,
             labels: pd.Series) -> pd.DataFrame:
    from diffnas.analysis.survival import kaplan_meier_median

    time = runs["convergence_epoch"].to_numpy(dtype=np.float64)
    event = runs["converged"].to_numpy(dtype=bool)
    medians = kaplan_meier_median(time, event, gid, int(gid.max()) + 1)
    observed = ~np.isnan(time)  # runs without any epoch carry no survival information
    base = (gid == baseline_id) & observed

    def censored(mask: np.ndarray) -> stats.CensoredData:
        return stats.CensoredData(uncensored=time[mask & event], right=time[mask & ~event])

    y = censored(base)
    stat = np.full(others.size, np.nan)
    p = np.full(others.size, np.nan)
    for i, g in enumerate(others):  # one scipy call per compared config (a handful in a confirm phase)
        mask = (gid == g) & observed
        if mask.sum() < 1 or base.sum() < 1 or not (event[mask | base]).any():
            continue
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # degenerate (no variance): p is NaN
            res = stats.logrank(censored(mask), y)
        stat[i], p[i] = res.statistic, res.pvalue
    return pd.DataFrame({
        "group_id": others, "group": labels.reindex(others).to_numpy(), "metric": "convergence_epoch",
        "test": LOGRANK_NAME, "n": np.bincount(gid[observed], minlength=medians.size)[others],
        "n_baseline": int(base.sum()),
        "mean": medians[others], "baseline_mean": medians[baseline_id],
        "diff": medians[others] - medians[baseline_id], "diff_ci_low": np.nan, "diff_ci_high": np.nan,
        "statistic": stat, "df": np.nan, "p_value": p, "p_holm": holm(p),
    })


def rank_metric(spec_metric: str | None, available: Sequence[str]) -> str:
    """Map a sweep metric (``val_acc``) to a summary column (``final_val_acc``)."""
    if spec_metric:
        for candidate in (spec_metric, f"final_{spec_metric}"):
            if candidate in available:
                return candidate
    return "final_val_acc"


def rank_table(aggregate: pd.DataFrame, metric: str, mode: str = "max",
               comparison: pd.DataFrame | None = None, baseline_id: int | None = None) -> pd.DataFrame:
    """Configs of one phase ranked by ``<metric>_mean`` (``mode`` max: higher is better)."""
    table = aggregate.copy()
    key = f"{metric}_mean"
    table["rank"] = table[key].rank(method="min", ascending=(mode == "min"), na_option="bottom").astype(np.int64)
    cols = ["rank", "group_id", "group", "phase", "n_runs", "n_finished", key, f"{metric}_ci_low", f"{metric}_ci_high"]
    for m in (*HEADLINE_METRICS, "final_truth_acc", "final_proxy_score"):  # truth and proxy when recorded
        if m != metric and f"{m}_mean" in table and f"{m}_mean" not in cols:
            cols.append(f"{m}_mean")
    cols += [c for c in ("converged_fraction", "km_median_convergence_epoch", "km_median_stabilisation_epoch")
             if c in table]
    table = table[cols]
    table.insert(3, "baseline", table["group_id"] == baseline_id if baseline_id is not None else False)
    if comparison is not None and len(comparison):
        sub = comparison[comparison["metric"] == metric].set_index("group_id")
        table["diff_vs_baseline"] = sub["diff"].reindex(table["group_id"]).to_numpy()
        table["p_holm"] = sub["p_holm"].reindex(table["group_id"]).to_numpy()
    return table.sort_values(["rank", "group"], kind="stable").reset_index(drop=True)
