"""Comparison with the baseline: Welch's t and log-rank equal scipy, Holm by hand, scipy-equal diff CIs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from diffnas.analysis.compare import compare_to_baseline, holm, rank_table


def test_holm_by_hand() -> None:
    # sorted p: 0.01, 0.02, 0.04 (m = 3): 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04
    np.testing.assert_allclose(holm(np.array([0.04, 0.01, 0.02])), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(holm(np.array([0.5, np.nan, 0.01])), [0.5, np.nan, 0.02])
    assert holm(np.array([0.6, 0.9])).tolist() == [1.0, 1.0]


def _runs() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    frames = []
    for gid, (mu, n) in enumerate([(0.80, 5), (0.84, 5), (0.79, 4)]):
        frames.append(pd.DataFrame({
            "group_id": gid, "group": f"g{gid}", "phase": "confirm", "finished": True,
            "final_val_acc": rng.normal(mu, 0.01, size=n),
            "convergence_epoch": rng.integers(3, 10, size=n).astype(float),
            "converged": rng.random(n) < 0.7,
        }))
    runs = pd.concat(frames, ignore_index=True)
    runs.loc[len(runs)] = {"group_id": 1, "group": "g1", "phase": "confirm", "finished": False,
                           "final_val_acc": 0.1, "convergence_epoch": 2.0, "converged": False}
    return runs


def test_welch_diff_ci_and_logrank_equal_scipy() -> None:
    runs = _runs()
    cmp = compare_to_baseline(runs, 0, metrics=("final_val_acc",), n_resamples=2000, seed=9)
    acc = cmp[cmp["metric"] == "final_val_acc"].set_index("group_id")
    base = runs.loc[runs["group_id"] == 0, "final_val_acc"].to_numpy()
    p = {}
    for gid in (1, 2):
        x = runs.loc[(runs["group_id"] == gid) & runs["finished"], "final_val_acc"].to_numpy()
        ref = stats.ttest_ind(x, base, equal_var=False)
        assert acc.loc[gid, "statistic"] == pytest.approx(ref.statistic, rel=1e-10)
        assert acc.loc[gid, "p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
        assert acc.loc[gid, "diff"] == pytest.approx(x.mean() - base.mean())
        ci = stats.bootstrap((x, base), lambda a, b, axis: a.mean(axis) - b.mean(axis), method="percentile",
                             n_resamples=2000, rng=9).confidence_interval
        assert (acc.loc[gid, "diff_ci_low"], acc.loc[gid, "diff_ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
        p[gid] = ref.pvalue
    assert acc.loc[1, "n"] == 5  # the unfinished run is not in the comparison
    np.testing.assert_allclose(acc.loc[[1, 2], "p_holm"], holm(np.array([p[1], p[2]])))
    conv = cmp[cmp["metric"] == "convergence_epoch"].set_index("group_id")
    t, e, g = runs["convergence_epoch"].to_numpy(), runs["converged"].to_numpy(), runs["group_id"].to_numpy()

    def cd(mask):
        return stats.CensoredData(uncensored=t[mask & e], right=t[mask & ~e])

    ref = stats.logrank(cd(g == 1), cd(g == 0))
    assert conv.loc[1, "p_value"] == pytest.approx(ref.pvalue)


def test_rank_table_orders_by_mode() -> None:
    agg = pd.DataFrame({"group_id": [0, 1, 2], "group": ["a", "b", "c"], "phase": "confirm", "n_runs": 3,
                        "n_finished": 3, "final_val_acc_mean": [0.8, 0.9, 0.85],
                        "final_val_acc_ci_low": 0.0, "final_val_acc_ci_high": 1.0})
    assert rank_table(agg, "final_val_acc", "max", baseline_id=0)["group"].tolist() == ["b", "c", "a"]
    table = rank_table(agg, "final_val_acc", "min", baseline_id=0)
    assert table["group"].tolist() == ["a", "c", "b"] and table["baseline"].tolist() == [True, False, False]


def test_welch_on_constant_samples_is_scipys() -> None:
    """Two constant samples with different means: scipy says t = inf, p = 0 (df 1); a hand-written
    formula gave NaN there."""
    rows = [{"group_id": g, "group": f"g{g}", "phase": "confirm", "finished": True, "final_val_acc": v}
            for g, v in ((0, 0.9), (0, 0.9), (0, 0.9), (1, 1.0), (1, 1.0), (1, 1.0))]
    cmp = compare_to_baseline(pd.DataFrame(rows), 0, metrics=("final_val_acc",), n_resamples=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's "nearly identical data" note
        ref = stats.ttest_ind([1.0] * 3, [0.9] * 3, equal_var=False)
    row = cmp.iloc[0]
    assert row["p_value"] == ref.pvalue == 0.0
    assert row["statistic"] == ref.statistic and row["df"] == ref.df


def test_baseline_without_a_finite_value_gives_nan_not_an_error() -> None:
    """A metric the baseline never measured (all NaN, e.g. a truth column its runs lack): the row is
    NaN (n_baseline 0); dividing by the baseline's n = 0 used to raise ZeroDivisionError."""
    rows = [{"group_id": g, "group": f"g{g}", "phase": "confirm", "finished": True, "final_truth_acc": v}
            for g, v in ((0, np.nan), (0, np.nan), (1, 93.0), (1, 94.0))]
    cmp = compare_to_baseline(pd.DataFrame(rows), 0, metrics=("final_truth_acc",), n_resamples=100)
    row = cmp.iloc[0]
    assert row["n_baseline"] == 0 and row["n"] == 2
    assert np.isnan(row["p_value"]) and np.isnan(row["diff"])
