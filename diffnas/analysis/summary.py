"""Per-run summary: one row per search run, derived from its epoch curve with group-wise numpy.

Epoch rows are sorted by run then epoch; with ``s_r`` the first and ``l_r`` the last row of run r,
every quantity is a ``ufunc.reduceat`` over the contiguous block or a value at ``l_r``
(no Python loop per run). For run r with epochs e = 1..E_r (its observed epochs, in order):

- ``convergence_epoch``: the first epoch e at which the run has settled under ``criterion`` (a
  registry, :mod:`diffnas.analysis.convergence`; default ``entropy_drop``: the sampler's effective entropy
  has lost half of its value after epoch 1; ``entropy``: ``entropy_norm_e < τ``, the source material's;
  ``entropy_eff``; ``genotype``). NaN never counts. If there is none the run is **censored**:
  ``converged = False`` and ``convergence_epoch = E_r`` (its last observed epoch) — never ``inf``.
  ``convergence_criterion`` names the rule and its threshold.
- ``stabilisation_epoch``: with g_e the argmax genotype at epoch e and u_e = [g_e = g_{e−1}]
  (u = 0 at the first epoch and whenever either genotype is missing), the run of unchanged epochs
  k_e = u_e·(k_{e−1} + 1); the stabilisation epoch is the first e with k_e ≥ W, i.e. the first
  epoch at which the genotype has been unchanged for W consecutive epochs (g_{e−W} = … = g_e).
  Censored like the convergence epoch (``stabilised = False``, value E_r). When a run has no
  genotypes at all, u_e = [stability_e = 1] (every edge's argmax unchanged) is used instead.
- ``final_*`` (val_acc, val_loss, discrete_val_acc, skip_fraction, entropy_norm, truth_acc,
  proxy_score — the zero-cost proxy of the final cell, the calibrated ranking metric): the
  value at the last observed epoch; ``best_val_acc`` = max_e val_acc_e (NaN-skipping).
- ``final_gap`` = gap at the last epoch (val_acc − discrete_val_acc where the gap column is null).
- ``mean_stability`` = mean of the non-NaN stability values (epoch 1 has none).
- ``collapsed`` = ``final_skip_fraction ≥ collapse_threshold`` (share of edges whose argmax is
  skip_connect; unknown → False).
- ``status`` from the trials table; a run with no trials row is ``incomplete`` (still running, or
  killed before it finished); a trials row without any epoch rows is kept (status counted, no
  metrics, ``epochs_run`` 0). ``finished`` = status in (completed, early_stopped).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffnas.analysis.convergence import (
    CRITERIA,
    DEFAULT_CRITERION,
    Inputs,
    effective_entropy_norm,
    threshold_for,
)
from diffnas.analysis.load import RUN_KEYS, Results, config_from_epochs
from diffnas.results.schema import CONFIG_PREFIX

DEFAULT_THRESHOLD = 0.3  # the source material's entropy_norm threshold (criterion "entropy")
DEFAULT_WINDOW = 3
DEFAULT_COLLAPSE = 0.5
FINISHED_STATUSES = ("completed", "early_stopped")
STOPPED_STATUSES = ("asha_stopped", "diverged", "error", "incomplete")
HEADLINE_METRICS = ("final_val_acc", "final_discrete_val_acc", "final_gap", "mean_stability")
SUMMARY_METRICS = (
    "final_val_acc", "best_val_acc", "final_val_loss", "final_discrete_val_acc", "final_gap", "mean_stability",
    "final_skip_fraction", "final_entropy_norm", "final_truth_acc", "final_proxy_score",
)
CENSORED_METRICS = {"convergence_epoch": "converged", "stabilisation_epoch": "stabilised"}
_TRIAL_EXTRA = ("status", "stop_reason", "space", "ops", "edges", "final_truth_acc")


def _float(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _first_event(flag: np.ndarray, epoch: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.minimum.reduceat(np.where(flag, epoch, np.inf), starts)


def unchanged_streak(same: np.ndarray) -> np.ndarray:
    """k_e = u_e·(k_{e−1} + 1): consecutive True values ending at each row (vectorised)."""
    total = np.cumsum(same, dtype=np.int64)
    reset = np.maximum.accumulate(np.where(~same, total, 0))
    return total - reset


def _genotype_unchanged(epochs: pd.DataFrame, run: np.ndarray) -> np.ndarray:
    n = len(epochs)
    same = np.zeros(n, dtype=bool)
    if n < 2:
        return same
    cont = run[1:] == run[:-1]
    codes = pd.factorize(epochs["genotype"])[0] if "genotype" in epochs else np.full(n, -1)
    has_geno = codes >= 0
    same[1:] = cont & (codes[1:] == codes[:-1]) & has_geno[1:]
    # runs without any genotype: fall back on the stability column (1 = every argmax unchanged)
    any_geno = np.maximum.reduceat(has_geno.astype(np.int8), np.flatnonzero(np.r_[True, ~cont]))
    no_geno_rows = np.repeat(any_geno == 0, np.diff(np.r_[np.flatnonzero(np.r_[True, ~cont]), n]))
    if no_geno_rows.any():
        stab = _float(epochs, "stability")
        same[1:] = np.where(no_geno_rows[1:], cont & (stab[1:] >= 1.0 - 1e-12), same[1:])
    return same


def summarise(
    results: Results,
    *,
    threshold: float | None = None,
    window: int = DEFAULT_WINDOW,
    collapse_threshold: float = DEFAULT_COLLAPSE,
    criterion: str = DEFAULT_CRITERION,
) -> pd.DataFrame:
    """One row per run: identity, ``config/*``, status and the derived metrics described above.

    ``threshold`` is the criterion's (None: its default, :data:`diffnas.analysis.convergence.CRITERIA`)."""
    e = results.epochs
    run = e["run"].to_numpy(dtype=np.int64)
    n = len(e)
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    ends = np.r_[starts[1:], n] - 1
    epoch = e["epoch"].to_numpy(dtype=np.float64)
    last_epoch = epoch[ends]

    ent = _float(e, "entropy_norm")
    same = _genotype_unchanged(e, run)
    streak = unchanged_streak(same)
    stab_first = _first_event(streak >= window, epoch, starts)
    crit = CRITERIA[criterion]
    tau = threshold_for(criterion, threshold)
    run_index = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    inputs = Inputs(entropy_norm=ent, entropy_eff_norm=effective_entropy_norm(e), starts=starts,
                    run_index=run_index, genotype_streak=streak)
    conv = _first_event(crit.settled(inputs, tau, window), epoch, starts)

    val = _float(e, "val_acc")
    disc = _float(e, "discrete_val_acc")
    gap = _float(e, "gap")
    gap = np.where(np.isnan(gap), val - disc, gap)
    stability = _float(e, "stability")
    stab_ok = ~np.isnan(stability)
    stab_sum = np.add.reduceat(np.where(stab_ok, stability, 0.0), starts)
    stab_cnt = np.add.reduceat(stab_ok.astype(np.int64), starts)
    skip = _float(e, "skip_fraction")[ends]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_stab = np.where(stab_cnt > 0, stab_sum / np.maximum(stab_cnt, 1), np.nan)

    ident = e.iloc[starts][["sweep", "trial_id", "config_id", "seed", "phase"]].reset_index(drop=True)
    runs = pd.DataFrame(
        {
            "sweep": ident["sweep"].astype(str).to_numpy(),
            "trial_id": ident["trial_id"].astype(str).to_numpy(),
            "config_id": ident["config_id"].astype(str).to_numpy(),
            "seed": pd.to_numeric(ident["seed"]).to_numpy(),
            "phase": ident["phase"].astype(str).to_numpy(),
            "run": run[starts],
            "epochs_run": last_epoch.astype(np.int64),
            "converged": np.isfinite(conv),
            "convergence_epoch": np.where(np.isfinite(conv), conv, last_epoch),
            "convergence_criterion": crit.name if tau is None else f"{crit.name} {tau:g}",
            "stabilised": np.isfinite(stab_first),
            "stabilisation_epoch": np.where(np.isfinite(stab_first), stab_first, last_epoch),
            "final_val_acc": val[ends],
            "best_val_acc": np.fmax.reduceat(val, starts),
            "final_val_loss": _float(e, "val_loss")[ends],
            "final_discrete_val_acc": disc[ends],
            "final_gap": gap[ends],
            "mean_stability": mean_stab,
            "final_skip_fraction": skip,
            "collapsed": np.nan_to_num(skip, nan=-np.inf) >= collapse_threshold,
            "final_entropy_norm": ent[ends],
            "final_truth_acc": _float(e, "truth_acc")[ends],
            "final_proxy_score": _float(e, "proxy_score")[ends],
            "final_genotype": e["genotype"].iloc[ends].astype(object).to_numpy()
            if "genotype" in e else np.full(len(ends), None, dtype=object),
        }
    )
    return _attach_trials(runs, results)


def _runs_without_epochs(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Trials rows with no epoch rows at all (e.g. a run that errored in its first epoch): kept so that
    their status is counted, with no metrics, ``epochs_run`` 0 and ``run`` −1."""
    ident = ["config_id", "seed", "phase"]
    if trials.empty or any(c not in trials for c in ident):
        return runs
    known = pd.MultiIndex.from_frame(runs[list(RUN_KEYS)])
    mask = ~pd.MultiIndex.from_frame(trials[list(RUN_KEYS)]).isin(known)
    mask &= trials[ident].notna().all(axis=1).to_numpy()
    if not mask.any():
        return runs
    extra = trials.loc[mask, [*RUN_KEYS, *ident]].copy()
    for col in ident:
        extra[col] = extra[col].astype(object)
    extra["config_id"] = extra["config_id"].astype(str)
    extra["phase"] = extra["phase"].astype(str)
    extra["run"] = -1
    extra["epochs_run"] = 0
    for flag in ("converged", "stabilised", "collapsed"):
        extra[flag] = False
    extra["final_genotype"] = None
    out = pd.concat([runs, extra], ignore_index=True)
    for col in runs.columns:
        if runs[col].dtype == bool:
            out[col] = out[col].astype(bool)
    return out


def _attach_trials(runs: pd.DataFrame, results: Results) -> pd.DataFrame:
    trials = results.trials.copy()
    if len(trials):
        trials["sweep"] = trials["sweep"].astype(str)
        trials["trial_id"] = trials["trial_id"].astype(str)
        runs = _runs_without_epochs(runs, trials)
    cfg_cols = [c for c in trials.columns if c.startswith(CONFIG_PREFIX)]
    keep = [c for c in (*RUN_KEYS, *cfg_cols, *_TRIAL_EXTRA) if c in trials.columns]
    trials = trials[keep].rename(columns={"final_truth_acc": "_trial_truth"})
    out = runs.merge(trials, on=list(RUN_KEYS), how="left", validate="one_to_one")
    if "status" not in out:
        out["status"] = None
    missing = out["status"].isna().to_numpy()
    out["status"] = out["status"].astype(object).where(~missing, "incomplete")
    if missing.any():
        extra = config_from_epochs(results.folders, out.loc[missing, "trial_id"].tolist())
        if len(extra):
            extra["sweep"] = extra["sweep"].astype(str)
            extra["trial_id"] = extra["trial_id"].astype(str)
            extra_cfg = [c for c in extra.columns if c.startswith(CONFIG_PREFIX)]
            indexed = out.set_index(list(RUN_KEYS))
            fill = extra.set_index(list(RUN_KEYS))[extra_cfg]
            for col in extra_cfg:
                if col not in indexed:
                    indexed[col] = pd.Series(np.nan, index=indexed.index, dtype=object)
                indexed[col] = indexed[col].astype(object)
                common = fill.index.intersection(indexed.index)
                indexed.loc[common, col] = fill.loc[common, col].astype(object).to_numpy()
            out = indexed.reset_index()
    if "_trial_truth" in out:
        truth = pd.to_numeric(out["_trial_truth"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        out["final_truth_acc"] = np.where(np.isnan(out["final_truth_acc"]), truth, out["final_truth_acc"])
        out = out.drop(columns="_trial_truth")
    out["finished"] = out["status"].isin(FINISHED_STATUSES).to_numpy()
    cfg = sorted(c for c in out.columns if c.startswith(CONFIG_PREFIX))
    front = ["sweep", "trial_id", "config_id", "seed", "phase", *cfg, "status", "finished"]
    rest = [c for c in out.columns if c not in front]
    out = out[front + rest]
    return out.sort_values(["phase", "config_id", "seed", "trial_id"], kind="stable").reset_index(drop=True)
